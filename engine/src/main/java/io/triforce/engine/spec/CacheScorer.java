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

    public CacheScorer(Transformer model, KvCache cache) {
        this.model = model;
        this.cache = cache;
    }

    public KvCache cache() {
        return cache;
    }

    /** @return logits [proposal.length + 1][vocab] (see {@link RejectionSampler#verify}) */
    public float[][] score(IntSequence sequence, int[] proposal) {
        int[] unseen = sequence.slice(cache.length(), sequence.length());
        int[] block = new int[unseen.length + proposal.length];
        System.arraycopy(unseen, 0, block, 0, unseen.length);
        System.arraycopy(proposal, 0, block, unseen.length, proposal.length);
        return model.forward(block, cache, proposal.length + 1);
    }

    /** Forgets what the cache absorbed past the first {@code validLength} tokens of the sequence. */
    public void rollback(int validLength) {
        if (cache.length() > validLength) {
            cache.truncate(validLength);
        }
    }
}
