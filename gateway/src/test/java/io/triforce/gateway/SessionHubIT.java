package io.triforce.gateway;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.test.junit.QuarkusTest;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.protocol.Clock;
import io.triforce.protocol.Commit;
import io.triforce.protocol.LevelCounters;
import io.triforce.protocol.Sampling;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.Topics;
import io.triforce.protocol.testing.Await;
import io.triforce.protocol.testing.EmbeddedKafka;
import io.triforce.protocol.testing.KafkaJson;
import io.triforce.protocol.testing.SharedModelsCondition;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The gateway's messaging side against a real broker (EmbeddedKafkaBroker in this JVM): ready
 * once it holds the committed log's partitions; a start and a cancel reach the sessions topic
 * keyed by session id; the session's commits (and no other's) reach its listener.
 */
@ExtendWith(SharedModelsCondition.class)
@QuarkusTest
@TestProfile(SessionHubIT.RealBroker.class)
class SessionHubIT {

    /** Only the broker: the module's global in-memory test resources (the HTTP tests') stay off. */
    public static class RealBroker implements QuarkusTestProfile {
        @Override
        public List<TestResourceEntry> testResources() {
            return List.of(new TestResourceEntry(EmbeddedKafka.class));
        }

        @Override
        public boolean disableGlobalTestResources() {
            return true;
        }
    }

    private static final Duration WAIT = Duration.ofSeconds(60);

    @Inject
    SessionHub hub;
    @Inject
    @io.smallrye.common.annotation.Identifier("committed-partitions")
    Readiness readiness;

    @Test
    void sessionThroughTheBroker() throws Exception {
        try (KafkaJson kafka = new KafkaJson(org.eclipse.microprofile.config.ConfigProvider.getConfig()
                .getValue("kafka.bootstrap.servers", String.class))) {
            List<KafkaJson.Keyed<SessionEvent>> sessions = kafka.collect(Topics.SESSIONS, SessionEvent.class);
            kafka.send(Topics.COMMITTED, "warm-up", new Commit("warm-up", 0, 0, new int[0], null, null,
                    LevelCounters.ZERO, LevelCounters.ZERO, Clock.micros())); // creates the topic

            List<Commit> got = new CopyOnWriteArrayList<>();
            hub.start(SessionEvent.start("it-hub", new int[] {3, 4, 5}, 8, Sampling.of(SamplingParams.GREEDY)), got::add);
            Await.until(() -> sessions.size() == 1, WAIT, () -> "the start on " + Topics.SESSIONS);
            assertEquals("it-hub", sessions.get(0).key());
            assertArrayEquals(new int[] {3, 4, 5}, sessions.get(0).value().prompt());

            // the gateway reads the log from its end (offset reset "latest"): resend until its consumer holds the partitions.
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (got.isEmpty() && System.nanoTime() < deadline) {
                kafka.send(Topics.COMMITTED, "other", new Commit("other", 0, 3, new int[] {1}, null, null,
                        LevelCounters.ZERO, LevelCounters.ZERO, Clock.micros()));
                kafka.send(Topics.COMMITTED, "it-hub", new Commit("it-hub", 0, 3, new int[] {6, 7}, null, null,
                        LevelCounters.ZERO, LevelCounters.ZERO, Clock.micros()));
                Await.quiet(Duration.ofMillis(500));
            }
            System.out.println("SessionHubIT: gateway readiness " + readiness.call().getStatus() + " " + readiness.call().getData());
            assertTrue(!got.isEmpty(), "the session's commit reached its listener");
            got.forEach(c -> assertEquals("it-hub", c.sessionId(), "only the session's own commits"));
            assertArrayEquals(new int[] {6, 7}, got.get(0).tokens());
            Await.until(() -> readiness.call().getStatus() == HealthCheckResponse.Status.UP, WAIT,
                    () -> "gateway ready once it holds the log's partitions: " + readiness.call().getData());

            hub.close("it-hub", true);
            Await.until(() -> sessions.size() == 2, WAIT, () -> "the cancel on " + Topics.SESSIONS);
            assertEquals(SessionEvent.Kind.CANCEL, sessions.get(1).value().kind());
            assertEquals("it-hub", sessions.get(1).key());
        }
    }
}
