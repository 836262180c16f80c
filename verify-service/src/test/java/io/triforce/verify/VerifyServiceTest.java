package io.triforce.verify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.ResourceArg;
import io.quarkus.test.junit.QuarkusTest;
import io.triforce.protocol.Commit;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.Topics;
import io.triforce.protocol.testing.Await;
import io.triforce.protocol.testing.InMemoryChannels;
import io.triforce.protocol.testing.InMemoryLevelTest;
import java.time.Duration;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

/** verify-service on the in-memory connector: see {@link VerifyScenario}. */
@QuarkusTest
@QuarkusTestResource(value = InMemoryChannels.class, restrictToAnnotatedClass = true,
        initArgs = @ResourceArg(name = InMemoryChannels.OUTGOING, value = "committed,session-events"))
class VerifyServiceTest extends InMemoryLevelTest {

    @Test
    void commitsOnlyVerifiedTokensAndDropsStaleProposals() throws Exception {
        VerifyScenario.greedy("greedy-1", this::send, () -> commits("greedy-1"));
        assertAcceptanceCounted(2);
    }

    @Test
    void sampledSessionWithDenseDistributionsReachesMaxTokens() throws Exception {
        VerifyScenario.sampled("sampled-1", this::send, () -> commits("sampled-1"));
    }

    @Test
    void aLevelsFailureEndsTheLogWithItsError() throws Exception {
        aLevelsFailureEndsTheLogWithItsError("failed-1");
    }

    private void aLevelsFailureEndsTheLogWithItsError(String id) {
        Exception cause = new IllegalStateException("streaming cache overflow");
        send(Topics.SESSIONS, SessionEvent.failed(id, "draft-service", cause));
        Await.until(() -> !commits(id).isEmpty(), Duration.ofSeconds(30), () -> "the failed commit");
        Commit last = commits(id).getFirst();
        assertTrue(last.last(), "the log ends");
        assertEquals("draft-service: streaming cache overflow", last.error());
    }

    @Test
    void aLostSessionIsAskedForOnceAndContinuesFromTheReannouncedLog() throws Exception {
        VerifyScenario.lost("lost-1", this::send, () -> commits("lost-1"), this::sessionEvents);
    }

    @Test
    void malformedRecordsAreSkippedAndTheConsumerGoesOn() throws Exception {
        var inbox = connector.<ConsumerRecord<String, String>>source("inbox");
        inbox.send(new ConsumerRecord<>(Topics.SESSIONS, 0, 0L, "x", "not json at all"));
        inbox.send(new ConsumerRecord<>(Topics.LEVEL2_PROPOSALS, 0, 0L, "x", null));
        inbox.send(new ConsumerRecord<>(Topics.LEVEL2_PROPOSALS, 0, 0L, "x", "[1,2,3]"));
        inbox.send(new ConsumerRecord<>("a.topic.nobody.reads", 0, 0L, "x", "{}"));
        aLevelsFailureEndsTheLogWithItsError("after-garbage");
    }

    private List<SessionEvent> sessionEvents() {
        return received("session-events");
    }

    private List<Commit> commits(String session) {
        return received("committed", Commit::sessionId, session);
    }
}
