package io.triforce.protocol.level;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.protocol.Clock;
import io.triforce.protocol.Correction;
import io.triforce.protocol.Level1Proposal;
import io.triforce.protocol.Level2Proposal;
import io.triforce.protocol.Sampling;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.testing.SharedModels;
import java.util.ArrayList;
import java.util.Arrays;
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

    private static LlamaCheckpoint checkpoint;
    private static Transformer target;
    private static int[] prompt;
    private static int[] ar;

    @BeforeAll
    static void load() throws Exception {
        checkpoint = CheckpointLoader.load(SharedModels.target());
        target = new CpuBackend().load(checkpoint.weights());
        prompt = SharedModels.promptTokens(0, 200);
        ar = new AutoregressiveDecoder(target).generate(prompt, 24, SamplingParams.GREEDY, TokenSink.IGNORE).tokens();
    }

    @AfterAll
    static void close() throws Exception {
        checkpoint.close();
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
}
