package io.triforce.draft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.ResourceArg;
import io.quarkus.test.junit.QuarkusTest;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.protocol.Level1Proposal;
import io.triforce.protocol.Sampling;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.Topics;
import io.triforce.protocol.testing.Await;
import io.triforce.protocol.testing.InMemoryChannels;
import io.triforce.protocol.testing.InMemoryLevelTest;
import java.util.List;
import org.junit.jupiter.api.Test;

/** draft-service on the in-memory connector: see {@link DraftScenario}. */
@QuarkusTest
@QuarkusTestResource(value = InMemoryChannels.class, restrictToAnnotatedClass = true,
        initArgs = @ResourceArg(name = InMemoryChannels.OUTGOING, value = "level1-proposals,session-events"))
class DraftServiceTest extends InMemoryLevelTest {

    @Test
    void respectsLookaheadAndFollowsCorrectionsAndCommits() throws Exception {
        DraftScenario.run("draft-1", this::send, () -> proposals("draft-1"));
        assertEquals(0.0, registry.get("triforce.sessions.active").tag("level", "1").gauge().value(),
                "the ended session is freed");
    }

    @Test
    void aSessionItCannotRunIsAnnouncedAsFailed() throws Exception {
        int[] prompt = {5, 6, 99_999}; // not in the draft's vocabulary (the gateway would have refused it)
        send(Topics.SESSIONS, SessionEvent.start("draft-bad", prompt, 8, Sampling.of(SamplingParams.GREEDY)));
        Await.until(() -> !sessionEvents("draft-bad").isEmpty(), DraftScenario.WAIT, () -> "a failure event");
        SessionEvent failed = sessionEvents("draft-bad").getFirst();
        assertEquals(SessionEvent.Kind.FAILED, failed.kind());
        assertTrue(failed.error().startsWith("draft-service: "), failed.error());
        assertTrue(proposals("draft-bad").isEmpty(), "no proposal for a failed session");
    }

    @Test
    void aLostSessionIsAskedForAndDraftsAfterTheReannouncedLog() throws Exception {
        DraftScenario.lost("draft-lost", this::send, () -> proposals("draft-lost"), () -> sessionEvents("draft-lost"));
    }

    private List<SessionEvent> sessionEvents(String session) {
        return received("session-events", SessionEvent::sessionId, session);
    }

    private List<Level1Proposal> proposals(String session) {
        return received("level1-proposals", Level1Proposal::sessionId, session);
    }
}
