package io.triforce.protocol.level;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.protocol.Clock;
import io.triforce.protocol.Correction;
import io.triforce.protocol.Level1Proposal;
import io.triforce.protocol.Level2Proposal;
import io.triforce.protocol.Sampling;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.testing.CpuModel;
import io.triforce.protocol.testing.SharedModels;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Level 2 deciding tokens itself while idle ({@code level2Ahead}): bounded past level 1's end,
 * its tokens are the target's greedy ones (the 200-token prompt fits the budget), a level-1
 * proposal over them is compared (a difference corrects level 1 to level 2's tokens, a match
 * is simply kept), and the tokens go on to level 3 like any other.
 */
class RetrievalSessionTest {

    private static CpuModel targetModel;
    private static Transformer target;
    private static int[] prompt;
    private static int[] ar;

    @BeforeAll
    static void load() throws Exception {
        targetModel = CpuModel.target();
        target = targetModel.model();
        prompt = SharedModels.promptTokens(0, 200);
        ar = targetModel.greedy(prompt, 24);
    }

    @AfterAll
    static void close() throws Exception {
        targetModel.close();
    }

    private static final class Box implements RetrievalSession.Outbox {
        final List<Level2Proposal> proposals = new ArrayList<>();
        final List<Correction> corrections = new ArrayList<>();

        @Override
        public void propose(Level2Proposal proposal) {
            proposals.add(proposal);
        }

        @Override
        public void correct(Correction correction) {
            corrections.add(correction);
        }
    }

