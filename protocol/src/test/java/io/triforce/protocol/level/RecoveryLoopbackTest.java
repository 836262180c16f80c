package io.triforce.protocol.level;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.protocol.Sampling;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.testing.CpuModel;
import io.triforce.protocol.testing.SharedModels;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A level loses its session mid-stream and builds it again from a re-announced start (prompt plus
 * the tokens committed so far, a fresh epoch), while the others keep theirs and move to that epoch
 * (see {@link Loopback.Loss}): the committed log still equals the target's own greedy output,
 * token for token — nothing lost, nothing repeated — whichever level it was and however the
 * messages interleave; a sampled session runs to its end (contiguous commits, no stall).
 */
class RecoveryLoopbackTest {

    private static final int MAX_TOKENS = 40;

    private static CpuModel targetModel;
    private static CpuModel draftModel;
    private static Transformer target;
    private static Transformer draft;
    private static SessionEvent start;
    private static int[] expected;

    @BeforeAll
    static void load() throws Exception {
        targetModel = CpuModel.target();
        draftModel = CpuModel.draft();
        target = targetModel.model();
        draft = draftModel.model();
        int[] prompt = SharedModels.promptTokens(2, 300);
        start = SessionEvent.start("lost", prompt, MAX_TOKENS, Sampling.of(SamplingParams.GREEDY));
        expected = targetModel.greedy(prompt, MAX_TOKENS);
    }

    @AfterAll
    static void close() throws Exception {
        targetModel.close();
        draftModel.close();
    }

    @Test
    void aLevelRebuiltFromTheLogContinuesItExactly() {
        LevelSettings settings = new LevelSettings(2, 4, 256, 8, 16, 256, 12, 2);
        for (int level = 1; level <= 3; level++) {
            for (long seed : new long[] {1, 2}) {
                for (int after : new int[] {0, 3}) {
                    int[] got = Loopback.run(target, draft, start, settings, new Random(seed),
                            new Loopback.Loss(level, after));
                    assertArrayEquals(expected, got, "level " + level + " lost the session after " + after
                            + " commits, interleaving seed " + seed);
                }
            }
        }
    }

    @Test
    void aSampledSessionRebuiltFromTheLogRunsToItsEnd() {
        SessionEvent sampled = SessionEvent.start("lost-sampled", start.prompt(), 24, new Sampling(0.8, 0, 0.95, 9));
        for (int level = 1; level <= 3; level++) {
            int[] got = Loopback.run(target, draft, sampled, LevelSettings.DEFAULTS, new Random(level),
                    new Loopback.Loss(level, 2));
            assertTrue(got.length <= 24, "at most max_tokens after level " + level + " lost the session");
            assertTrue(IntStream.of(got).allMatch(t -> t >= 0 && t < target.config().vocabSize()));
        }
    }
}
