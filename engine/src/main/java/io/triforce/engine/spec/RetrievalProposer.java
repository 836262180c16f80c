package io.triforce.engine.spec;

import io.triforce.engine.generate.IntSequence;
import java.util.ArrayList;
import java.util.List;

/**
 * Level 2: the target's weights over the retrieval cache verify the tiny draft's proposals
 * and build a proposal for the target. Each round the draft proposes up to {@code gamma1}
 * tokens (fixed or adaptive: {@link ProposalLength}), one block forward scores them, the
 * rejection sampler keeps a prefix and adds a recovered or bonus token; rounds repeat until
 * {@code n} tokens are proposed. Every kept token is a sample of the level-2 distribution,
 * which travels with it as q for level 3.
 */
public final class RetrievalProposer {

    private final DraftModelProposer draft;
    private final CacheScorer retrieval;
    private final RejectionSampler rejection;
    private final ProposalLength gamma1;   // tokens the draft proposes a round
    private final LevelStats level1 = new LevelStats();
    private long draftNanos;

    RetrievalProposer(DraftModelProposer draft, CacheScorer retrieval, RejectionSampler rejection, ProposalLength gamma1) {
        this.draft = draft;
        this.retrieval = retrieval;
        this.rejection = rejection;
        this.gamma1 = gamma1;
    }

    /** Time the tiny draft spent proposing. */
    public long draftNanos() {
        return draftNanos;
    }

    /** Absorbs the prompt into the tiny draft's cache (the retrieval cache is built from the target's). */
    public void prefillDraft(int[] prompt) {
        draft.prefill(prompt);
    }

    /** Tiny draft's proposals as judged by this level. */
    public LevelStats level1Stats() {
        return level1;
    }

    public Proposal propose(IntSequence committed, int n, TokenPicker picker) {
        IntSequence sequence = committed.copy();
        List<Integer> tokens = new ArrayList<>();
        List<ProbabilityRow> probabilities = new ArrayList<>();
        while (tokens.size() < n) {
            int base = sequence.length();
            long start = System.nanoTime();
            Proposal drafted = draft.propose(sequence, gamma1.next(n - tokens.size()), picker);
            long draftedAt = System.nanoTime();
            Verdict verdict = retrieval.verify(sequence, drafted, rejection, picker);
            level1.record(drafted.size(), verdict, System.nanoTime() - draftedAt);
            gamma1.record(drafted.size(), verdict.accepted());
            draftNanos += draftedAt - start;
            // a fully accepted last round adds a bonus token past n: leave it out, so the target
            // never verifies more than it asked for (it may have room for no more). Any prefix of
            // the stream is still a sample of level 2's distribution.
            for (int i = 0; i <= verdict.accepted() && tokens.size() < n; i++) {
                int token = i < verdict.accepted() ? drafted.tokens()[i] : verdict.nextToken();
                sequence.add(token);
                tokens.add(token);
                if (verdict.verifierProbabilities() != null) {
                    probabilities.add(verdict.verifierProbabilities()[i]);
                }
            }
            draft.rollback(base + verdict.accepted());
            retrieval.rollback(base + verdict.accepted());
        }
        int[] proposed = tokens.stream().mapToInt(Integer::intValue).toArray();
        return new Proposal(proposed, picker.greedy() ? null : probabilities.toArray(ProbabilityRow[]::new));
    }

    /** The committed sequence was cut back: forget the draft's work past {@code validLength}. */
    public void rollback(int validLength) {
        draft.rollback(validLength);
    }
}
