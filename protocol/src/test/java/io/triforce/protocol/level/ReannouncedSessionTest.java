package io.triforce.protocol.level;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.protocol.Clock;
import io.triforce.protocol.Commit;
import io.triforce.protocol.Correction;
import io.triforce.protocol.Level1Proposal;
import io.triforce.protocol.Level2Proposal;
import io.triforce.protocol.LevelCounters;
import io.triforce.protocol.Sampling;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.testing.CpuModel;
import io.triforce.protocol.testing.SharedModels;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Each level's session from a re-announced start (the prompt, the tokens committed so far, an
 * epoch): it continues the log at its end in that epoch; a level that holds the session moves to
 * the announced epoch, dropping what was made before, and level 3 gives the session up when the
 * announced log is longer than its own.
 */
class ReannouncedSessionTest {

    private static final int COMMITTED = 6;

    private static CpuModel targetModel;
    private static Transformer target;
    private static int[] prompt;
    private static int[] ar;

    @BeforeAll
    static void load() throws Exception {
        targetModel = CpuModel.target();
        target = targetModel.model();
        prompt = SharedModels.promptTokens(0, 200);
        ar = targetModel.greedy(prompt, 16);
    }

    @AfterAll
    static void close() throws Exception {
        targetModel.close();
    }

    private static SessionEvent announce(int committed, int epoch) {
        return SessionEvent.reannounce("re", prompt, 16, Sampling.of(SamplingParams.GREEDY),
                Arrays.copyOf(ar, committed), epoch);
    }

    private static Level2Proposal proposal(int epoch, int from, int to) {
        return new Level2Proposal("re", epoch, prompt.length + from, Arrays.copyOfRange(ar, from, to), null,
                LevelCounters.ZERO, Clock.micros());
    }

    @Test
    void level3ContinuesTheLogInTheAnnouncedEpoch() {
        try (VerifySession level3 = new VerifySession(target, announce(COMMITTED, 4))) {
            assertTrue(level3.onProposal(proposal(3, COMMITTED, COMMITTED + 3)).isEmpty(), "an older epoch is stale");
            assertTrue(level3.onProposal(proposal(4, 0, COMMITTED)).isEmpty(), "inside the log: nothing new");
            Commit c = level3.onProposal(proposal(4, COMMITTED, COMMITTED + 3)).orElseThrow();
            assertEquals(prompt.length + COMMITTED, c.start(), "after the announced tokens");
            assertEquals(4, c.epoch());
            assertArrayEquals(Arrays.copyOfRange(ar, COMMITTED, COMMITTED + 4), c.tokens(), "three and the bonus");

            assertTrue(level3.onReannounce(announce(COMMITTED, 7)), "the log it holds is as long: kept");
            assertTrue(level3.onProposal(proposal(4, COMMITTED + 4, COMMITTED + 6)).isEmpty(),
                    "made before the re-announcement: stale");
            Commit after = level3.onProposal(proposal(9, COMMITTED + 4, COMMITTED + 6)).orElseThrow();
            assertEquals(9, after.epoch(), "level 2 is past the announcement already: its epoch is taken");
            assertFalse(level3.onReannounce(announce(COMMITTED + 8, 10)), "a longer log: built again");
        }
    }

    @Test
    void level2ProposesAfterTheLogAndALevelHoldingItStartsOverFromIt() {
        LevelSettings settings = new LevelSettings(2, 2, 512, 8, 16, 256, 8, 0);
        List<Level2Proposal> proposals = new ArrayList<>();
        List<Correction> corrections = new ArrayList<>();
        RetrievalSession.Outbox out = new RetrievalSession.Outbox() {
            @Override
            public void propose(Level2Proposal p) {
                proposals.add(p);
            }

            @Override
            public void correct(Correction c) {
                corrections.add(c);
            }
        };
        int p = prompt.length;
        try (RetrievalSession rebuilt = new RetrievalSession(target, announce(COMMITTED, 5), settings)) {
            rebuilt.onProposal(new Level1Proposal("re", 0, p + COMMITTED, Arrays.copyOfRange(ar, COMMITTED,
                    COMMITTED + 2), null, Clock.micros()), out);
            assertEquals(1, proposals.size(), "verified and proposed");
            assertEquals(p + COMMITTED, proposals.getFirst().base(), "after the announced tokens");
            assertEquals(5, proposals.getFirst().epoch(), "in the announced epoch");
            assertTrue(corrections.isEmpty());
        }
        try (RetrievalSession held = new RetrievalSession(target, SessionEvent.start("re", prompt, 16,
                Sampling.of(SamplingParams.GREEDY)), settings)) {
            held.onProposal(new Level1Proposal("re", 0, p, Arrays.copyOfRange(ar, 0, 2), null, Clock.micros()), out);
            assertEquals(2, proposals.size());
            held.onReannounce(announce(1, 3), corrections::add);
            assertEquals(1, corrections.size(), "level 1 starts over from the log");
            Correction c = corrections.getFirst();
            assertEquals(1, c.epoch());
            assertEquals(p + 1, c.start(), "where the log ends");
            assertEquals(0, c.tokens().length);
            held.onProposal(new Level1Proposal("re", 1, p + 1, Arrays.copyOfRange(ar, 1, 3), null, Clock.micros()), out);
            assertEquals(3, proposals.size());
            assertEquals(3, proposals.getLast().epoch(), "proposals go on in the announced epoch");
            assertEquals(p + 1, proposals.getLast().base(), "from the log's end: what went before may be lost");
        }
    }

    @Test
    void aRebuiltSessionDrawsFromAFreshRandomStream() {
        Sampling sampled = new Sampling(0.8, 40, 0.9, 1234);
        SessionEvent start = SessionEvent.start("re", prompt, 16, sampled);
        SessionEvent again = SessionEvent.reannounce("re", prompt, 16, sampled, Arrays.copyOf(ar, 4), 2);
        SessionEvent later = SessionEvent.reannounce("re", prompt, 16, sampled, Arrays.copyOf(ar, 5), 2);
        for (int level = 1; level <= 3; level++) {
            assertEquals(0.8, again.samplingParams(level).temperature());
            assertEquals(40, again.samplingParams(level).topK());
            assertEquals(0.9, again.samplingParams(level).topP());
            assertTrue(again.samplingParams(level).seed() != start.samplingParams(level).seed(),
                    "not the stream the log already drew from");
            assertTrue(again.samplingParams(level).seed() != later.samplingParams(level).seed(),
                    "one stream per log position");
        }
        assertEquals(start.samplingParams(2), SessionEvent.start("re", prompt, 16, sampled).samplingParams(2),
                "a request's seed gives the same streams again");
        assertTrue(start.samplingParams(1).seed() != start.samplingParams(2).seed()
                && start.samplingParams(2).seed() != start.samplingParams(3).seed(), "one stream per level");
    }

    @Test
    void level1DraftsAfterTheLog() throws Exception {
        try (CpuModel draft = CpuModel.draft()) {
            DraftSession level1 = new DraftSession(draft.model(), announce(COMMITTED, 2), new LevelSettings(2, 2, 512, 8, 16,
                    256, 8, 0));
            Level1Proposal first = level1.next().orElseThrow();
            assertEquals(prompt.length + COMMITTED, first.base());
            assertEquals(0, first.epoch(), "level 1's epochs are level 2's corrections, not the log's");
        }
    }
}
