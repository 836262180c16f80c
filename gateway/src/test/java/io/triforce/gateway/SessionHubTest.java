package io.triforce.gateway;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.reactive.messaging.kafka.api.OutgoingKafkaRecordMetadata;
import io.smallrye.reactive.messaging.memory.InMemoryConnector;
import io.smallrye.reactive.messaging.memory.InMemorySink;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.protocol.Clock;
import io.triforce.protocol.Commit;
import io.triforce.protocol.LevelCounters;
import io.triforce.protocol.Sampling;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.testing.Await;
import io.triforce.protocol.testing.SharedModelsCondition;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.eclipse.microprofile.reactive.messaging.Message;
import org.eclipse.microprofile.reactive.messaging.spi.Connector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The gateway's messaging side on the in-memory connector: a session start goes out keyed by
 * session id, the committed log reaches only its own session's listener, closing cancels the
 * session everywhere exactly once, and commits are timed in transit.
 */
@ExtendWith(SharedModelsCondition.class)
@QuarkusTest
@QuarkusTestResource(value = HubChannels.class, restrictToAnnotatedClass = true)
class SessionHubTest {

    private static final Duration WAIT = Duration.ofSeconds(20);

    @Inject
    SessionHub hub;
    @Inject
    MeterRegistry registry;
    @Inject
    @Connector("smallrye-in-memory")
    InMemoryConnector connector;

    @Test
    void routesTheCommittedLogAndCancelsOnce() {
        InMemorySink<SessionEvent> sessions = connector.sink("sessions");
        List<Commit> a = new CopyOnWriteArrayList<>();
        List<Commit> b = new CopyOnWriteArrayList<>();
        hub.start(SessionEvent.start("hub-a", new int[] {5, 6, 7}, 4, Sampling.of(SamplingParams.GREEDY)), a::add);
        hub.start(SessionEvent.start("hub-b", new int[] {8, 9}, 4, new Sampling(0.8, 0, 0.9, 1)), b::add);
        Await.until(() -> events(sessions, "hub-a").size() == 1 && events(sessions, "hub-b").size() == 1, WAIT,
                () -> "both starts sent; got " + sessions.received());
        Message<SessionEvent> startA = sessions.received().stream()
                .filter(m -> m.getPayload().sessionId().equals("hub-a")).findFirst().orElseThrow();
        assertEquals("hub-a", startA.getMetadata(OutgoingKafkaRecordMetadata.class).orElseThrow().getKey(),
                "keyed by session id: one partition, one instance per service");
        assertEquals(SessionEvent.Kind.START, startA.getPayload().kind());
        assertArrayEquals(new int[] {5, 6, 7}, startA.getPayload().prompt());
        assertEquals(0.8, events(sessions, "hub-b").get(0).sampling().temperature());

        var committed = connector.source("committed");
        committed.send(commit("hub-a", 3, new int[] {1, 2}, null));
        committed.send(commit("hub-b", 2, new int[] {3}, null));
        committed.send(commit("hub-x", 0, new int[] {4}, null)); // nobody's: ignored
        committed.send(commit("hub-a", 5, new int[] {9}, "length"));
        Await.until(() -> a.size() == 2 && b.size() == 1, WAIT, () -> "routed commits; a " + a + ", b " + b);
        assertArrayEquals(new int[] {1, 2}, a.get(0).tokens());
        assertEquals("length", a.get(1).finishReason());
        assertArrayEquals(new int[] {3}, b.get(0).tokens());

        // a finished session closes without a cancel; an open one is cancelled once.
        assertTrue(hub.close("hub-a", false));
        assertTrue(hub.close("hub-b", true));
        assertFalse(hub.close("hub-b", true), "closing twice cancels once");
        Await.until(() -> events(sessions, "hub-b").size() == 2, WAIT, () -> "the cancel; got " + sessions.received());
        Await.quiet(Duration.ofMillis(200));
        assertEquals(SessionEvent.Kind.CANCEL, events(sessions, "hub-b").get(1).kind());
        assertEquals(1, events(sessions, "hub-a").size(), "no cancel for a finished session");
        assertEquals(2, events(sessions, "hub-b").size());

        committed.send(commit("hub-b", 3, new int[] {5}, null));
        Await.quiet(Duration.ofMillis(200));
        assertEquals(1, b.size(), "no commit reaches a closed session");
        assertEquals(0, hub.openSessions());
        assertTrue(registry.get("triforce.message.transit").tag("topic", "triforce.committed").timer().count() >= 3,
                "commits are timed in transit");
    }

    private static List<SessionEvent> events(InMemorySink<SessionEvent> sink, String session) {
        return sink.received().stream().map(Message::getPayload).filter(e -> e.sessionId().equals(session)).toList();
    }

    private static Commit commit(String id, int start, int[] tokens, String finish) {
        return new Commit(id, 0, start, tokens, finish, null, LevelCounters.ZERO, LevelCounters.ZERO, Clock.micros());
    }
}
