package io.triforce.gateway;

import io.smallrye.reactive.messaging.kafka.KafkaRecord;
import io.triforce.protocol.Commit;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.Topics;
import io.triforce.protocol.runtime.Transit;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Gauge;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Emitter;
import org.eclipse.microprofile.reactive.messaging.Incoming;

/**
 * Starts and cancels sessions, and routes the committed log to the request waiting for it. At
 * most {@code triforce.gateway.max-sessions} run at once: a start beyond that is refused (429
 * with Retry-After) rather than queued.
 */
@ApplicationScoped
public class SessionHub {

    @Inject
    @Channel("sessions")
    Emitter<SessionEvent> sessions;
    @Inject
    MeterRegistry registry;
    @ConfigProperty(name = "triforce.gateway.max-sessions")
    int maxSessions;
    @ConfigProperty(name = "triforce.gateway.retry-after")
    Duration retryAfter;

    private final Map<String, Consumer<Commit>> listeners = new ConcurrentHashMap<>();
    private final AtomicInteger open = new AtomicInteger();
    private Transit transit;

    @PostConstruct
    void init() {
        transit = new Transit(registry);
        Gauge.builder("triforce.sessions.active", this, SessionHub::openSessions).tag("level", "gateway").register(registry);
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
        listeners.put(start.sessionId(), listener);
        try {
            sessions.send(KafkaRecord.of(start.sessionId(), start));
        } catch (RuntimeException e) {
            close(start.sessionId(), false);
            throw new ApiException(503, "server_error", null, "kafka_unavailable", "the session could not be started: " + e);
        }
    }

    /** Stops listening; returns whether the session was still open (then it is cancelled everywhere). */
    public boolean close(String sessionId, boolean cancel) {
        boolean wasOpen = listeners.remove(sessionId) != null;
        if (wasOpen) {
            open.decrementAndGet();
            if (cancel) {
                sessions.send(KafkaRecord.of(sessionId, SessionEvent.cancel(sessionId)));
            }
        }
        return wasOpen;
    }

    public int openSessions() {
        return open.get();
    }

    @Incoming("committed")
    public void onCommit(Commit commit) {
        Consumer<Commit> listener = listeners.get(commit.sessionId());
        if (listener != null) {
            transit.received(Topics.COMMITTED, commit.sentAtMicros());
            listener.accept(commit);
        }
    }
}
