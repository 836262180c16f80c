package io.triforce.protocol;

import io.triforce.engine.spec.Verdict;

/** A verification level's counters: tokens proposed to it, accepted by it, verification rounds. */
public record LevelCounters(long proposed, long accepted, long rounds) {

    public static final LevelCounters ZERO = new LevelCounters(0, 0, 0);

    public LevelCounters plus(int proposedTokens, Verdict verdict) {
        return new LevelCounters(proposed + proposedTokens, accepted + verdict.accepted(), rounds + 1);
    }

    /** accepted / proposed, 0 when nothing was proposed. */
    public double acceptance() {
        return proposed == 0 ? 0 : (double) accepted / proposed;
    }
}
