package io.triforce.engine.spec;

import static io.triforce.engine.testing.ErrorMessages.assertMentions;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.sampling.Sampler;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.testing.ChiSquare;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;

/** The rejection sampler's rules and edge cases, greedy and sampled. */
class RejectionSamplerTest {

    private static final float NEG = Float.NEGATIVE_INFINITY;
    private final RejectionSampler sampler = new RejectionSampler();

    private static TokenPicker sampling(long seed) {
        return new TokenPicker(SamplingParams.ofTemperature(1, seed));
    }

    private static TokenPicker greedy() {
        return new TokenPicker(SamplingParams.GREEDY);
    }

    /** Logits whose softmax at temperature 1 is {@code probs} (zero -> -inf). */
    private static float[] logitsOf(double... probs) {
        float[] logits = new float[probs.length];
        for (int i = 0; i < probs.length; i++) {
            logits[i] = probs[i] == 0 ? NEG : (float) Math.log(probs[i]);
        }
        return logits;
    }

    private static float[] probs(double... p) {
        float[] f = new float[p.length];
        for (int i = 0; i < p.length; i++) {
            f[i] = (float) p[i];
        }
        return f;
    }

    // ---- greedy ---------------------------------------------------------------------------------

    @Test
    void greedyOnTheVerifiersPicksIsTheGreedyRuleOnItsLogits() {
        RandomGenerator random = RandomGenerator.of("L64X128MixRandom");
        for (int trial = 0; trial < 200; trial++) {
            int k = 1 + random.nextInt(5);
            float[][] logits = new float[k + 1][6];
            int[] picks = new int[k + 1];
            for (int r = 0; r <= k; r++) {
                for (int v = 0; v < 6; v++) {
                    logits[r][v] = random.nextInt(4); // small integers: ties happen
                }
                picks[r] = Sampler.argmax(logits[r]);
            }
            int[] tokens = random.ints(k, 0, 6).toArray();
            Proposal proposal = new Proposal(tokens, null);
            assertEquals(sampler.verify(proposal, logits, greedy()), sampler.verifyGreedy(proposal, picks),
                    "trial " + trial);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> sampler.verifyGreedy(new Proposal(new int[] {1, 2}, null), new int[] {1, 2}));
        assertMentions(e, "need 3 picks for 2 proposed tokens, got 2");
    }

    @Test
    void greedyAcceptsWhileTheProposalIsTheArgmaxThenAddsTheVerifiersToken() {
        float[][] logits = {
                {0, 5, 1, 2},   // argmax 1
                {9, 1, 1, 2},   // argmax 0
                {0, 1, 1, 7},   // argmax 3
                {0, 1, 8, 2}};  // argmax 2: the bonus row
        Verdict all = sampler.verify(new Proposal(new int[] {1, 0, 3}, null), logits, greedy());
        assertEquals(3, all.accepted());
        assertEquals(2, all.nextToken());
        assertTrue(all.bonus());
        assertNull(all.verifierProbabilities());

        Verdict first = sampler.verify(new Proposal(new int[] {2, 0, 3}, null), logits, greedy());
        assertEquals(0, first.accepted());
        assertEquals(1, first.nextToken(), "the verifier's own token at the first mismatch");
        assertTrue(first.recovered());

        Verdict third = sampler.verify(new Proposal(new int[] {1, 0, 2}, null), logits, greedy());
        assertEquals(2, third.accepted());
        assertEquals(3, third.nextToken());
        assertFalse(third.bonus());

        // ties: the argmax is the lowest id, so the higher tied id is a mismatch
        float[][] tied = {{1, 4, 4}, {0, 0, 1}};
        assertEquals(1, sampler.verify(new Proposal(new int[] {1}, null), tied, greedy()).accepted());
        Verdict tieMiss = sampler.verify(new Proposal(new int[] {2}, null), tied, greedy());
        assertEquals(0, tieMiss.accepted());
        assertEquals(1, tieMiss.nextToken());
    }