    @Test
    void decidesAheadThenComparesTheDraft() {
        int p = prompt.length;
        RetrievalSession level2 = new RetrievalSession(target,
                SessionEvent.start("s", prompt, 64, Sampling.of(SamplingParams.GREEDY)),
                new LevelSettings(4, 8, 512, 8, 16, 256, 32, 3));
        Box out = new Box();
        assertTrue(level2.draftAhead(out));
        assertTrue(level2.draftAhead(out));
        assertTrue(level2.draftAhead(out));
        assertFalse(level2.draftAhead(out), "at most level2Ahead past level 1's end");

        // level 1 agrees on two of level 2's three tokens, then differs: corrected to level 2's tokens.
        level2.onProposal(new Level1Proposal("s", 0, p, new int[] {ar[0], ar[1], (ar[2] + 1) % 8192, 5}, null,
                Clock.micros()), out);
        assertEquals(1, out.corrections.size());
        Correction c = out.corrections.get(0);
        assertEquals(1, c.epoch());
        assertEquals(p + 2, c.start());
        assertArrayEquals(new int[] {ar[2]}, c.tokens(), "level 2's own token where the draft went astray");

        // the corrected draft: its first token was decided already and matches; the rest is verified.
        level2.onProposal(new Level1Proposal("s", 1, p + 3, Arrays.copyOfRange(ar, 3, 7), null, Clock.micros()), out);
        assertEquals(1, out.corrections.size(), "no correction for right tokens");
        assertTrue(out.proposals.isEmpty(), "seven tokens: below gamma2");
        assertTrue(level2.draftAhead(out));
        assertEquals(1, out.proposals.size(), "the eighth, level 2's own, completes a level-2 proposal");
        assertEquals(p, out.proposals.get(0).base());
        assertArrayEquals(Arrays.copyOf(ar, 8), out.proposals.get(0).tokens());

        // idle: up to three past level 1's end (p + 7), then a draft proposal inside them changes nothing.
        assertTrue(level2.draftAhead(out));
        assertTrue(level2.draftAhead(out));
        assertFalse(level2.draftAhead(out));
        level2.onProposal(new Level1Proposal("s", 1, p + 7, Arrays.copyOfRange(ar, 7, 9), null, Clock.micros()), out);
        assertEquals(1, out.corrections.size());
        assertTrue(level2.draftAhead(out), "level 1 moved on: room for one more");
        // a stale epoch changes nothing either.
        level2.onProposal(new Level1Proposal("s", 0, p + 7, new int[] {1, 2}, null, Clock.micros()), out);
        assertEquals(1, out.corrections.size());
    }
    @Test
    void resendsItsStateToADraftThatLostTheCorrections() {
        int p = prompt.length;
        AtomicLong now = new AtomicLong();
        SessionEvent start = SessionEvent.start("r", prompt, 64, Sampling.of(SamplingParams.GREEDY));
        LevelSettings settings = new LevelSettings(4, 8, 512, 8, 16, 256, 32, 0);
        RetrievalSession level2 = new RetrievalSession(target, start, settings, now::get);
        Box out = new Box();
        level2.onProposal(new Level1Proposal("r", 0, p, new int[] {ar[0], ar[1], (ar[2] + 1) % 8192, 5}, null,
                Clock.micros()), out);
        assertEquals(1, out.corrections.size(), "the draft went astray at p + 2");
        Correction first = out.corrections.getFirst();

        now.addAndGet(100_000_000L); // a stale proposal that crossed the correction: nothing to resend
        level2.onProposal(new Level1Proposal("r", 0, p + 4, new int[] {7}, null, Clock.micros()), out);
        assertEquals(1, out.corrections.size());

        // draft-service restarts and rebuilds the session from its start: the replayed correction is
        // past what the fresh draft holds (ignored), and it proposes at epoch 0 from the prompt again.
        DraftSession restarted = new DraftSession(target, start, settings);
        restarted.onCorrection(new Correction("r", 1, p + 5, new int[] {3}, Clock.micros()));
        Level1Proposal stale = restarted.next().orElseThrow();
        assertEquals(0, stale.epoch(), "the past-the-end correction was ignored");
        now.addAndGet(1_000_000_000L);
        level2.onProposal(stale, out);
        assertEquals(2, out.corrections.size(), "level 1 sent only stale proposals for a second: resync");
        Correction resync = out.corrections.get(1);
        assertEquals(first.epoch(), resync.epoch(), "the current epoch, not a new one");
        assertEquals(p, resync.start(), "from where the stale proposal starts");
        assertArrayEquals(new int[] {ar[0], ar[1], ar[2]}, resync.tokens(), "level 2's sequence");
        now.addAndGet(100_000_000L);
        level2.onProposal(stale, out);
        assertEquals(2, out.corrections.size(), "at most one resync per interval");

        restarted.onCorrection(resync);
        Level1Proposal current = restarted.next().orElseThrow();
        assertEquals(resync.epoch(), current.epoch());
        assertEquals(p + 3, current.base(), "the draft continues after level 2's tokens");
    }

    @Test
    void aRestartedLevel2ContinuesPastTheEpochsItLost() {
        int p = prompt.length;
        SessionEvent start = SessionEvent.start("q", prompt, 64, Sampling.of(SamplingParams.GREEDY));
        RetrievalSession restarted = new RetrievalSession(target, start, new LevelSettings(4, 8, 512, 8, 16, 256, 32, 0));
        Box out = new Box();
        // level 1 is at epoch 3 of the level 2 that died; this one never made an epoch
        restarted.onProposal(new Level1Proposal("q", 3, p, new int[] {ar[0], ar[1]}, null, Clock.micros()), out);
        assertEquals(1, out.corrections.size());
        Correction c = out.corrections.getFirst();
        assertEquals(4, c.epoch(), "past every epoch level 1 has seen");
        assertEquals(p, c.start());
        assertEquals(0, c.tokens().length, "this level holds the prompt only: level 1 continues from there");
        // level 1 follows it: its proposals are current again and get verified
        restarted.onProposal(new Level1Proposal("q", 4, p, new int[] {ar[0], (ar[1] + 1) % 8192}, null,
                Clock.micros()), out);
        assertEquals(2, out.corrections.size(), "verified: the second token is wrong");
        assertEquals(5, out.corrections.get(1).epoch());
        assertArrayEquals(new int[] {ar[1]}, out.corrections.get(1).tokens());
    }
}
