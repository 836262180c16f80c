package io.triforce.engine.spec;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.generate.IntSequence;
import io.triforce.engine.kv.KvCache;

/**
 * Scores a proposal with one block forward over a cache. The cache holds the sequence up to,
 * not including, its last token; the block is whatever the cache has not seen yet (at least
 * that last token) followed by the proposal.
 */
public final class CacheScorer {

    private final Transformer model;
    private final KvCache cache;
    private final boolean proposesUpward;

    /** The top level: its verdicts commit tokens; only their ids are needed. */
    public CacheScorer(Transformer model, KvCache cache) {
        this(model, cache, false);
    }

    /**
     * @param proposesUpward whether the kept tokens become a proposal to a level above, which
     *                       needs this level's distributions as its q (sampled verdicts then
     *                       carry them)
     */
    public CacheScorer(Transformer model, KvCache cache, boolean proposesUpward) {
        this.model = model;
        this.cache = cache;
        this.proposesUpward = proposesUpward;
    }

    public KvCache cache() {
        return cache;
    }

    /**
     * Judges {@code proposal} after {@code sequence} with {@code rejection}. Greedy decoding asks
     * the backend for the verifier's picks only ({@link Transformer#greedyNext}: on a GPU no
     * logits cross to the host); sampling runs the rejection test on the model's device when it
     * can ({@link DeviceRejection}), else scores the rows the test needs and runs it here.
     */
    public Verdict verify(IntSequence sequence, Proposal proposal, RejectionSampler rejection, TokenPicker picker) {
        return verifyAfter(unseen(sequence), proposal, rejection, picker);
    }

    /**
     * {@link #verify} after {@code unseen}, the tokens the cache has not absorbed yet (at least one),
     * for a caller that extends the sequence itself (the draft, proposing on its own tokens).
     */
    public Verdict verifyAfter(int[] unseen, Proposal proposal, RejectionSampler rejection, TokenPicker picker) {
        int[] block = concat(unseen, proposal.tokens());
        if (picker.greedy()) {
            return rejection.verifyGreedy(proposal, model.greedyNext(block, cache, proposal.size() + 1));
        }
        if (rejection.recoversFromResidual() && model instanceof DeviceRejection device) {
            return device.scoreAndVerify(block, cache, proposal, picker, proposesUpward);
        }
        return rejection.verify(proposal, model.forward(block, cache, proposal.size() + 1), picker);
    }

    /** The tokens of {@code sequence} the cache has not seen yet. */
    public int[] unseen(IntSequence sequence) {
        return sequence.slice(cache.length(), sequence.length());
    }

    private static int[] concat(int[] unseen, int[] proposal) {
        int[] block = new int[unseen.length + proposal.length];
        System.arraycopy(unseen, 0, block, 0, unseen.length);
        System.arraycopy(proposal, 0, block, unseen.length, proposal.length);
        return block;
    }

    /** Forgets what the cache absorbed past the first {@code validLength} tokens of the sequence. */
    public void rollback(int validLength) {
        if (cache.length() > validLength) {
            cache.truncate(validLength);
        }
    }
}
