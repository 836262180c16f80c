package io.triforce.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class SamplerTest {

    /** log of probabilities, so that softmax at temperature 1 gives them back. */
    private static float[] logitsOf(double... probs) {
        float[] logits = new float[probs.length];
        for (int i = 0; i < probs.length; i++) {
            logits[i] = (float) Math.log(probs[i]);
        }
        return logits;
    }

    private static int support(float[] probs) {
        return (int) IntStream.range(0, probs.length).filter(i -> probs[i] > 0).count();
    }

    private static double sum(float[] probs) {
        double s = 0;
        for (float p : probs) {
            s += p;
        }
        return s;
    }

    @Test
    void argmaxTakesTheLowestIdOnTies() {
        assertEquals(1, Sampler.argmax(new float[] {1, 3, 3, 2}));
        assertEquals(0, Sampler.argmax(new float[] {5, 5}));
        assertEquals(2, Sampler.argmax(new float[] {Float.NEGATIVE_INFINITY, -7, -1, -1}));
    }

    @Test
    void greedyIsOneHotArgmaxAndTakesNoDraw() {
        float[] logits = {0.1f, 2f, 2f, -1f};
        assertArrayEquals(new float[] {0, 1, 0, 0}, Sampler.distribution(logits, SamplingParams.GREEDY));
        RandomGenerator random = Sampler.newRandom(5);
        RandomGenerator untouched = Sampler.newRandom(5);
        assertEquals(1, Sampler.next(logits, SamplingParams.GREEDY, random));
        assertEquals(untouched.nextLong(), random.nextLong());
    }

    @Test
    void temperatureScalesLogitsBeforeSoftmax() {
        float[] logits = {1.5f, -0.3f, 0.2f, 3.1f, -2f, 0f};
        for (double t : new double[] {0.3, 0.7, 1, 2.5}) {
            float[] probs = Sampler.distribution(logits, SamplingParams.ofTemperature(t, 0));
            double z = 0;
            for (float l : logits) {
                z += Math.exp(l / t);
            }
            for (int i = 0; i < logits.length; i++) {
                assertEquals(Math.exp(logits[i] / t) / z, probs[i], 1e-6, "t=" + t + " token " + i);
            }
        }
    }

    @Test
    void topKKeepsExactlyKLargestRenormalised() {
        SplittableRandom random = new SplittableRandom(11);
        float[] logits = new float[1000];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) random.nextGaussian() * 3;
        }
        int[] order = IntStream.range(0, logits.length).boxed()
                .sorted(Comparator.comparingDouble(i -> -logits[i])).mapToInt(Integer::intValue).toArray();
        for (int k : new int[] {1, 10, 200}) {
            float[] probs = Sampler.distribution(logits, new SamplingParams(0.8, k, 1, 0));
            assertEquals(k, support(probs), "k=" + k);
            for (int i = 0; i < k; i++) {
                assertTrue(probs[order[i]] > 0, "k=" + k + " misses rank " + i);
            }
            assertEquals(1, sum(probs), 1e-5);
            if (k > 1) {
                double ratio = probs[order[0]] / probs[order[1]];
                assertEquals(Math.exp((logits[order[0]] - logits[order[1]]) / 0.8), ratio, 1e-4 * ratio);
            }
        }
    }

    @Test
    void topKBreaksTiesTowardsLowerIds() {
        float[] probs = Sampler.distribution(new float[] {1, 2, 2, 2, 0}, new SamplingParams(1, 2, 1, 0));
        assertArrayEquals(new float[] {0, 0.5f, 0.5f, 0, 0}, probs);
    }

    @Test
    void topPKeepsTheSmallestPrefixReachingP() {
        float[] logits = logitsOf(0.15, 0.5, 0.05, 0.3);
        assertArrayEquals(new float[] {0, 1, 0, 0}, Sampler.distribution(logits, new SamplingParams(1, 0, 0.49, 0)), 1e-6f);
        // 0.5 < 0.79: the boundary token 0.3 is kept, reaching 0.8.
        assertArrayEquals(new float[] {0, 0.625f, 0, 0.375f},
                Sampler.distribution(logits, new SamplingParams(1, 0, 0.79, 0)), 1e-6f);
        assertArrayEquals(new float[] {0.15f / 0.95f, 0.5f / 0.95f, 0, 0.3f / 0.95f},
                Sampler.distribution(logits, new SamplingParams(1, 0, 0.81, 0)), 1e-6f);
        assertEquals(4, support(Sampler.distribution(logits, new SamplingParams(1, 0, 0.999, 0))));
    }

    @Test
    void topKAppliesBeforeTopP() {
        float[] logits = logitsOf(0.15, 0.5, 0.05, 0.3);
        // After top-3 the masses are 0.526, 0.316, 0.158: 0.83 is reached by two tokens
        // (top-p first would have needed three: 0.5 + 0.3 < 0.83).
        float[] probs = Sampler.distribution(logits, new SamplingParams(1, 3, 0.83, 0));
        assertArrayEquals(new float[] {0, 0.625f, 0, 0.375f}, probs, 1e-6f);
    }

    @Test
    void matchesAFullSortReferenceOnLargeVocabularies() {
        SplittableRandom random = new SplittableRandom(3);
        for (int trial = 0; trial < 40; trial++) {
            int n = 1 + random.nextInt(20_000);
            float[] logits = new float[n];
            double scale = random.nextDouble(0.1, 8);
            for (int i = 0; i < n; i++) {
                logits[i] = (float) (random.nextGaussian() * scale);
            }
            if (trial % 4 == 0) {
                for (int i = 0; i < n; i++) {
                    logits[i] = Math.round(logits[i]); // many ties
                }
            }
            int k = random.nextBoolean() ? 0 : 1 + random.nextInt(Math.min(n, 3000));
            double p = random.nextBoolean() ? 1 : random.nextDouble(0.05, 1);
            SamplingParams params = new SamplingParams(random.nextDouble(0.2, 2), k, p, 0);
            assertArrayEquals(ReferenceSampler.distribution(logits, params), Sampler.distribution(logits, params),
                    1e-6f, params + " n=" + n);
        }
    }

    @Test
    void seededDrawsAreReproducible() {
        float[] probs = Sampler.distribution(new float[] {0.3f, 1.2f, -0.4f, 0.9f, 0f}, SamplingParams.ofTemperature(1, 0));
        int[] first = draws(probs, Sampler.newRandom(1234), 50);
        assertArrayEquals(first, draws(probs, Sampler.newRandom(1234), 50));
        assertFalse(Arrays.equals(first, draws(probs, Sampler.newRandom(1235), 50)));
        // L64X128MixRandom is specified by the JDK: these stay the same on every platform.
        assertArrayEquals(new int[] {0, 1, 1, 1, 1, 4, 1, 1, 3, 1, 0, 0}, Arrays.copyOf(first, 12));
    }

    private static int[] draws(float[] probs, RandomGenerator random, int count) {
        int[] out = new int[count];
        for (int i = 0; i < count; i++) {
            out[i] = Sampler.sample(probs, random);
        }
        return out;
    }

    @Test
    void sampleAcceptsUnnormalisedWeightsAndRejectsAnEmptySupport() {
        RandomGenerator random = Sampler.newRandom(9);
        for (int i = 0; i < 100; i++) {
            assertEquals(2, Sampler.sample(new float[] {0, 0, 0.2f, 0}, random));
        }
        var e = assertThrows(IllegalArgumentException.class, () -> Sampler.sample(new float[3], random));
        assertEquals("probabilities must have a positive finite sum, got 0.0", e.getMessage());
    }

    /** Pearson's statistic of observed counts against the expected probabilities. */
    private static double chiSquare(long[] counts, double[] expected, long draws) {
        double chi = 0;
        for (int i = 0; i < counts.length; i++) {
            double e = expected[i] * draws;
            chi += (counts[i] - e) * (counts[i] - e) / e;
        }
        return chi;
    }

    private static long[] histogram(float[] probs, int draws, long seed) {
        RandomGenerator random = Sampler.newRandom(seed);
        long[] counts = new long[probs.length];
        for (int i = 0; i < draws; i++) {
            counts[Sampler.sample(probs, random)]++;
        }
        return counts;
    }

    /** Chi-square critical value at p = 0.001 for 7 degrees of freedom. */
    private static final double CRITICAL_7_DOF = 24.32;

    @Test
    void sampledFrequenciesMatchTheDistribution() {
        double[] expected = {0.05, 0.1, 0.15, 0.2, 0.25, 0.1, 0.05, 0.1};
        float[] probs = new float[expected.length];
        for (int i = 0; i < probs.length; i++) {
            probs[i] = (float) expected[i];
        }
        int draws = 100_000;
        long[] counts = histogram(probs, draws, 42);
        assertTrue(chiSquare(counts, expected, draws) < CRITICAL_7_DOF, "chi2 = " + chiSquare(counts, expected, draws));

        // Negative control: the same draws against a slightly different distribution.
        double[] wrong = {0.06, 0.09, 0.15, 0.2, 0.25, 0.1, 0.05, 0.1};
        double chi = chiSquare(counts, wrong, draws);
        assertTrue(chi > 10 * CRITICAL_7_DOF, "negative control chi2 = " + chi);
    }

    @Test
    void sampledFrequenciesMatchTheFilteredDistribution() {
        float[] logits = {2.0f, 1.1f, 0.3f, -0.5f, 1.7f, 0.9f, -1.2f, 0.0f, 1.4f, -3f, 0.6f};
        SamplingParams params = new SamplingParams(0.8, 9, 0.97, 0); // keeps 8 of 11
        double[] expected = Arrays.stream(toDouble(ReferenceSampler.distribution(logits, params)))
                .filter(x -> x > 0).toArray();
        assertEquals(8, expected.length);
        float[] probs = Sampler.distribution(logits, params);
        int draws = 100_000;
        long[] all = histogram(probs, draws, 7);
        long[] counts = IntStream.range(0, probs.length).filter(i -> probs[i] > 0).mapToLong(i -> all[i]).toArray();
        assertEquals(draws, Arrays.stream(counts).sum(), "a token outside the support was drawn");
        assertTrue(chiSquare(counts, expected, draws) < CRITICAL_7_DOF, "chi2 = " + chiSquare(counts, expected, draws));
    }

    private static double[] toDouble(float[] x) {
        return IntStream.range(0, x.length).mapToDouble(i -> x[i]).toArray();
    }
}
