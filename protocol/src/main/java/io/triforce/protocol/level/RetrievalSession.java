package io.triforce.protocol.level;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.generate.IntSequence;
import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.kv.RetrievalCache;
import io.triforce.engine.spec.CacheScorer;
import io.triforce.engine.spec.ProbabilityRow;
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
 * {@code gamma2} tokens. A rejection, here or by the target, sends level 1 a correction. A
 * session built from a re-announced start selects its retrieval cache from the prompt and the
 * tokens committed so far, and proposes in the start's epoch.
 */
public final class RetrievalSession implements AutoCloseable {

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
    private int draftEnd;       // end of level 1's sequence as level 2 knows it (this epoch)
    private int epoch;          // own corrections to level 1
    private int targetEpoch;    // latest epoch of the committed log
    private LevelCounters level1 = LevelCounters.ZERO;
    private final java.util.function.LongSupplier nanoTime;
    private long lastCurrentNanos;  // when the last proposal of the current epoch arrived
    private long lastResyncNanos;

    /**
     * How long level 1 may send only stale proposals before level 2 sends it its state again:
     * a restarted draft-service rebuilt the session from its start and missed the corrections;
     * stale proposals that merely crossed a correction arrive within milliseconds of a current one.
     */
    static final long RESYNC_AFTER_NANOS = 500_000_000L;

    public RetrievalSession(Transformer target, SessionEvent start, LevelSettings settings) {
        this(target, start, settings, System::nanoTime);
    }

    RetrievalSession(Transformer target, SessionEvent start, LevelSettings settings,
                     java.util.function.LongSupplier nanoTime) {
        this.nanoTime = nanoTime;
        this.lastCurrentNanos = nanoTime.getAsLong();
        this.lastResyncNanos = lastCurrentNanos - RESYNC_AFTER_NANOS;
        this.id = start.sessionId();
        this.settings = settings;
        int[] log = start.log(); // the prompt, and the tokens committed before a re-announcement
        RetrievalCache retrieval = (RetrievalCache) target.newCache(new KvCacheSpec.Retrieval(
                settings.budget(), settings.chunk(), start.maxTokens() + settings.rollbackSlack() + settings.chunk()));
        try (KvCache full = target.newCache(new KvCacheSpec.Full(log.length))) { // only to select from
            target.forward(Arrays.copyOf(log, log.length - 1), full, 0);
            retrieval.rebuild(full);
        } catch (RuntimeException e) {
            retrieval.close();
            throw e;
        }
        this.scorer = new CacheScorer(target, retrieval, true);
        this.picker = new TokenPicker(start.samplingParams(2));
        this.committed = new IntSequence(log);
        this.sequence = new IntSequence(log);
        this.limit = Math.min(start.prompt().length + start.maxTokens(), target.config().maxPositions());
        this.draftEnd = log.length;
        this.targetEpoch = start.epoch();
    }

    public LevelCounters level1Counters() {
        return level1;
    }

    /**
     * Verifies a level-1 proposal of the current epoch. Positions level 2 has already decided
     * itself ({@link #draftAhead}) are compared, not verified: the first difference corrects
     * level 1 to level 2's tokens (exact for greedy and sampling alike: level 2's own token was
     * drawn from its distribution, and the draft's later tokens are only used when they were
     * drafted after that very prefix).
     */
    public void onProposal(Level1Proposal p, Outbox out) {
        long now = nanoTime.getAsLong();
        if (p.epoch() < epoch) {
            resyncIfLost(p, now, out);
        } else if (p.epoch() > epoch) {
            // only this level makes level 1's epochs: it restarted and lost its own. Continue past them.
            resend(p, out, p.epoch() + 1);
            return;
        }
        if (p.epoch() != epoch || p.base() > sequence.length() || sequence.length() >= limit) {
            return; // stale: made before our latest correction
        }
        lastCurrentNanos = now;
        int k = p.tokens().length;
        draftEnd = Math.max(draftEnd, p.base() + k);
        int decided = Math.min(k, sequence.length() - p.base());
        for (int i = 0; i < decided; i++) {
            if (p.tokens()[i] != sequence.get(p.base() + i)) {
                level1 = level1.plus(i + 1, new Verdict(i, sequence.get(p.base() + i), false, null));
                correct(p.base() + i, out);
                return;
            }
        }
        if (decided == k) {
            level1 = level1.plus(k, new Verdict(k, -1, true, null));
            return;
        }
        Proposal drafted = Sequences.proposal(Arrays.copyOfRange(p.tokens(), decided, k),
                p.q() == null ? null : p.q().subList(decided, k));
        Verdict verdict = scorer.verify(sequence, drafted, rejection, picker);
        level1 = level1.plus(k, new Verdict(decided + verdict.accepted(), verdict.nextToken(), verdict.bonus(), null));
        for (int i = 0; i < verdict.accepted(); i++) {
            keep(drafted.tokens()[i], verdict.verifierProbabilities() == null ? null : verdict.verifierProbabilities()[i]);
        }
        if (verdict.recovered()) {
            keep(verdict.nextToken(), verdict.verifierProbabilities() == null ? null
                    : verdict.verifierProbabilities()[verdict.accepted()]);
            correct(sequence.length() - 1, out);
        }
        scorer.rollback(sequence.length() - 1);
        flush(out);
    }