    @Test
    void needsOneMoreRowOfLogitsThanProposedTokens() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> sampler.verify(new Proposal(new int[] {1, 2}, null), new float[2][3], greedy()));
        assertMentions(e, "3 rows", "2 proposed", "got 2");
    }

    // ---- sampling -------------------------------------------------------------------------------

    @Test
    void pEqualToQAlwaysAcceptsAndTheBonusComesFromTheLastRow() {
        float[][] logits = {logitsOf(0.2, 0.3, 0.5), logitsOf(0.6, 0.1, 0.3), logitsOf(0.05, 0.9, 0.05),
                logitsOf(0, 0, 1)};
        int[] bonusCounts = new int[3];
        for (long seed = 0; seed < 2000; seed++) {
            TokenPicker picker = sampling(seed);
            float[][] q = new float[3][];
            int[] tokens = new int[3];
            for (int i = 0; i < 3; i++) {
                q[i] = picker.distribution(logits[i]); // exactly the verifier's p
                tokens[i] = picker.sample(q[i]);
            }
            Verdict v = sampler.verify(new Proposal(tokens, ProbabilityRow.of(q)), logits, picker);
            assertEquals(3, v.accepted(), "seed " + seed);
            assertTrue(v.bonus());
            bonusCounts[v.nextToken()]++;
            assertEquals(4, v.verifierProbabilities().length);
            for (int i = 0; i < 4; i++) {
                assertArrayEquals(picker.distribution(logits[i]), v.verifierProbabilities()[i].values());
            }
        }
        assertArrayEquals(new int[] {0, 0, 2000}, bonusCounts, "the bonus row puts all mass on token 2");
    }

    @Test
    void aDraftTokenThatPGivesZeroIsAlwaysRejected() {
        float[][] logits = {logitsOf(0.5, 0.5, 0, 0), logitsOf(0, 0.5, 0.5, 0), logitsOf(0.25, 0.25, 0.25, 0.25)};
        float[] q0 = probs(0.4, 0.4, 0.1, 0.1);
        float[] q1 = probs(0.1, 0.2, 0.3, 0.4);
        for (long seed = 0; seed < 2000; seed++) {
            TokenPicker picker = sampling(seed);
            // token 0 (p = 0.5) then token 3, which p gives zero
            Verdict v = sampler.verify(new Proposal(new int[] {0, 3}, ProbabilityRow.of(new float[][] {q0, q1})), logits, picker);
            // token 0 is always accepted (p/q = 1.25), token 3 never
            assertEquals(1, v.accepted(), "seed " + seed);
            assertTrue(v.recovered());
            assertTrue(v.nextToken() == 1 || v.nextToken() == 2, "recovered from the residual's support");
            assertEquals(2, v.verifierProbabilities().length);
        }
    }

    @Test
    void firstRejectedDrawsTheRecoveredTokenFromTheResidual() {
        // p = (.5 .3 .2 0), q = (.1 .5 .1 .3), proposal 1: accepted with p/q = 0.6; on rejection
        // the residual max(0, p - q) = (.4 0 .1 0) normalises to (.8 0 .2 0)
        float[][] logits = {logitsOf(0.5, 0.3, 0.2, 0), logitsOf(0.25, 0.25, 0.25, 0.25)};
        float[] q = probs(0.1, 0.5, 0.1, 0.3);
        int n = 20_000;
        long accepted = 0;
        long[] recovered = new long[4];
        for (long seed = 0; seed < n; seed++) {
            Verdict v = sampler.verify(new Proposal(new int[] {1}, ProbabilityRow.of(new float[][] {q})), logits, sampling(seed));
            if (v.accepted() == 1) {
                accepted++;
                assertTrue(v.bonus());
            } else {
                assertEquals(0, v.accepted());
                assertEquals(1, v.verifierProbabilities().length);
                recovered[v.nextToken()]++;
            }
        }
        double rate = accepted / (double) n;
        assertTrue(Math.abs(rate - 0.6) < 5 * Math.sqrt(0.24 / n), "acceptance " + rate + ", expected 0.6");
        ChiSquare.Result fit = ChiSquare.test(recovered, new double[] {0.8, 0, 0.2, 0}, 1e-3);
        assertTrue(fit.fits(), "recovered tokens vs the residual: " + fit);
        // and not from p itself (the residual differs from p, so this distinguishes them)
        assertFalse(ChiSquare.test(recovered, new double[] {0.5, 0.3, 0.2, 0}, 1e-3).fits());
    }

    @Test
    void proposalsFromQAndTheRuleTogetherCommitTokensDistributedAsP() {
        // the theorem itself: x ~ q, then accept/recover; the committed token is distributed as p
        double[] p = {0.35, 0.05, 0.25, 0.0, 0.15, 0.2};
        float[] q = probs(0.05, 0.3, 0.1, 0.2, 0.25, 0.1);
        float[][] logits = {logitsOf(p), logitsOf(1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6)};
        RandomGenerator draft = Sampler.newRandom(99);
        long[] committed = new long[p.length];
        for (long seed = 0; seed < 20_000; seed++) {
            int x = Sampler.sample(q, draft);
            Verdict v = sampler.verify(new Proposal(new int[] {x}, ProbabilityRow.of(new float[][] {q})), logits, sampling(seed));
            committed[v.accepted() == 1 ? x : v.nextToken()]++;
        }
        ChiSquare.Result fit = ChiSquare.test(committed, p, 1e-3);
        assertTrue(fit.fits(), fit.toString());
        assertFalse(ChiSquare.test(committed, toDouble(q), 1e-3).fits(), "and clearly not q");
    }

    @Test
    void aResidualWithoutMassFallsBackToP() {
        float[] p = probs(0.25, 0.5, 0.25);
        assertSame(p, RejectionSampler.residual(p, p.clone()), "p == q: no residual mass, draw from p");
        // q above p everywhere by rounding
        float[] q = {Math.nextUp(0.25f), Math.nextUp(0.5f), 0.25f};
        assertSame(p, RejectionSampler.residual(p, q));
        float[] r = RejectionSampler.residual(probs(0.5, 0.5, 0), probs(0.25, 0.5, 0.25));
        assertArrayEquals(new float[] {1, 0, 0}, r);
        assertNotEquals(0, r[0]);
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}
