package io.triforce.engine.spec;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.generate.IntSequence;
import io.triforce.engine.kv.StreamingCache;
import java.util.Arrays;

/**
 * Level 1: the tiny draft model over a StreamingLLM cache proposes tokens autoregressively.
 * Its cache follows the sequence it extends and catches up with a block forward when the
 * sequence grew elsewhere.
 */
public final class DraftModelProposer {

    private final Transformer draft;
    private final StreamingCache cache;

    public DraftModelProposer(Transformer draft, StreamingCache cache) {
        this.draft = draft;
        this.cache = cache;
    }

    /**
     * Absorbs all prompt tokens but the last: only the sinks and the last window, since
     * StreamingLLM would have evicted everything in between.
     */
    public void prefill(int[] prompt) {
        int end = prompt.length - 1;
        int sinkEnd = Math.min(cache.sinks(), end);
        draft.forward(Arrays.copyOf(prompt, sinkEnd), cache, 0);
        int windowStart = Math.max(sinkEnd, end - cache.window());
        cache.skipTo(windowStart);
        draft.forward(Arrays.copyOfRange(prompt, windowStart, end), cache, 0);
    }

    /** Proposes {@code n} tokens continuing {@code sequence}. */
    public Proposal propose(IntSequence sequence, int n, TokenPicker picker) {
        int[] tokens = new int[n];
        float[][] probabilities = picker.greedy() ? null : new float[n][];
        int[] block = sequence.slice(cache.length(), sequence.length());
        for (int i = 0; i < n; i++) {
            if (probabilities == null) {
                tokens[i] = draft.greedyNext(block, cache, 1)[0];   // argmax, as picker.pick would take
            } else if (draft instanceof DeviceRejection device) {
                // q and the draw from it on the draft's device (a verdict on no proposal: the next token
                // drawn from the distribution, which comes back as q); no row of logits reaches the host
                Verdict next = device.scoreAndVerify(block, cache, Proposal.NONE, picker, true);
                probabilities[i] = next.verifierProbabilities()[0];
                tokens[i] = next.nextToken();
            } else {
                probabilities[i] = picker.distribution(draft.forward(block, cache, 1)[0]);
                tokens[i] = picker.sample(probabilities[i]);
            }
            block = new int[] {tokens[i]};
        }
        return new Proposal(tokens, probabilities);
    }

    /** Forgets what the cache absorbed past the first {@code validLength} tokens. */
    public void rollback(int validLength) {
        if (cache.length() > validLength) {
            cache.truncate(validLength);
        }
    }
}
