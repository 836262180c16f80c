package io.triforce.retrieval;

import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.ResourceArg;
import io.quarkus.test.junit.QuarkusTest;
import io.triforce.protocol.Correction;
import io.triforce.protocol.Level2Proposal;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.testing.InMemoryChannels;
import io.triforce.protocol.testing.InMemoryLevelTest;
import java.util.List;
import org.junit.jupiter.api.Test;

/** kv-retrieval-service on the in-memory connector: see {@link RetrievalScenario}. */
@QuarkusTest
@QuarkusTestResource(value = InMemoryChannels.class, restrictToAnnotatedClass = true,
        initArgs = @ResourceArg(name = InMemoryChannels.OUTGOING, value = "level2-proposals,corrections,session-events"))
class RetrievalServiceTest extends InMemoryLevelTest {

    @Test
    void greedyProposalsCorrectionsAndResets() throws Exception {
        RetrievalScenario.greedy("greedy-2", this::send, () -> out("greedy-2"));
        assertAcceptanceCounted(1);
    }

    @Test
    void sampledProposalsCarryDistributions() throws Exception {
        RetrievalScenario.sampled("sampled-2", this::send, () -> out("sampled-2"));
    }

    @Test
    void aLostSessionIsAskedForAndRebuiltAfterTheReannouncedLog() throws Exception {
        RetrievalScenario.lost("lost-2", this::send, () -> out("lost-2"),
                () -> received("session-events", SessionEvent::sessionId, "lost-2"));
    }

    private RetrievalScenario.Out out(String session) {
        return new RetrievalScenario.Out(received("level2-proposals", Level2Proposal::sessionId, session),
                received("corrections", Correction::sessionId, session));
    }
}
