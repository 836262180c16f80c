package io.triforce.protocol.level;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.generate.IntSequence;
import io.triforce.engine.kv.FullKvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.kv.RetrievalKvCache;
import io.triforce.engine.spec.CacheScorer;
import io.triforce.engine.spec.Proposal;
import io.triforce.engine.spec.RejectionSampler;
import io.triforce.engine.spec.TokenPicker;
import io.triforce.engine.spec.Verdict;
import io.triforce.protocol.Clock;
import io.triforce.protocol.Commit;
import io.triforce.protocol.Correction;
import io.triforce.protocol.Distribution;
import io.triforce.protocol.Level1Proposal;
import io.triforce.protocol.Level2Proposal;
import io.triforce.protocol.LevelCounters;
import io.triforce.protocol.SessionEvent;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/**
 * Level 2 of one session: the target's weights over a retrieval cache (selected at prefill from
 * a full cache of the prompt) verify level-1 proposals with the rejection sampler. Kept tokens
 * (accepted, or recovered at a rejection — never a bonus, since level 1 already streams past
 * it) extend level 2's speculative sequence and go to the target in proposals of
 * {@code gamma2} tokens. A rejection, here or by the target, sends level 1 a correction.
 */
public final class RetrievalSession {

    /** Where a session's messages go. */
    public interface Outbox {
        void propose(Level2Proposal proposal);

        void correct(Correction correction);
    }

    private final String id;
    private final LevelSettings settings;
    private final CacheScorer scorer;
    private final RejectionSampler rejection = new RejectionSampler();
    private final TokenPicker picker;
    private final IntSequence committed;
    private IntSequence sequence;
    private final List<Integer> unsent = new ArrayList<>();
    private final List<Distribution> unsentQ = new ArrayList<>();
    private final int limit;
    private int epoch;          // own corrections to level 1
    private int targetEpoch;    // latest epoch of the committed log
    private LevelCounters level1 = LevelCounters.ZERO;

    public RetrievalSession(Transformer target, SessionEvent start, LevelSettings settings) {
        this.id = start.sessionId();
        this.settings = settings;
        int[] prompt = start.prompt();
        FullKvCache full = (FullKvCache) target.newCache(new KvCacheSpec.Full(prompt.length));
        target.forward(Arrays.copyOf(prompt, prompt.length - 1), full, 0);
        RetrievalKvCache retrieval = (RetrievalKvCache) target.newCache(new KvCacheSpec.Retrieval(
                settings.budget(), settings.chunk(), start.maxTokens() + settings.rollbackSlack() + settings.chunk()));
        retrieval.rebuild(full);
        this.scorer = new CacheScorer(target, retrieval);
        this.picker = new TokenPicker(start.sampling().params());
        this.committed = new IntSequence(prompt);
        this.sequence = new IntSequence(prompt);
        this.limit = Math.min(prompt.length + start.maxTokens(), target.config().maxPositions());
    }

    public LevelCounters level1Counters() {
        return level1;
    }

    public void onProposal(Level1Proposal p, Outbox out) {
        if (p.epoch() != epoch || p.base() != sequence.length() || sequence.length() >= limit) {
            return; // stale: made before our latest correction
        }
        Proposal drafted = Sequences.proposal(p.tokens(), p.q());
        Verdict verdict = rejection.verify(drafted, scorer.score(sequence, drafted.tokens()), picker);
        level1 = level1.plus(drafted.size(), verdict);
        for (int i = 0; i < verdict.accepted(); i++) {
            keep(drafted.tokens()[i], verdict, i);
        }
        if (verdict.recovered()) {
            keep(verdict.nextToken(), verdict, verdict.accepted());
            epoch++;
            out.correct(new Correction(id, epoch, sequence.length() - 1, new int[] {verdict.nextToken()},
                    Clock.micros()));
        }
        scorer.rollback(sequence.length() - 1);
        if (unsent.size() >= settings.gamma2() || (sequence.length() >= limit && !unsent.isEmpty())) {
            int[] tokens = unsent.stream().mapToInt(Integer::intValue).toArray();
            out.propose(new Level2Proposal(id, targetEpoch, sequence.length() - tokens.length, tokens,
                    picker.greedy() ? null : List.copyOf(unsentQ), level1, Clock.micros()));
            unsent.clear();
            unsentQ.clear();
        }
    }

    private void keep(int token, Verdict verdict, int row) {
        sequence.add(token);
        unsent.add(token);
        if (verdict.verifierProbabilities() != null) {
            unsentQ.add(Distribution.of(verdict.verifierProbabilities()[row]));
        }
    }

    /** Follows the committed log; a newer epoch resets the speculation to it and corrects level 1. */
    public void onCommit(Commit commit, Consumer<Correction> correct) {
        int end = commit.start() + commit.tokens().length;
        if (end <= committed.length()) {
            return; // seen already
        }
        committed.truncate(commit.start());
        committed.addAll(commit.tokens());
        if (commit.epoch() <= targetEpoch) {
            return;
        }
        targetEpoch = commit.epoch();
        int common = Sequences.commonPrefix(sequence, committed);
        sequence = committed.copy();
        unsent.clear();
        unsentQ.clear();
        scorer.rollback(Math.min(common, sequence.length() - 1));
        epoch++;
        correct.accept(new Correction(id, epoch, common, committed.slice(common, committed.length()), Clock.micros()));
    }
}
