package io.triforce.protocol.runtime;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.micrometer.core.instrument.MeterRegistry;
import io.smallrye.reactive.messaging.kafka.KafkaRecord;
import io.triforce.protocol.SessionEvent;
import io.quarkus.runtime.ShutdownEvent;
import io.smallrye.common.annotation.NonBlocking;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Emitter;
import org.eclipse.microprofile.reactive.messaging.Incoming;

/**
 * What every level service (draft-, kv-retrieval-, verify-service) is wired with, injected once:
 * the JSON mapper, the meter registry, the session timeout, its compute threads, and the sessions
 * topic, which it reads through its {@link Inbox} and writes through the {@code session-events}
 * channel (RESYNC, and FAILED where the level reports failures there). It reads the level's
 * input (channel {@code inbox}) into the level's {@link Inbox} and frees the level's host at
 * shutdown. The gateway, which has none of these channels, excludes this bean.
 */
@ApplicationScoped
public class LevelWiring {

    @Inject
    ObjectMapper json;
    @Inject
    MeterRegistry registry;
    @Inject
    @Channel("session-events")
    Emitter<SessionEvent> sessionEvents;
    @ConfigProperty(name = "triforce.session-timeout")
    Duration sessionTimeout;
    @ConfigProperty(name = "triforce.threads", defaultValue = "0")
    int threads;
    @ConfigProperty(name = "triforce.topic.sessions")
    String sessionsTopic;

    private volatile LevelHost<?> host;
    private volatile Inbox inbox;

    /**
     * The level's host (see {@link LevelHost}): a session it gets messages for but does not hold
     * is asked for with RESYNC on the sessions topic.
     */
    public <S> LevelHost<S> host(int level, String name, Path modelDir, String backend,
                                 BiConsumer<String, Exception> onFailure) {
        LevelHost<S> created = new LevelHost<>(level, name, modelDir, backend, threads, sessionTimeout, registry,
                onFailure, id -> publish(SessionEvent.resync(id)));
        host = created;
        return created;
    }

    /** The level's name once its host exists (its model is loaded); null before. */
    public String levelName() {
        LevelHost<?> h = host;
        return h == null ? null : h.name();
    }

    /**
     * A new inbox for the level's {@link #host}, with the sessions topic routed to {@code onSession};
     * the level adds its other topics, then {@link #listen}s.
     */
    public Inbox inbox(Consumer<SessionEvent> onSession) {
        LevelHost<?> h = host;
        if (h == null) {
            throw new IllegalStateException("the level's host is created (host(...)) before its inbox");
        }
        return new Inbox(json, h.transit()).on(sessionsTopic, SessionEvent.class, onSession);
    }

    /** From now on the level's input goes to {@code complete} (every topic routed). */
    public void listen(Inbox complete) {
        inbox = complete;
    }

    /**
     * Every input topic arrives here, through one consumer (see {@link Inbox}), on the connector's
     * event loop: decoding and queueing for the session worker never block.
     */
    @Incoming("inbox")
    @NonBlocking
    public void onRecord(ConsumerRecord<String, String> record) {
        inbox.accept(record.topic(), record.value());
    }

    void stop(@Observes ShutdownEvent event) throws Exception {
        if (host != null) {
            host.close();
        }
    }

    public MeterRegistry registry() {
        return registry;
    }

    /** Publishes {@code event} on the sessions topic, keyed by its session. */
    public void publish(SessionEvent event) {
        send(sessionEvents, event.sessionId(), event);
    }

    /** Sends {@code message} on {@code channel} keyed by {@code sessionId}, so a session's messages share a partition. */
    public static <T> void send(Emitter<T> channel, String sessionId, T message) {
        channel.send(KafkaRecord.of(sessionId, message));
    }
}
