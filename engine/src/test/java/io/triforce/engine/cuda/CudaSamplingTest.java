package io.triforce.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.sampling.Sampler;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.spec.ProbabilityRow;
import io.triforce.engine.spec.Proposal;
import io.triforce.engine.spec.TokenPicker;
import io.triforce.engine.spec.Verdict;
import io.triforce.engine.testing.RequiresGpu;
import java.util.Random;
import java.util.random.RandomGenerator;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The GPU's sampling and rejection kernels ({@link CudaSampling}) against the host's rules
 * ({@link Sampler}, the rejection test of {@code RejectionSampler}) on the same rows of logits
 * and the same uniforms. Skipped where no CUDA GPU is present.
 */
@RequiresGpu
class CudaSamplingTest {

    private static final int VOCAB = 32000;

    private CudaDevice dev;
    private CudaSampling sampling;
    private CUdeviceptr logits;

    @BeforeEach
    void setUp() {
        dev = CudaDevice.get();
        dev.use();
        sampling = new CudaSampling(dev, this, VOCAB);
        logits = dev.alloc(4L * 64 * VOCAB);
    }

    @AfterEach
    void tearDown() {
        if (sampling != null) {
            sampling.close();
            CudaDevice.free(logits);
        }
    }

    /**
     * Rows like a language model's (a few strong tokens, a long tail), with ties among the
     * strong tokens and a masked token, so the cuts meet equal keys and -Infinity.
     */
    private static float[] row(Random random) {
        float[] row = new float[VOCAB];
        for (int i = 0; i < VOCAB; i++) {
            row[i] = (float) (random.nextGaussian() * 2);
        }
        for (int i = 0; i < 20; i++) {
            row[random.nextInt(VOCAB)] = 8 + random.nextInt(4);
        }
        row[random.nextInt(VOCAB)] = Float.NEGATIVE_INFINITY;
        return row;
    }

    /**
     * Rows whose top holds {@code tied} equal logits: the cut falls among them, by id. More ties
     * than the kernel sorts in shared memory (8192) take its bisection path.
     */
    private static float[] plateau(Random random, int tied) {
        float[] row = new float[VOCAB];
        for (int i = 0; i < VOCAB; i++) {
            row[i] = (float) (random.nextGaussian() - 3);
        }
        for (int i : random.ints(0, VOCAB).distinct().limit(tied).toArray()) {
            row[i] = 1;
        }
        return row;
    }

    private void upload(float[][] rows) {
        for (int i = 0; i < rows.length; i++) {
            dev.toDevice(logits.withByteOffset(4L * i * VOCAB), Pointer.to(rows[i]), 4L * VOCAB);
        }
    }

    @ParameterizedTest(name = "temperature {0}, top-k {1}, top-p {2}, {3} tied at the top")
    @CsvSource({"1, 0, 1, 0", "0.7, 0, 0.9, 0", "1.3, 40, 1, 0", "1, 1000, 0.8, 0", "0.3, 0, 0.5, 0",
                "2, 0, 0.99, 0", "1, 3, 1, 0", "1, 100, 1, 3000", "0.8, 0, 0.5, 3000", "1, 5000, 0.7, 20000",
                "1, 0, 0.3, 20000"})
    void distributionsAndDrawsMatchTheHostSampler(double temperature, int topK, double topP, int tied) {
        Random random = new Random(11);
        int sameDraws = 0;
        for (int trial = 0; trial < 20; trial++) {
            float[] row = tied == 0 ? row(random) : plateau(random, tied);
            upload(new float[][] {row});
            SamplingParams params = new SamplingParams(temperature, topK, topP, trial);
            Verdict verdict = sampling.verify(logits, Proposal.NONE, new TokenPicker(params), true);
            float[] host = Sampler.distribution(row, params);
            float[] gpu = verdict.verifierProbabilities()[0].values();
            int support = 0;
            for (int i = 0; i < VOCAB; i++) {
                assertEquals(host[i] > 0, gpu[i] > 0, "token " + i + " in the support, trial " + trial);
                assertEquals(host[i], gpu[i], 1e-5 * host[i] + 1e-9, "p(" + i + "), trial " + trial);
                support += host[i] > 0 ? 1 : 0;
            }
            assertTrue(verdict.bonus() && verdict.accepted() == 0);
            assertTrue(host[verdict.nextToken()] > 0, "the draw is in the support");
            sameDraws += verdict.nextToken() == Sampler.sample(host, Sampler.newRandom(trial)) ? 1 : 0;
            if (topK > 0 && topP == 1) {
                assertEquals(Math.min(topK, VOCAB), support, "top-k keeps k tokens");
            }
        }
        assertEquals(20, sameDraws, "the same uniform draws the same token");
    }

