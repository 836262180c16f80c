package io.triforce.engine.spec;

import io.triforce.engine.backend.GreedyRun;
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
        if (picker.greedy()) {
            return new Proposal(greedyPicks(sequence, n), null);
        }
        int[] tokens = new int[n];
        ProbabilityRow[] probabilities = new ProbabilityRow[n];
        int[] unseen = scorer.unseen(sequence);
        for (int i = 0; i < n; i++) {
            // a verdict on no proposal: its next token is the draft's draw from q, which the verdict
            // carries, taken where CacheScorer takes any level's: on a GPU, neither logits nor q reach
            // the host
            Verdict next = scorer.verifyAfter(unseen, Proposal.NONE, RULE, picker);
            tokens[i] = next.nextToken();
            probabilities[i] = next.verifierProbabilities()[0];
            unseen = new int[] {tokens[i]};
        }
        return new Proposal(tokens, probabilities);
    }

    /**
     * The draft's argmax, {@code n} times, each fed to the next step: a greedy run (on a GPU the picks
     * stay on the device between steps), after the tokens the cache has not absorbed but the last.
     */
    private int[] greedyPicks(IntSequence sequence, int n) {
        int[] unseen = scorer.unseen(sequence);
        if (unseen.length > 1) {
            draft.forward(Arrays.copyOf(unseen, unseen.length - 1), cache, 0);
        }
        int[] picks = new int[n];
        try (GreedyRun run = draft.greedyRun(unseen[unseen.length - 1], cache, n)) {
            for (int i = 0; i < n; i++) {
                picks[i] = run.next();
            }
        }
        return picks;
    }

    /** Forgets what the cache absorbed past the first {@code validLength} tokens. */
    public void rollback(int validLength) {
        scorer.rollback(validLength);
    }
}
