package io.triforce.gateway;

import io.triforce.engine.generate.IntSequence;
import io.triforce.protocol.Commit;
import io.triforce.protocol.SessionEvent;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * What the gateway knows of a session it serves, enough to announce it again to a level that
 * lost it: the start, the tokens committed so far (placed by log position, duplicates dropped),
 * the newest epoch, and when the log was last heard from and the session last announced.
 */
final class LiveSession {

    private final SessionEvent start;
    private final Consumer<Commit> listener;
    private final IntSequence log;
    private int epoch;
    private long heardNanos;
    private long announcedNanos;
    private boolean heardAny;

    LiveSession(SessionEvent start, Consumer<Commit> listener, long nowNanos) {
        this.start = start;
        this.listener = listener;
        this.log = new IntSequence(start.prompt());
        this.heardNanos = nowNanos;
        this.announcedNanos = nowNanos;
    }

    Consumer<Commit> listener() {
        return listener;
    }

    synchronized void heard(Commit commit, long nowNanos) {
        heardNanos = nowNanos;
        heardAny = true;
        epoch = Math.max(epoch, commit.epoch());
        if (commit.start() > log.length()) {
            return; // a gap: the request reports it
        }
        int[] tokens = commit.tokens();
        for (int i = log.length() - commit.start(); i < tokens.length; i++) {
            log.add(tokens[i]);
        }
    }

    /** Whether any commit of the log arrived yet (before the first, the levels are prefilling). */
    synchronized boolean heardAny() {
        return heardAny;
    }

    /**
     * The session re-announced — its committed tokens, in an epoch past every epoch of its log
     * and of earlier announcements — unless it was announced less than {@code interval} ago or,
     * when {@code silence} is set, the log was heard from within it.
     */
    synchronized Optional<SessionEvent> reannounce(long nowNanos, long intervalNanos, boolean silence) {
        if (nowNanos - announcedNanos < intervalNanos || (silence && nowNanos - heardNanos < intervalNanos)) {
            return Optional.empty();
        }
        announcedNanos = nowNanos;
        epoch++;
        return Optional.of(SessionEvent.reannounce(start.sessionId(), start.prompt(), start.maxTokens(),
                start.sampling(), log.slice(start.prompt().length, log.length()), epoch));
    }
}
