package io.triforce.gateway;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import io.triforce.protocol.runtime.SessionWorker;
import io.triforce.protocol.testing.Await;
import io.triforce.protocol.testing.SharedModelsCondition;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.List;
import org.eclipse.microprofile.reactive.messaging.Message;
import org.eclipse.microprofile.reactive.messaging.spi.Connector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The gateway's side of session recovery on the in-memory connector: a level's RESYNC for a
 * session the gateway serves is answered with the start re-announced (the committed tokens so
 * far, keyed by session id), unless the session was announced within the ask interval; a RESYNC for a session it does not serve goes unanswered; a session
 * whose log stays silent for {@code triforce.gateway.reannounce-after} is re-announced unasked,
 * one whose log flows is not, nor one still waiting for its first commit (the levels prefill).
 */
@ExtendWith(SharedModelsCondition.class)
@QuarkusTest
@QuarkusTestResource(value = RecoveryChannels.class, restrictToAnnotatedClass = true)
class SessionRecoveryTest {

    private static final Duration WAIT = Duration.ofSeconds(20);

    @Inject
    SessionHub hub;
    @Inject
    @Connector("smallrye-in-memory")
    InMemoryConnector connector;

    @Test
    void answersResyncAndReannouncesSilentSessions() {
        InMemorySink<SessionEvent> sessions = connector.sink("sessions");
        var committed = connector.source("committed");
        var requests = connector.source("session-requests");
        hub.start(SessionEvent.start("flowing", new int[] {5, 6, 7}, 64, Sampling.of(SamplingParams.GREEDY)), c -> { });
        hub.start(SessionEvent.start("silent", new int[] {8, 9}, 8, new Sampling(0.8, 0, 0.9, 1)), c -> { });
        hub.start(SessionEvent.start("prefilling", new int[] {4}, 8, Sampling.of(SamplingParams.GREEDY)), c -> { });
        long started = System.nanoTime();
        committed.send(commit("silent", 2, 3));
        committed.send(commit("flowing", 3, 1, 2));
        committed.send(commit("flowing", 4, 2, 9));

        requests.send(SessionEvent.resync("flowing"));
        Await.quiet(Duration.ofMillis(300));
        assertTrue(announcements(sessions, "flowing").isEmpty(), "the start itself went out less than "
                + SessionWorker.ASK_INTERVAL + " ago: the level asks again if it still lacks the session");
        Await.quiet(SessionWorker.ASK_INTERVAL);
        requests.send(SessionEvent.resync("flowing"));
        requests.send(SessionEvent.resync("nobody-here"));
        Await.until(() -> announcements(sessions, "flowing").size() == 1, WAIT, () -> "the answer; got " + sessions.received());
        Message<SessionEvent> answer = sessions.received().stream()
                .filter(m -> m.getPayload().sessionId().equals("flowing") && m.getPayload().reannounced())
                .findFirst().orElseThrow();
        assertTrue(System.nanoTime() - started < Duration.parse("PT" + RecoveryChannels.REANNOUNCE_AFTER).toNanos(),
                "answered at once, not on silence");
        assertEquals("flowing", answer.getMetadata(OutgoingKafkaRecordMetadata.class).orElseThrow().getKey());
        assertArrayEquals(new int[] {5, 6, 7}, answer.getPayload().prompt());
        assertArrayEquals(new int[] {1, 2, 9}, answer.getPayload().committed(), "the committed tokens so far");
        assertEquals(64, answer.getPayload().maxTokens());
        assertTrue(answer.getPayload().epoch() > 0);

        // the flowing session's log goes on; the silent one's does not.
        for (int i = 0; i < 24; i++) {
            committed.send(commit("flowing", 6 + i, 100 + i));
            Await.quiet(Duration.ofMillis(250));
        }
        List<SessionEvent> silent = announcements(sessions, "silent");
        assertTrue(!silent.isEmpty(), "the silent session was re-announced unasked");
        assertArrayEquals(new int[] {3}, silent.getFirst().committed());
        assertEquals(0.8, silent.getFirst().sampling().temperature());
        assertEquals(1, announcements(sessions, "flowing").size(), "a flowing log is not re-announced on silence");
        assertTrue(announcements(sessions, "prefilling").isEmpty(),
                "no commit yet: silence counts only after half the token timeout");
        assertTrue(sessions.received().stream().noneMatch(m -> m.getPayload().sessionId().equals("nobody-here")),
                "a session served elsewhere is not answered");

        hub.close("flowing", true);
        hub.close("silent", true);
        hub.close("prefilling", true);
        requests.send(SessionEvent.resync("flowing"));
        Await.quiet(Duration.ofMillis(300));
        assertEquals(1, announcements(sessions, "flowing").size(), "a closed session is not re-announced");
    }

    private static List<SessionEvent> announcements(InMemorySink<SessionEvent> sink, String session) {
        return sink.received().stream().map(Message::getPayload)
                .filter(e -> e.sessionId().equals(session) && e.reannounced()).toList();
    }

    private static Commit commit(String id, int start, int... tokens) {
        return new Commit(id, 2, start, tokens, null, null, LevelCounters.ZERO, LevelCounters.ZERO, Clock.micros());
    }
}
