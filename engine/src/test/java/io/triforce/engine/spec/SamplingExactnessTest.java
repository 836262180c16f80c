package io.triforce.engine.spec;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.Decoder;
import io.triforce.engine.generate.Generation;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.testing.ChiSquare;
import io.triforce.engine.testing.ExactJoint;
import io.triforce.engine.testing.RandomCheckpoint;
import io.triforce.engine.testing.RandomModel;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Issue 3's exactness test: with sampling, TriForce's output is distributed as the target's.
 * A tiny target and an unrelated tiny draft (vocabulary 12), temperature 1; many seeded
 * TriForce generations of two tokens are compared with the target's exact joint distribution
 * of the first two tokens (enumerated from its logits) by a chi-square goodness-of-fit test.
 * The levels really differ: a 16-token retrieval budget over a 48-token prompt, a StreamingLLM
 * window of 8, and a draft with other weights, so both levels reject and recover often.
 *
 * <p>The test can fail: the same statistic over a decoder whose level 2 draws recovered tokens
 * from the draft's q instead of the residual norm(max(0, p - q)) (the reference code's gap),
 * injected through TriForceDecoder's package-private level-2 sampler, is far past the critical
 * value.
 */
class SamplingExactnessTest {

    private static final int VOCAB = 12;
    private static final int PROMPT_LENGTH = 48;
    private static final int DRAWS = 6000;
    private static final double ALPHA = 1e-3;
    private static final TriForceConfig CONFIG =
            new TriForceConfig(2, 4, 16, 4, 2, 8, new RebuildPolicy.AtPrefill());

    @TempDir
    static Path dir;
    private static RandomModel target;
    private static RandomModel draft;
    private static int[] prompt;
    private static double[] exact; // [t1 * VOCAB + t2] at temperature 1

    @BeforeAll
    static void setUp() {
        target = RandomModel.load(RandomCheckpoint.builder().dim(64).layers(2).heads(4).kvHeads(2).headDim(64)
                .hiddenDim(96).vocab(VOCAB).weightScale(1.5).maxPositions(64).omitConfigField("eos_token_id").seed(7), dir.resolve("target"));
        draft = RandomModel.load(RandomCheckpoint.builder().dim(64).layers(1).heads(1).headDim(64).hiddenDim(64)
                .vocab(VOCAB).weightScale(1.5).maxPositions(64).omitConfigField("eos_token_id").seed(8), dir.resolve("draft"));
        prompt = target.randomTokens(PROMPT_LENGTH, 3);
        exact = ExactJoint.firstTwoTokens(target.model(), prompt, SamplingParams.ofTemperature(1, 0));
    }

    @AfterAll
    static void tearDown() throws Exception {
        target.close();
        draft.close();
    }

    private record Draws(long[] counts, long level1Recovered, long level2Recovered, long level1Proposed,
                         long level2Proposed) {
    }

    private static Draws draw(Decoder decoder, int n) {
        return draw(decoder, n, SamplingParams.ofTemperature(1, 0));
    }

    /** {@code n} generations of two tokens, seeds 0..n-1, with {@code params}' filters. */
    private static Draws draw(Decoder decoder, int n, SamplingParams params) {
        long[] counts = new long[VOCAB * VOCAB];
        long r1 = 0;
        long r2 = 0;
        long p1 = 0;
        long p2 = 0;
        for (int seed = 0; seed < n; seed++) {
            SamplingParams seeded = new SamplingParams(params.temperature(), params.topK(), params.topP(), seed);
            Generation g = decoder.generate(prompt, 2, seeded, TokenSink.IGNORE);
            counts[g.tokens()[0] * VOCAB + g.tokens()[1]]++;
            r1 += g.stats().level1().recovered();
            r2 += g.stats().level2().recovered();
            p1 += g.stats().level1().proposed();
            p2 += g.stats().level2().proposed();
        }
        return new Draws(counts, r1, r2, p1, p2);
    }

