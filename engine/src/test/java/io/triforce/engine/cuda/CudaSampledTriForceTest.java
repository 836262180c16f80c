package io.triforce.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.Decoder;
import io.triforce.engine.generate.Generation;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.sampling.Sampler;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.spec.ProbabilityRow;
import io.triforce.engine.spec.Proposal;
import io.triforce.engine.spec.RebuildPolicy;
import io.triforce.engine.spec.RejectionSampler;
import io.triforce.engine.spec.TokenPicker;
import io.triforce.engine.spec.TriForceConfig;
import io.triforce.engine.spec.TriForceDecoder;
import io.triforce.engine.spec.Verdict;
import io.triforce.engine.testing.ChiSquare;
import io.triforce.engine.testing.RequiresGpu;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Sampled TriForce with the target on the GPU, where the rejection tests of levels 2 and 3 run
 * on the device ({@link CudaSampling}), is distributed as the target: seeded generations of two
 * tokens against the target's exact joint distribution of its first two tokens (enumerated from
 * its GPU logits with the host's {@link Sampler}), by a chi-square test. The draft (on the GPU
 * too, over its StreamingLLM cache there) has other weights and level 2 a small budget, so both
 * levels reject often. Skipped where no
 * CUDA GPU is present.
 */
@RequiresGpu
class CudaSampledTriForceTest {

    private static final int DRAWS = 3000;
    private static final double ALPHA = 1e-3;
    private static final SamplingParams PARAMS = new SamplingParams(1, 6, 1, 0);

    private static Arena arena;
    private static CudaTransformer target;
    private static Transformer draft;
    private static int[] prompt;
    private static Map<Long, Integer> cells;   // (t1 * vocab + t2) -> cell; the last cell holds the impossible pairs
    private static double[] exact;

    @BeforeAll
    static void setUp() {
        arena = Arena.ofShared();
        ModelConfig config = ModelShapes.get("pycode-target");
        target = new CudaBackend().load(RandomWeights.create(config, 21, arena));
        draft = new CudaBackend().load(RandomWeights.create(ModelShapes.get("pycode-draft"), 22, arena));
        prompt = new Random(17).ints(300, 1, config.vocabSize()).toArray();
        enumerateExactJoint();
    }

    @AfterAll
    static void tearDown() {
        if (target != null) {
            target.close();
            draft.close();
            arena.close();
        }
    }

    private static void enumerateExactJoint() {
        int vocab = target.config().vocabSize();
        cells = new HashMap<>();
        List<Double> probabilities = new ArrayList<>();
        try (KvCache cache = target.newCache(new KvCacheSpec.Full(prompt.length + 1))) {
            float[] first = Sampler.distribution(target.forward(prompt, cache, 1)[0], PARAMS);
            for (int t1 = 0; t1 < vocab; t1++) {
                if (first[t1] > 0) {
                    float[] second = Sampler.distribution(target.forward(new int[] {t1}, cache, 1)[0], PARAMS);
                    cache.truncate(prompt.length);
                    for (int t2 = 0; t2 < vocab; t2++) {
                        if (second[t2] > 0) {
                            cells.put((long) t1 * vocab + t2, probabilities.size());
                            probabilities.add((double) first[t1] * second[t2]);
                        }
                    }
                }
            }
        }
        probabilities.add(0.0);
        exact = probabilities.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private record Draws(long[] counts, long level1Recovered, long level2Recovered) {
    }

    private static Draws draw(Decoder decoder, int n) {
        int vocab = target.config().vocabSize();
        long[] counts = new long[exact.length];
        long r1 = 0;
        long r2 = 0;
        for (int seed = 0; seed < n; seed++) {
            SamplingParams seeded = new SamplingParams(PARAMS.temperature(), PARAMS.topK(), PARAMS.topP(), seed);
            Generation g = decoder.generate(prompt, 2, seeded, TokenSink.IGNORE);
            counts[cells.getOrDefault((long) g.tokens()[0] * vocab + g.tokens()[1], exact.length - 1)]++;
            r1 += g.stats().level1().recovered();
            r2 += g.stats().level2().recovered();
        }
        return new Draws(counts, r1, r2);
    }

    @Test
    void aProposalLongerThanTheDeviceTakesIsJudgedOnTheHost() {
        int k = CudaSampling.MAX_PROPOSAL + 7;
        int vocab = target.config().vocabSize();
        int[] tokens = new Random(3).ints(k, 0, vocab).toArray();
        float[][] q = new float[k][vocab];
        for (int i = 0; i < k; i++) {
            Arrays.fill(q[i], 1f / vocab);
        }
        Proposal proposal = new Proposal(tokens, ProbabilityRow.of(q));
        int[] block = IntStream.concat(IntStream.of(prompt[prompt.length - 1]), IntStream.of(tokens)).toArray();
        Verdict[] verdicts = new Verdict[2];
        for (int run = 0; run < 2; run++) {
            try (KvCache cache = target.newCache(new KvCacheSpec.Full(prompt.length + k + 1))) {
                target.forward(Arrays.copyOf(prompt, prompt.length - 1), cache, 0);
                TokenPicker picker = new TokenPicker(PARAMS);
                verdicts[run] = run == 0 ? target.scoreAndVerify(block, cache, proposal, picker, false)
                        : new RejectionSampler().verify(proposal, target.forward(block, cache, k + 1), picker);
            }
        }
        assertEquals(verdicts[1].accepted(), verdicts[0].accepted());
        assertEquals(verdicts[1].nextToken(), verdicts[0].nextToken());
    }

    @Test
    void autoregressiveSamplingOnTheGpuFitsTheExactDistribution() {
        Draws d = draw(new AutoregressiveDecoder(target), DRAWS / 2);
        ChiSquare.Result fit = ChiSquare.test(d.counts(), exact, ALPHA);
        System.out.println("autoregressive on the GPU: " + fit);
        assertTrue(fit.fits(), "autoregressive: " + fit);
    }

    @Test
    void triForceOnTheGpuSamplesExactlyTheTargetsDistribution() {
        TriForceConfig settings = new TriForceConfig(2, 4, 64, 8, 4, 32, new RebuildPolicy.AtPrefill());
        Draws d = draw(new TriForceDecoder(target, draft, settings), DRAWS);
        ChiSquare.Result fit = ChiSquare.test(d.counts(), exact, ALPHA);
        System.out.printf("TriForce on the GPU: %s over %d pairs; level 1 recovered %d, level 2 recovered %d%n", fit,
                exact.length - 1, d.level1Recovered(), d.level2Recovered());
        assertTrue(fit.fits(), "TriForce: " + fit);
        assertTrue(d.level1Recovered() > DRAWS / 4, "level 1 recoveries " + d.level1Recovered());
        assertTrue(d.level2Recovered() > DRAWS / 20, "level 2 recoveries " + d.level2Recovered());
    }
}