    /**
     * While nothing else waits: decides one more token itself (one forward over the retrieval
     * cache; argmax, or a draw from its own distribution which then travels as q), at most
     * {@code level2Ahead} tokens past the end of level 1's sequence and never past the draft's
     * own limit (committed log + lookahead). Returns whether it did.
     */
    public boolean draftAhead(Outbox out) {
        int end = Math.min(limit, committed.length() + settings.lookahead());
        if (settings.level2Ahead() == 0 || sequence.length() >= end
                || sequence.length() - draftEnd >= settings.level2Ahead()) {
            return false;
        }
        // a verdict on no proposal: its next token is level 2's own pick (argmax, or a draw from its p,
        // which the verdict carries), taken on the device where the target runs on a GPU
        Verdict own = scorer.verify(sequence, Proposal.NONE, rejection, picker);
        keep(own.nextToken(), own.verifierProbabilities() == null ? null : own.verifierProbabilities()[0]);
        scorer.rollback(sequence.length() - 1);
        flush(out);
        return true;
    }

    /**
     * Level 1 has sent nothing but stale proposals for {@link #RESYNC_AFTER_NANOS}: it lost the
     * corrections (a restarted draft-service). Sends the current epoch's sequence again, at most
     * once per that interval, from where the stale proposal starts: level 1 holds that position
     * and can roll back to it. Its tokens before it may differ from level 2's; that costs
     * acceptance until they leave the draft's window, never correctness (level 2 verifies).
     */
    private void resyncIfLost(Level1Proposal p, long now, Outbox out) {
        if (now - lastCurrentNanos < RESYNC_AFTER_NANOS || now - lastResyncNanos < RESYNC_AFTER_NANOS) {
            return;
        }
        lastResyncNanos = now;
        resend(p, out, epoch);
    }

    /** Level 2's sequence from where {@code p} starts (level 1 holds that position), in epoch {@code newEpoch}. */
    private void resend(Level1Proposal p, Outbox out, int newEpoch) {
        epoch = newEpoch;
        int from = Math.min(p.base(), sequence.length());
        draftEnd = sequence.length();
        out.correct(new Correction(id, epoch, from, sequence.slice(from, sequence.length()), Clock.micros()));
    }

    /** Level 1 must continue from level 2's sequence at {@code from}: a new epoch. */
    private void correct(int from, Outbox out) {
        epoch++;
        draftEnd = sequence.length();
        out.correct(new Correction(id, epoch, from, sequence.slice(from, sequence.length()), Clock.micros()));
    }

    private void flush(Outbox out) {
        if (unsent.size() >= settings.gamma2() || (sequence.length() >= limit && !unsent.isEmpty())) {
            int[] tokens = unsent.stream().mapToInt(Integer::intValue).toArray();
            out.propose(new Level2Proposal(id, targetEpoch, sequence.length() - tokens.length, tokens,
                    picker.greedy() ? null : List.copyOf(unsentQ), level1, Clock.micros()));
            unsent.clear();
            unsentQ.clear();
        }
    }

    private void keep(int token, ProbabilityRow probabilities) {
        sequence.add(token);
        unsent.add(token);
        if (probabilities != null) {
            unsentQ.add(Distribution.of(probabilities.values()));
        }
    }
    @Override
    public void close() {
        scorer.cache().close();
    }

    /**
     * Follows the committed log. A newer epoch, or a bonus token of the target that differs from
     * level 2's own, resets the speculation to the log and corrects level 1.
     */
    public void onCommit(Commit commit, Consumer<Correction> correct) {
        int end = commit.start() + commit.tokens().length;
        if (end <= committed.length()) {
            return; // seen already
        }
        committed.truncate(commit.start());
        committed.addAll(commit.tokens());
        int common = Sequences.commonPrefix(sequence, committed);
        if (commit.epoch() <= targetEpoch) {
            if (common == committed.length()) {
                return; // level 2's speculation extends the log
            }
            if (common == sequence.length()) { // the log went past it (the target's bonus token): follow
                sequence.addAll(committed.slice(common, committed.length()));
                unsent.clear();
                unsentQ.clear();
                return;
            }
            // the target's bonus token differs from level 2's own: start over from the log, as below
        }
        targetEpoch = Math.max(targetEpoch, commit.epoch());
        restartFromLog(common, correct);
    }

    /**
     * The session was re-announced while this level holds it: it takes the announced log when
     * that is longer than its own, moves on to the announced epoch and starts over from the log
     * (level 3 may have lost everything level 2 proposed past it), correcting level 1.
     */
    public void onReannounce(SessionEvent announce, Consumer<Correction> correct) {
        int[] log = announce.log();
        if (log.length > committed.length()) {
            committed.truncate(0);
            committed.addAll(log);
        }
        targetEpoch = Math.max(targetEpoch, announce.epoch());
        restartFromLog(Sequences.commonPrefix(sequence, committed), correct);
    }

    /** Level 2's speculation starts over from the committed log (common with it up to {@code common}). */
    private void restartFromLog(int common, Consumer<Correction> correct) {
        sequence = committed.copy();
        unsent.clear();
        unsentQ.clear();
        scorer.rollback(Math.min(common, sequence.length() - 1));
        // level 1 may be behind level 2's own tokens: never correct past the end of what it proposed
        int from = Math.min(common, draftEnd);
        epoch++;
        draftEnd = sequence.length();
        correct.accept(new Correction(id, epoch, from, committed.slice(from, committed.length()), Clock.micros()));
    }
}
