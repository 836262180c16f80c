package io.triforce.protocol.runtime;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.micrometer.core.instrument.MeterRegistry;
import io.smallrye.reactive.messaging.kafka.KafkaRecord;
import io.triforce.protocol.SessionEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Emitter;

/**
 * What every level service (draft-, kv-retrieval-, verify-service) is wired with, injected once:
 * the JSON mapper, the meter registry, the session timeout, its compute threads, and the sessions
 * topic, which it reads through its {@link Inbox} and writes through the {@code session-events}
 * channel (RESYNC, and FAILED where the level reports failures there). The gateway, which has
 * none of these channels, excludes this bean.
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

    /**
     * The level's host (see {@link LevelHost}): a session it gets messages for but does not hold
     * is asked for with RESYNC on the sessions topic.
     */
    public <S> LevelHost<S> host(int level, String name, Path modelDir, String backend,
                                 BiConsumer<String, Exception> onFailure) {
        return new LevelHost<>(level, name, modelDir, backend, threads, sessionTimeout, registry, onFailure,
                id -> publish(SessionEvent.resync(id)));
    }

    /** The level's inbox, with the sessions topic routed to {@code onSession}; the level adds its other topics. */
    public Inbox inbox(LevelHost<?> host, Consumer<SessionEvent> onSession) {
        return new Inbox(json, host.transit()).on(sessionsTopic, SessionEvent.class, onSession);
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
