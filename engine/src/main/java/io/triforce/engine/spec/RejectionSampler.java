package io.triforce.engine.spec;

import io.triforce.engine.sampling.Sampler;

/**
 * Speculative sampling (Leviathan et al., Chen et al.), the same rule at every level.
 *
 * <ul>
 *   <li>greedy: accept the longest prefix where proposal[i] == argmax(p_i); next = argmax of
 *       the verifier at the first mismatch (recovered) or after the last token (bonus);</li>
 *   <li>sampling: accept x_i with probability min(1, p_i(x_i) / q_i(x_i)); at the first rejection
 *       draw the recovered token from norm(max(0, p_i - q_i)); if all are accepted, draw a bonus
 *       token from p_k. The committed tokens are then distributed exactly as p.</li>
 * </ul>
 */
public final class RejectionSampler {

    /** What the recovered token is drawn from after a rejection, given p and q of that row. */
    @FunctionalInterface
    interface Recovery {
        float[] distribution(float[] p, float[] q);
    }

    private final Recovery recovery;
    private final boolean residualRecovery;

    public RejectionSampler() {
        this.recovery = RejectionSampler::residual;
        this.residualRecovery = true;
    }

    /**
     * With another recovery rule than the residual: only for tests that must show a wrong rule
     * (e.g. the reference code's "draw from q" at level 2) is detected.
     */
    RejectionSampler(Recovery recovery) {
        this.recovery = recovery;
        this.residualRecovery = false;
    }

    /** Whether a rejection draws from the residual norm(max(0, p - q)): the rule a {@link DeviceRejection} runs. */
    public boolean recoversFromResidual() {
        return residualRecovery;
    }

    /**
     * @param logits the verifier's logits [k+1][vocab]: row i scores the token after the
     *               prefix ending just before proposal[i]; row k is the bonus row
     */
    public Verdict verify(Proposal proposal, float[][] logits, TokenPicker picker) {
        int k = proposal.size();
        if (logits.length != k + 1) {
            throw new IllegalArgumentException("need " + (k + 1) + " rows of logits for " + k + " proposed tokens, got "
                    + logits.length);
        }
        return picker.greedy() ? verifyGreedy(proposal, logits) : verifySampled(proposal, logits, picker);
    }

    private Verdict verifyGreedy(Proposal proposal, float[][] logits) {
        int[] picks = new int[logits.length];
        for (int i = 0; i < picks.length; i++) {
            picks[i] = Sampler.argmax(logits[i]);
        }
        return verifyGreedy(proposal, picks);
    }

    /**
     * The greedy rule on the verifier's own picks ({@code picks[i]}: its argmax after the i-th
     * proposed token's prefix, k + 1 of them): accept the longest prefix where the proposal
     * equals the picks, then take the verifier's pick at the first difference (recovered) or
     * after the last token (bonus).
     */
    public Verdict verifyGreedy(Proposal proposal, int[] picks) {
        int k = proposal.size();
        if (picks.length != k + 1) {
            throw new IllegalArgumentException("need " + (k + 1) + " picks for " + k + " proposed tokens, got "
                    + picks.length);
        }
        for (int i = 0; i < k; i++) {
            if (proposal.tokens()[i] != picks[i]) {
                return new Verdict(i, picks[i], false, null);
            }
        }
        return new Verdict(k, picks[k], true, null);
    }

    private Verdict verifySampled(Proposal proposal, float[][] logits, TokenPicker picker) {
        int k = proposal.size();
        float[][] p = new float[k + 1][];
        for (int i = 0; i < k; i++) {
            p[i] = picker.distribution(logits[i]);
            int x = proposal.tokens()[i];
            float[] q = proposal.probabilities()[i].values();
            // accept with probability min(1, p(x)/q(x)): u < p/q  <=>  u*q < p (q(x) > 0 since x ~ q)
            if (!(p[i][x] > 0 && picker.uniform() * q[x] < p[i][x])) {
                int recovered = picker.sample(recovery.distribution(p[i], q));
                return new Verdict(i, recovered, false, ProbabilityRow.of(java.util.Arrays.copyOf(p, i + 1)));
            }
        }
        p[k] = picker.distribution(logits[k]);
        return new Verdict(k, picker.sample(p[k]), true, ProbabilityRow.of(p));
    }

    /**
     * norm(max(0, p - q)). When p and q are equal up to rounding the residual has no mass left;
     * then p itself is the right distribution to draw from.
     */
    static float[] residual(float[] p, float[] q) {
        float[] r = new float[p.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            r[i] = Math.max(0f, p[i] - q[i]);
            sum += r[i];
        }
        if (sum <= 0) {
            return p;
        }
        float inv = (float) (1.0 / sum);
        for (int i = 0; i < r.length; i++) {
            r[i] *= inv;
        }
        return r;
    }
}
