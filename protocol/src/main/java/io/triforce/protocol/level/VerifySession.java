package io.triforce.protocol.level;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.generate.Emitter;
import io.triforce.engine.generate.IntSequence;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.spec.CacheScorer;
import io.triforce.engine.spec.Proposal;
import io.triforce.engine.spec.RejectionSampler;
import io.triforce.engine.spec.TokenPicker;
import io.triforce.engine.spec.Verdict;
import io.triforce.engine.kv.KvCache;
import io.triforce.protocol.Clock;
import io.triforce.protocol.Commit;
import io.triforce.protocol.Level2Proposal;
import io.triforce.protocol.LevelCounters;
import io.triforce.protocol.SessionEvent;
import java.util.Arrays;
import java.util.Optional;

/**
 * Level 3 of one session: the target over its full cache verifies level-2 proposals with the
 * rejection sampler and commits the result — the only place tokens become final, which keeps
 * the hierarchy lossless. A fully accepted proposal commits its tokens and the target's bonus
 * token (in the same epoch: level 2's next proposal, which already streams, is kept when it
 * starts with that token); a rejection commits the recovered token and starts a new epoch,
 * which makes every proposal still in flight stale.
 * <p>
 * A session built from a re-announced start ({@link SessionEvent#reannounced}) continues the
 * log after its committed tokens, in the start's epoch.
 */
public final class VerifySession implements AutoCloseable {

    private final String id;
    private final CacheScorer scorer;
    private final RejectionSampler rejection = new RejectionSampler();
    private final TokenPicker picker;
    private final IntSequence committed;
    private final Emitter emitter;
    private int epoch;
    private LevelCounters level2 = LevelCounters.ZERO;
    private final int promptLength;

    public VerifySession(Transformer target, SessionEvent start) {
        this.id = start.sessionId();
        int[] prompt = start.prompt();
        int[] log = start.log();
        this.emitter = new Emitter(target.config(), prompt.length, start.maxTokens(), token -> true);
        for (int i = prompt.length; i < log.length; i++) {
            if (!emitter.emit(log[i])) {
                throw new IllegalArgumentException("the re-announced log of session " + id + " has ended already");
            }
        }
        // proposals are cut to the tokens still allowed, so the log never needs more than this
        KvCache cache = target.newCache(new KvCacheSpec.Full(KvCacheSpec.Full.capacityFor(target.config(),
                prompt.length, start.maxTokens(), 1)));
        try {
            target.forward(Arrays.copyOf(log, log.length - 1), cache, 0);
        } catch (RuntimeException e) {
            cache.close();
            throw e;
        }
        this.scorer = new CacheScorer(target, cache);
        this.picker = new TokenPicker(start.samplingParams(3));
        this.committed = new IntSequence(log);
        this.promptLength = prompt.length;
        this.epoch = start.epoch();
    }

    /** Level 2's tokens as judged here so far. */
    public LevelCounters level2Counters() {
        return level2;
    }

    /**
     * The session was re-announced while this level holds it: it keeps its log when the
     * announcement knows no more of it and moves on to the announced epoch (level 2 restarts
     * from the log in that epoch). Returns false when the announced log is longer than this
     * one — another instance committed past it; the session must be built again.
     */
    public boolean onReannounce(SessionEvent announce) {
        if (announce.log().length > committed.length()) {
            return false;
        }
        epoch = Math.max(epoch, announce.epoch());
        return true;
    }

    /**
     * Verifies a proposal; empty when it is stale: an older epoch, a gap after the log, nothing
     * past the log, or tokens that overlap the log but differ from it. A proposal that overlaps
     * the log with the same tokens (it started where the previous one's bonus token went) is
     * verified from the log's end. A newer epoch than this level's is level 2's after a
     * re-announcement that has not reached this level yet: it becomes this level's epoch (the
     * position checks keep the log exact whatever the epoch).
     */
    public Optional<Commit> onProposal(Level2Proposal p) {
        int overlap = committed.length() - p.base();
        epoch = Math.max(epoch, p.epoch());
        if (emitter.finishReason() != null || p.epoch() != epoch || overlap < 0 || overlap >= p.tokens().length) {
            return Optional.empty();
        }
        for (int i = 0; i < overlap; i++) {
            if (p.tokens()[i] != committed.get(p.base() + i)) {
                return Optional.empty(); // drafted after another token than the target's bonus
            }
        }
        int k = Math.min(p.tokens().length - overlap, emitter.remaining());
        Proposal proposal = Sequences.proposal(Arrays.copyOfRange(p.tokens(), overlap, overlap + k),
                p.q() == null ? null : p.q().subList(overlap, overlap + k));
        Verdict verdict = scorer.verify(committed, proposal, rejection, picker);
        level2 = level2.plus(k, verdict);
        int start = committed.length();
        boolean more = true;
        for (int i = 0; i < verdict.accepted() && more; i++) {
            more = commit(proposal.tokens()[i]);
        }
        if (more && verdict.recovered()) {
            commit(verdict.nextToken());
            epoch++;
        } else if (more) {
            commit(verdict.nextToken()); // the bonus: sampled from the target's own distribution
        }
        scorer.rollback(committed.length() - 1);
        int[] generated = emitter.tokens(); // no end-of-sequence token: it ends the log unseen
        int[] tokens = Arrays.copyOfRange(generated, Math.min(start - promptLength, generated.length), generated.length);
        String finish = emitter.finishReason() == null ? null : emitter.finishReason().openAiName();
        return Optional.of(new Commit(id, epoch, start, tokens, finish, null, p.level1(), level2, Clock.micros()));
    }

    @Override
    public void close() {
        scorer.cache().close();
    }

    private boolean commit(int token) {
        committed.add(token);
        return emitter.emit(token);
    }
}
