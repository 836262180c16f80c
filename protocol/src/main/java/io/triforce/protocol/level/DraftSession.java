package io.triforce.protocol.level;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.generate.IntSequence;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.kv.StreamingCache;
import io.triforce.engine.spec.DraftModelProposer;
import io.triforce.engine.spec.Proposal;
import io.triforce.engine.spec.TokenPicker;
import io.triforce.protocol.Clock;
import io.triforce.protocol.Commit;
import io.triforce.protocol.Correction;
import io.triforce.protocol.Level1Proposal;
import io.triforce.protocol.SessionEvent;
import java.util.Optional;

/**
 * Level 1 of one session: the tiny draft streams proposals ahead of the committed log (at most
 * {@code lookahead} tokens ahead), and follows level 2's corrections. A session built from a
 * re-announced start drafts after the prompt and the tokens committed so far.
 */
public final class DraftSession {

    private final String id;
    private final DraftModelProposer proposer;
    private final TokenPicker picker;
    private final LevelSettings settings;
    private final IntSequence sequence;
    private final int limit;
    private int committedLength;
    private int epoch;

    public DraftSession(Transformer draft, SessionEvent start, LevelSettings settings) {
        this.id = start.sessionId();
        this.settings = settings;
        StreamingCache cache = (StreamingCache) draft.newCache(
                new KvCacheSpec.Streaming(settings.sinks(), settings.window(), settings.rollbackSlack()));
        this.proposer = new DraftModelProposer(draft, cache);
        this.picker = new TokenPicker(start.samplingParams(1));
        int[] log = start.log(); // the prompt, and the tokens committed before a re-announcement
        this.sequence = new IntSequence(log);
        this.committedLength = log.length;
        this.limit = Math.min(start.prompt().length + start.maxTokens(), draft.config().maxPositions());
        proposer.prefill(log);
    }

    /** The session was re-announced while this level holds it: it keeps it (level 2 corrects it). */
    public void onReannounce(SessionEvent announce) {
        committedLength = Math.max(committedLength, announce.log().length);
    }

    /** The next proposal, or empty while the draft is far enough ahead of the committed log. */
    public Optional<Level1Proposal> next() {
        int n = Math.min(settings.gamma1(), Math.min(limit, committedLength + settings.lookahead()) - sequence.length());
        if (n <= 0) {
            return Optional.empty();
        }
        int base = sequence.length();
        Proposal proposal = proposer.propose(sequence, n, picker);
        sequence.addAll(proposal.tokens());
        proposer.rollback(sequence.length() - 1);
        return Optional.of(new Level1Proposal(id, epoch, base, proposal.tokens(),
                Sequences.wire(proposal.probabilities()), Clock.micros()));
    }

    public void onCorrection(Correction correction) {
        if (correction.epoch() <= epoch) {
            return;
        }
        if (correction.start() > sequence.length()) {
            return; // replayed after a restart, past what this draft has: level 2 resends its state (resync)
        }
        epoch = correction.epoch();
        sequence.truncate(correction.start());
        sequence.addAll(correction.tokens());
        proposer.rollback(Math.min(correction.start(), sequence.length() - 1));
    }

    public void onCommit(Commit commit) {
        committedLength = Math.max(committedLength, commit.start() + commit.tokens().length);
    }
}