    @Test
    void rejectionTestMatchesTheHostRule() {
        Random random = new Random(5);
        SamplingParams params = new SamplingParams(0.9, 0, 0.95, 0);
        int k = 6;
        int[] outcomes = new int[k + 2];
        for (int trial = 0; trial < 150; trial++) {
            // q: a draft's distributions; p: a verifier that mostly agrees with it
            float[][] target = new float[k + 1][];
            float[][] q = new float[k][];
            int[] tokens = new int[k];
            RandomGenerator draftStream = Sampler.newRandom(1000 + trial);
            for (int i = 0; i <= k; i++) {
                target[i] = row(random);
                if (i < k) {
                    float[] draft = target[i].clone();
                    for (int j = 0; j < VOCAB; j++) {
                        draft[j] += (float) (random.nextGaussian() * (trial % 3));
                    }
                    q[i] = Sampler.distribution(draft, params);
                    tokens[i] = Sampler.sample(q[i], draftStream);
                }
            }
            upload(target);
            SamplingParams seeded = new SamplingParams(params.temperature(), params.topK(), params.topP(), trial);
            Verdict gpu = sampling.verify(logits, new Proposal(tokens, ProbabilityRow.of(q)), new TokenPicker(seeded), true);
            Verdict host = hostRule(target, q, tokens, seeded);
            assertEquals(host.accepted(), gpu.accepted(), "accepted, trial " + trial);
            assertEquals(host.nextToken(), gpu.nextToken(), "next token, trial " + trial);
            assertEquals(host.bonus(), gpu.bonus(), "bonus, trial " + trial);
            assertEquals(gpu.accepted() + 1, gpu.verifierProbabilities().length, "p for the kept rows");
            outcomes[gpu.accepted() + (gpu.bonus() ? 1 : 0)]++;
        }
        System.out.println("accepted 0.." + k + " then bonus: " + java.util.Arrays.toString(outcomes));
        assertTrue(outcomes[0] > 0 && outcomes[k + 1] > 0, "both early rejections and bonus tokens occur");
    }

