package io.triforce.gateway;

import io.smallrye.reactive.messaging.kafka.KafkaRecord;
import io.triforce.protocol.Commit;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.runtime.SessionWorker;
import io.triforce.protocol.runtime.Transit;
import io.micrometer.core.instrument.MeterRegistry;
import io.smallrye.common.annotation.NonBlocking;
import io.micrometer.core.instrument.Gauge;
import io.vertx.core.Vertx;
import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Emitter;
import org.eclipse.microprofile.reactive.messaging.Incoming;
import org.jboss.logging.Logger;

/**
 * Starts and cancels sessions, and routes the committed log to the request waiting for it. At
 * most {@code triforce.gateway.max-sessions} run at once: a start beyond that is refused (429
 * with Retry-After) rather than queued.
 * <p>
 * It re-announces a session it serves (the start with the tokens committed so far, see
 * {@link SessionEvent}) when a level asks for it (RESYNC, answered at most once per
 * {@link SessionWorker#ASK_INTERVAL}) and when its log has been silent for
 * {@code triforce.gateway.reannounce-after}: a level that lost the session may get no message
 * that would make it ask. Before the first commit the levels are prefilling, which takes seconds
 * on a long prompt, so silence then counts only after half the token timeout. Levels treat a
 * re-announcement idempotently, so an extra one is safe.
 */
@ApplicationScoped
public class SessionHub {

    private static final Logger LOG = Logger.getLogger(SessionHub.class);

    @Inject
    @Channel("sessions")
    Emitter<SessionEvent> sessions;
    @Inject
    MeterRegistry registry;
    @Inject
    Vertx vertx;
    @ConfigProperty(name = "triforce.gateway.max-sessions")
    int maxSessions;
    @ConfigProperty(name = "triforce.gateway.retry-after")
    Duration retryAfter;
    @ConfigProperty(name = "triforce.gateway.reannounce-after")
    Duration reannounceAfter;
    @ConfigProperty(name = "triforce.gateway.token-timeout")
    Duration tokenTimeout;
    /** The committed log's topic as configured: the name its transit is timed under. */
    @ConfigProperty(name = "mp.messaging.incoming.committed.topic")
    String committedTopic;

    private final Map<String, LiveSession> live = new ConcurrentHashMap<>();
    private final AtomicInteger open = new AtomicInteger();
    private Transit transit;
    private long silenceTimer;
    /** Silence that counts before a session's first commit: reannounce-after or half the token timeout, the larger. */
    private Duration prefillSilence;

    @PostConstruct
    void init() {
        transit = new Transit(registry);
        prefillSilence = Collections.max(List.of(reannounceAfter, tokenTimeout.dividedBy(2)));
        Gauge.builder("triforce.sessions.active", this, SessionHub::openSessions).tag("level", "gateway").register(registry);
        silenceTimer = vertx.setPeriodic(Math.max(1, reannounceAfter.toMillis() / 4), id -> reannounceSilent());
    }

    @PreDestroy
    void stop() {
        vertx.cancelTimer(silenceTimer);
    }

    /**
     * @throws ApiException 429 when the gateway already serves its limit of sessions, 503 when the
     *                      start cannot even be queued for Kafka (its buffer is full)
     */
    public void start(SessionEvent start, Consumer<Commit> listener) {
        if (open.incrementAndGet() > maxSessions) {
            open.decrementAndGet();
            throw ApiException.busy(maxSessions, retryAfter);
        }
        live.put(start.sessionId(), new LiveSession(start, listener, System.nanoTime()));
        try {
            send(start);
        } catch (RuntimeException e) {
            close(start.sessionId(), false);
            throw new ApiException(503, "server_error", null, "kafka_unavailable", "the session could not be started: " + e);
        }
    }

    /** Stops listening; returns whether the session was still open (then it is cancelled everywhere). */
    public boolean close(String sessionId, boolean cancel) {
        boolean wasOpen = live.remove(sessionId) != null;
        if (wasOpen) {
            open.decrementAndGet();
            if (cancel) {
                send(SessionEvent.cancel(sessionId));
            }
        }
        return wasOpen;
    }

    public int openSessions() {
        return open.get();
    }

    /** On the consumer's event loop: the request's own context writes the stream (see {@link CompletionExchange}). */
    @Incoming("committed")
    @NonBlocking
    public void onCommit(Commit commit) {
        LiveSession session = live.get(commit.sessionId());
        if (session != null) {
            transit.received(committedTopic, commit.sentAtMicros());
            session.heard(commit, System.nanoTime());
            session.listener().accept(commit);
        }
    }

    /** A level asks for a session it lost: the instance that serves it re-announces it. */
    @Incoming("session-requests")
    @NonBlocking
    public void onSessionEvent(SessionEvent event) {
        LiveSession session = event.kind() == SessionEvent.Kind.RESYNC ? live.get(event.sessionId()) : null;
        if (session != null) {
            session.reannounce(System.nanoTime(), SessionWorker.ASK_INTERVAL.toNanos(), false)
                    .ifPresent(e -> reannounce(e, "a level asked for it"));
        }
    }

    private void reannounceSilent() {
        long now = System.nanoTime();
        live.values().forEach(s -> {
            Duration silence = s.heardAny() ? reannounceAfter : prefillSilence;
            s.reannounce(now, silence.toNanos(), true)
                    .ifPresent(e -> reannounce(e, "its log was silent for " + silence.toSeconds() + " s"));
        });
    }

    private void reannounce(SessionEvent event, String why) {
        LOG.infof("re-announcing session %s after %d committed tokens in epoch %d: %s", event.sessionId(),
                event.committed().length, event.epoch(), why);
        send(event);
    }

    private void send(SessionEvent event) {
        sessions.send(KafkaRecord.of(event.sessionId(), event));
    }
}
