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
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Emitter;
import org.eclipse.microprofile.reactive.messaging.Incoming;

/** Starts and cancels sessions, and routes the committed log to the request waiting for it. */
@ApplicationScoped
public class SessionHub {

    @Inject
    @Channel("sessions")
    Emitter<SessionEvent> sessions;
    @Inject
    MeterRegistry registry;

    private final Map<String, Consumer<Commit>> listeners = new ConcurrentHashMap<>();
    private Transit transit;

    @PostConstruct
    void init() {
        transit = new Transit(registry);
        Gauge.builder("triforce.sessions.active", listeners, Map::size).tag("level", "gateway").register(registry);
    }

    public void start(SessionEvent start, Consumer<Commit> listener) {
        listeners.put(start.sessionId(), listener);
        sessions.send(KafkaRecord.of(start.sessionId(), start));
    }

    /** Stops listening; returns whether the session was still open (then it is cancelled everywhere). */
    public boolean close(String sessionId, boolean cancel) {
        boolean open = listeners.remove(sessionId) != null;
        if (open && cancel) {
            sessions.send(KafkaRecord.of(sessionId, SessionEvent.cancel(sessionId)));
        }
        return open;
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
