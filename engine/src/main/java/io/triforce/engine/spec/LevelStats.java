package io.triforce.engine.spec;

/**
 * Counters of one verification level: tokens proposed to it, accepted by it, the tokens it
 * added itself — recovered (after a rejection) or bonus (after a fully accepted proposal) —
 * and the time its verification forward passes took.
 */
public final class LevelStats {

    private long proposed;
    private long accepted;
    private long recovered;
    private long bonus;
    private long forwardPasses;
    private long verifyNanos;

    void record(int proposedTokens, Verdict verdict, long nanos) {
        verifyNanos += nanos;
        proposed += proposedTokens;
        accepted += verdict.accepted();
        if (verdict.bonus()) {
            bonus++;
        } else {
            recovered++;
        }
        forwardPasses++;
    }

    public long proposed() {
        return proposed;
    }

    public long accepted() {
        return accepted;
    }

    public long recovered() {
        return recovered;
    }

    public long bonus() {
        return bonus;
    }

    /** Verification forward passes this level ran. */
    public long forwardPasses() {
        return forwardPasses;
    }

    /** Time this level spent scoring proposals (its verification forward passes). */
    public long verifyNanos() {
        return verifyNanos;
    }

    /** accepted / proposed, 0 when nothing was proposed. */
    public double acceptance() {
        return proposed == 0 ? 0 : (double) accepted / proposed;
    }
}
