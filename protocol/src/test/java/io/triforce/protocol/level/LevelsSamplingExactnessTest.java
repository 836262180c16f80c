package io.triforce.protocol.level;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.testing.ChiSquare;
import io.triforce.engine.testing.ExactJoint;
import io.triforce.engine.testing.RandomCheckpoint;
import io.triforce.engine.testing.RandomModel;
import io.triforce.protocol.Sampling;
import io.triforce.protocol.SessionEvent;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The services' levels sample exactly the target's distribution: the three level sessions, each
 * with its own random stream as in three services, wired by {@link Loopback}, give the first two
 * tokens of many seeded sessions; a chi-square test compares them with the target's exact joint
 * distribution (enumerated from its logits). A tiny target and an unrelated tiny draft
 * (vocabulary 12) with a 16-slot retrieval budget, so both levels reject and recover often.
 *
 * <p>The test can fail: with the three levels drawing from one random stream (each seeded with
 * the request's seed, as the services did before {@link SessionEvent#samplingParams(int)} mixed in
 * the level) the statistic was 967 on 69 degrees of freedom; with a stream per level, 71.8.
 */
class LevelsSamplingExactnessTest {

    private static final int VOCAB = 12;
    private static final int DRAWS = 6000;
    private static final double ALPHA = 1e-3;
    private static final LevelSettings SETTINGS = new LevelSettings(2, 4, 16, 4, 2, 8, 6, 2);

    @TempDir
    static Path dir;
    private static RandomModel target;
    private static RandomModel draft;
    private static int[] prompt;
    private static double[] exact;

    @BeforeAll
    static void setUp() {
        target = RandomModel.load(RandomCheckpoint.builder().dim(64).layers(2).heads(4).kvHeads(2).headDim(64)
                .hiddenDim(96).vocab(VOCAB).weightScale(1.5).maxPositions(64).omitConfigField("eos_token_id").seed(7),
                dir.resolve("target"));
        draft = RandomModel.load(RandomCheckpoint.builder().dim(64).layers(1).heads(1).headDim(64).hiddenDim(64)
                .vocab(VOCAB).weightScale(1.5).maxPositions(64).omitConfigField("eos_token_id").seed(8),
                dir.resolve("draft"));
        prompt = target.randomTokens(48, 3);
        exact = ExactJoint.firstTwoTokens(target.model(), prompt, SamplingParams.ofTemperature(1, 0));
    }

    @AfterAll
    static void tearDown() throws Exception {
        target.close();
        draft.close();
    }

    @Test
    void theLevelsSampleExactlyTheTargetsDistribution() {
        long[] counts = new long[VOCAB * VOCAB];
        for (int seed = 0; seed < DRAWS; seed++) {
            SessionEvent start = SessionEvent.start("s" + seed, prompt, 2, new Sampling(1, 0, 1, seed));
            int[] tokens = Loopback.run(target.model(), draft.model(), start, SETTINGS, new Random(seed));
            counts[tokens[0] * VOCAB + tokens[1]]++;
        }
        ChiSquare.Result fit = ChiSquare.test(counts, exact, ALPHA);
        System.out.println("levels over loopback: " + fit);
        assertTrue(fit.fits(), "the levels' samples: " + fit);
    }
}
