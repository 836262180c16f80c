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

    private static final RejectionSampler RULE = new RejectionSampler();

    private final Transformer draft;
    private final StreamingCache cache;
    private final CacheScorer scorer;    // its verdicts carry q: the draft proposes upward

    public DraftModelProposer(Transformer draft, StreamingCache cache) {
        this.draft = draft;
        this.cache = cache;
        this.scorer = new CacheScorer(draft, cache, true);
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
        ProbabilityRow[] probabilities = picker.greedy() ? null : new ProbabilityRow[n];
        int[] unseen = scorer.unseen(sequence);
        for (int i = 0; i < n; i++) {
            // a verdict on no proposal: its next token is the draft's pick (its argmax, or a draw from q,
            // which the verdict carries), taken where CacheScorer takes any level's: on a GPU, neither
            // logits nor q reach the host
            Verdict next = scorer.verifyAfter(unseen, Proposal.NONE, RULE, picker);
            tokens[i] = next.nextToken();
            if (probabilities != null) {
                probabilities[i] = next.verifierProbabilities()[0];
            }
            unseen = new int[] {tokens[i]};
        }
        return new Proposal(tokens, probabilities);
    }

    /** Forgets what the cache absorbed past the first {@code validLength} tokens. */
    public void rollback(int validLength) {
        scorer.rollback(validLength);
    }
}
