package io.triforce.engine.sampling;

import java.util.random.RandomGenerator;
import java.util.random.RandomGeneratorFactory;

/**
 * Turns logits into a next-token distribution and draws from it. All methods are pure functions
 * of their arguments (the random generator aside), so the speculative decoder can apply the very
 * same transform to target and draft logits before its rejection test.
 *
 * <p>Order of the transform, as in Hugging Face's generate: temperature, then top-k, then top-p.
 * Ties are broken towards the lower token id (argmax, and the boundary of top-k and top-p).
 * Logits may be {@code -Infinity} (masked) but not NaN.
 */
public final class Sampler {

    /**
     * The random algorithm of {@link #newRandom}: L64X128MixRandom, an LXM generator whose
     * algorithm is fully specified by the JDK, so a seed gives the same draws on every platform
     * and JDK.
     */
    public static final String RANDOM_ALGORITHM = "L64X128MixRandom";

    /** Candidates selected first for top-p without top-k; multiplied by 8 until they hold the mass. */
    private static final int TOP_P_FIRST_CANDIDATES = 64;

    private Sampler() {
    }

    /** A new {@value #RANDOM_ALGORITHM} generator seeded with {@code seed}. */
    public static RandomGenerator newRandom(long seed) {
        return RandomGeneratorFactory.of(RANDOM_ALGORITHM).create(seed);
    }

    /** The index of the largest logit; the lowest such index on ties. */
    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }

    /**
     * The next token: {@link #argmax} when greedy (no distribution is built, no random draw is
     * taken), else one draw from {@link #distribution}.
     */
    public static int next(float[] logits, SamplingParams params, RandomGenerator random) {
        return params.isGreedy() ? argmax(logits) : sample(distribution(logits, params), random);
    }

    /**
     * The probability of every token after temperature, top-k and top-p: zero outside the kept
     * support, renormalised to sum to 1 on it. Greedy gives the one-hot vector of the argmax.
     */
    public static float[] distribution(float[] logits, SamplingParams params) {
        int n = logits.length;
        float[] probs = new float[n];
        if (params.isGreedy()) {
            probs[argmax(logits)] = 1f;
            return probs;
        }
        double inverseT = 1 / params.temperature();
        boolean topK = params.topK() > 0 && params.topK() < n;
        if (!topK && params.topP() == 1) {
            softmax(logits, inverseT, probs);
            return probs;
        }
        int[] candidates;
        float max;
        double total;
        if (topK) {
            candidates = TopSelection.largest(logits, params.topK());
            max = logits[candidates[0]];
            total = 0;
            for (int token : candidates) {
                total += Math.exp((logits[token] - max) * inverseT);
            }
        } else {
            max = logits[argmax(logits)];
            total = 0;
            for (float logit : logits) {
                total += Math.exp((logit - max) * inverseT);
            }
            candidates = nucleusCandidates(logits, max, inverseT, params.topP() * total);
        }
        double[] weights = new double[candidates.length];
        for (int i = 0; i < candidates.length; i++) {
            weights[i] = Math.exp((logits[candidates[i]] - max) * inverseT);
        }
        int kept = params.topP() == 1 ? candidates.length : nucleusSize(weights, params.topP() * total);
        double keptMass = 0;
        for (int i = 0; i < kept; i++) {
            keptMass += weights[i];
        }
        for (int i = 0; i < kept; i++) {
            probs[candidates[i]] = (float) (weights[i] / keptMass);
        }
        return probs;
    }

    private static void softmax(float[] logits, double inverseT, float[] probs) {
        float max = logits[argmax(logits)];
        double total = 0;
        for (int i = 0; i < logits.length; i++) {
            double w = Math.exp((logits[i] - max) * inverseT);
            probs[i] = (float) w;
            total += w;
        }
        for (int i = 0; i < logits.length; i++) {
            probs[i] = (float) (probs[i] / total);
        }
    }

    /**
     * The most likely tokens, most likely first, enough of them to hold {@code threshold} of
     * weight (weights exp((logit - max) / T), summed most likely first).
     */
    private static int[] nucleusCandidates(float[] logits, float max, double inverseT, double threshold) {
        for (int m = Math.min(TOP_P_FIRST_CANDIDATES, logits.length); ; m = Math.min(8 * m, logits.length)) {
            int[] top = TopSelection.largest(logits, m);
            double mass = 0;
            for (int token : top) {
                mass += Math.exp((logits[token] - max) * inverseT);
            }
            if (mass >= threshold || m == logits.length) {
                return top;
            }
        }
    }

    /**
     * How many of {@code weights} (most likely first) top-p keeps: the smallest prefix whose
     * weight is >= threshold, i.e. every token whose more likely tokens weigh less than it.
     */
    private static int nucleusSize(double[] weights, double threshold) {
        double mass = 0;
        for (int i = 0; i < weights.length; i++) {
            mass += weights[i];
            if (mass >= threshold) {
                return i + 1;
            }
        }
        return weights.length;
    }

    /**
     * One draw by inverse CDF from one uniform {@code random.nextDouble()}: token i with
     * probability {@code probs[i] / sum(probs)}. The weights need not sum exactly to 1 (a residual
     * max(0, p - q) can be passed as is) but must be >= 0 with a positive sum.
     */
    public static int sample(float[] probs, RandomGenerator random) {
        double total = 0;
        for (float p : probs) {
            total += p;
        }
        if (!(total > 0) || Double.isInfinite(total)) {
            throw new IllegalArgumentException("probabilities must have a positive finite sum, got " + total);
        }
        double u = random.nextDouble() * total;
        double cumulative = 0;
        int last = -1;
        for (int i = 0; i < probs.length; i++) {
            if (probs[i] > 0) {
                cumulative += probs[i];
                last = i;
                if (u < cumulative) {
                    return i;
                }
            }
        }
        return last;
    }
}