    @Test
    void theTargetsDistributionIsSpreadOutEnoughToTest() {
        double max = Arrays.stream(exact).max().orElseThrow();
        long cells = Arrays.stream(exact).filter(p -> p * DRAWS >= ChiSquare.MIN_EXPECTED).count();
        System.out.printf("largest pair probability %.3f, %d cells expecting >= 5 of %d draws%n", max, cells, DRAWS);
        assertTrue(max < 0.5, "no pair dominates: " + max);
        assertTrue(cells >= 30, "enough testable cells: " + cells);
    }

    @Test
    void autoregressiveSamplingFitsTheExactDistribution() {
        // the harness itself (enumeration, seeds, statistic) on the decoder that is exact by construction
        Draws d = draw(new AutoregressiveDecoder(target.model()), DRAWS / 2);
        ChiSquare.Result fit = ChiSquare.test(d.counts(), exact, ALPHA);
        assertTrue(fit.fits(), "autoregressive: " + fit);
    }

    @Test
    void triForceSamplesExactlyTheTargetsDistribution() {
        Draws d = draw(new TriForceDecoder(target.model(), draft.model(), CONFIG), DRAWS);
        ChiSquare.Result fit = ChiSquare.test(d.counts(), exact, ALPHA);
        System.out.printf("TriForce: %s; level 1 recovered %d of %d proposed, level 2 recovered %d of %d%n", fit,
                d.level1Recovered(), d.level1Proposed(), d.level2Recovered(), d.level2Proposed());
        assertTrue(fit.fits(), "TriForce: " + fit);
        // both levels rejected and recovered often: the residual rule ran at each level
        assertTrue(d.level1Recovered() > DRAWS / 4, "level 1 recoveries " + d.level1Recovered());
        assertTrue(d.level2Recovered() > DRAWS / 20, "level 2 recoveries " + d.level2Recovered());
    }

    @Test
    void adaptiveProposalLengthsSampleExactlyTheTargetsDistribution() {
        // the lengths follow earlier verdicts (level 1's within the first target pass), never the draws
        // of the proposal being judged
        TriForceConfig adaptive = new TriForceConfig(1, 2, 16, 4, 2, 8, new RebuildPolicy.AtPrefill(), true);
        Draws d = draw(new TriForceDecoder(target.model(), draft.model(), adaptive), DRAWS / 2);
        ChiSquare.Result fit = ChiSquare.test(d.counts(), exact, ALPHA);
        assertTrue(fit.fits(), "TriForce, adaptive: " + fit);
    }

    @ParameterizedTest(name = "temperature {0}, top-k {1}, top-p {2}")
    @CsvSource({"0.7, 0, 0.9", "1.3, 5, 1"})
    void filtersApplyToEveryLevelAlike(double temperature, int topK, double topP) {
        // truncated supports: draft tokens the target's filter excludes (p = 0) must always be
        // rejected, and nothing outside the target's support may ever be committed
        SamplingParams params = new SamplingParams(temperature, topK, topP, 0);
        double[] filtered = ExactJoint.firstTwoTokens(target.model(), prompt, params);
        assertTrue(Arrays.stream(filtered).filter(p -> p == 0).count() > VOCAB, "the filter truncates");
        Draws d = draw(new TriForceDecoder(target.model(), draft.model(), CONFIG), DRAWS / 2, params);
        ChiSquare.Result fit = ChiSquare.test(d.counts(), filtered, ALPHA);
        assertTrue(fit.fits(), "TriForce with " + params + ": " + fit);
    }

    @Test
    void theTestCatchesALevel2RuleThatDrawsRecoveredTokensFromQ() {
        RejectionSampler broken = new RejectionSampler((p, q) -> q);
        Draws d = draw(new TriForceDecoder(target.model(), draft.model(), CONFIG, broken), DRAWS / 3);
        ChiSquare.Result fit = ChiSquare.test(d.counts(), exact, ALPHA);
        System.out.println("TriForce with level 2 recovering from q: " + fit);
        assertFalse(fit.fits(), "the broken rule must be detected: " + fit);
    }
}