    @Test
    void qKeptOnTheDeviceIsJudgedAsTheSameRowsFromTheHost() {
        Random random = new Random(9);
        SamplingParams params = new SamplingParams(0.8, 0, 0.95, 0);
        int k = 5;
        try (CudaSampling draft = new CudaSampling(dev, this, VOCAB)) {
            for (int trial = 0; trial < 20; trial++) {
                // the draft's steps: a row of logits each, its p kept on the device as q, its draw the token
                float[][] target = new float[k + 1][];
                ProbabilityRow[] kept = new ProbabilityRow[k];
                int[] tokens = new int[k];
                TokenPicker draftPicker = new TokenPicker(new SamplingParams(0.8, 0, 0.95, 100 + trial));
                for (int i = 0; i < k; i++) {
                    target[i] = row(random);
                    float[] draftRow = target[i].clone();
                    for (int j = 0; j < VOCAB; j++) {
                        draftRow[j] += (float) random.nextGaussian();
                    }
                    upload(new float[][] {draftRow});
                    Verdict step = draft.verify(logits, Proposal.NONE, draftPicker, true);
                    kept[i] = step.verifierProbabilities()[0];
                    tokens[i] = step.nextToken();
                }
                target[k] = row(random);
                float[][] onHost = new float[k][];
                for (int i = 0; i < k; i++) {
                    onHost[i] = kept[i].values();
                    assertTrue(onHost[i][tokens[i]] > 0, "the draft's token is in its q's support");
                }
                ProbabilityRow[] mixed = kept.clone();
                mixed[2] = ProbabilityRow.of(onHost[2]);    // a host row between device rows
                upload(target);
                SamplingParams seeded = new SamplingParams(params.temperature(), params.topK(), params.topP(), trial);
                Verdict expected = hostRule(target, onHost, tokens, seeded);
                for (ProbabilityRow[] q : new ProbabilityRow[][] {kept, mixed, ProbabilityRow.of(onHost)}) {
                    Verdict gpu = sampling.verify(logits, new Proposal(tokens, q), new TokenPicker(seeded), false);
                    assertEquals(expected.accepted(), gpu.accepted(), "accepted, trial " + trial);
                    assertEquals(expected.nextToken(), gpu.nextToken(), "next token, trial " + trial);
                }
            }
        }
    }

    @Test
    void aKeptRowReadAfterTheRingCameRoundIsAnError() {
        Random random = new Random(2);
        float[][] rows = new float[64][];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = row(random);
        }
        upload(rows);
        KeptRows ring = new KeptRows(dev, this, VOCAB);
        ProbabilityRow[] together = ring.keep(logits, 3);
        assertEquals(rows[1][7], together[1].values()[7], "a kept row is the row it copied");
        ProbabilityRow[] first = ring.keep(logits, 64);
        ProbabilityRow[] second = ring.keep(logits, 61);
        ring.keep(logits, 1);   // slot 0 again: together[0] is overwritten, but came down with together[1]
        assertEquals(rows[0][7], together[0].values()[7], "rows kept together come down together");
        assertEquals(rows[2][7], together[2].values()[7], "rows kept together come down together");
        ring.keep(logits, 3);   // slots 1-3: first[0] is overwritten
        IllegalStateException overwritten = assertThrows(IllegalStateException.class, () -> first[0].values());
        assertTrue(overwritten.getMessage().contains("overwritten"), overwritten.getMessage());
        assertEquals(rows[1][3], first[1].values()[3], "the next row is still there");
        ring.close();
        assertThrows(IllegalStateException.class, () -> second[9].values(), "freed with its model");
    }

    /**
     * The host's rule with the device's uniforms: the picker's stream gives one uniform per
     * proposed token, then the one for the recovered or bonus draw.
     */
    private static Verdict hostRule(float[][] logits, float[][] q, int[] tokens, SamplingParams params) {
        RandomGenerator stream = Sampler.newRandom(params.seed());
        double[] u = new double[tokens.length + 1];
        for (int i = 0; i < u.length; i++) {
            u[i] = stream.nextDouble();
        }
        for (int i = 0; i < tokens.length; i++) {
            float[] p = Sampler.distribution(logits[i], params);
            int x = tokens[i];
            if (!(p[x] > 0 && u[i] * q[i][x] < p[x])) {
                float[] residual = new float[p.length];
                boolean mass = false;
                for (int j = 0; j < p.length; j++) {
                    residual[j] = Math.max(0f, p[j] - q[i][j]);
                    mass |= residual[j] > 0;
                }
                return new Verdict(i, Sampler.sample(mass ? residual : p, fixed(u[tokens.length])), false, null);
            }
        }
        float[] p = Sampler.distribution(logits[tokens.length], params);
        return new Verdict(tokens.length, Sampler.sample(p, fixed(u[tokens.length])), true, null);
    }

    /** A generator whose next double is {@code u} (a double drawn by nextDouble: a multiple of 2^-53). */
    private static RandomGenerator fixed(double u) {
        long bits = (long) (u * 0x1p53) << 11;
        return () -> bits;
    }
}
