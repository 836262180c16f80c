package io.triforce.protocol;

import io.triforce.engine.sampling.SamplingParams;
import java.util.Arrays;

/**
 * Starts, cancels, fails or asks to resynchronise a session (topic {@link Topics#SESSIONS}). A
 * start carries everything a level needs: the prompt tokens, the token budget and the sampling
 * parameters. A level whose session failed says so with {@code FAILED} and the reason: every
 * level ends the session, and verify-service ends its log with that error, so the client learns
 * at once instead of waiting for a token timeout.
 * <p>
 * Recovery: a level that gets a message for a session it does not hold (it restarted after its
 * consumer group committed past the start, or took the session's partitions over from another
 * instance) asks with {@code RESYNC}; the gateway, which holds every live session, answers with
 * a <em>re-announced</em> start: {@code committed} holds the tokens committed so far (null in a
 * first start) and {@code epoch} the epoch the levels continue in, past every epoch the log had.
 * A level that lacks the session builds it from the prompt plus those tokens; one that has it
 * keeps it and moves to that epoch, so proposals and corrections made before are dropped.
 */
public record SessionEvent(String sessionId, Kind kind, int[] prompt, int maxTokens, Sampling sampling,
                           int[] committed, int epoch, String error, long sentAtMicros) implements Timestamped {

    public enum Kind { START, CANCEL, FAILED, RESYNC }

    public static SessionEvent start(String sessionId, int[] prompt, int maxTokens, Sampling sampling) {
        return new SessionEvent(sessionId, Kind.START, prompt, maxTokens, sampling, null, 0, null, Clock.micros());
    }

    /** The session again, with the tokens committed so far, continuing in {@code epoch}. */
    public static SessionEvent reannounce(String sessionId, int[] prompt, int maxTokens, Sampling sampling,
                                          int[] committed, int epoch) {
        return new SessionEvent(sessionId, Kind.START, prompt, maxTokens, sampling, committed, epoch, null,
                Clock.micros());
    }

    public static SessionEvent cancel(String sessionId) {
        return new SessionEvent(sessionId, Kind.CANCEL, null, 0, null, null, 0, null, Clock.micros());
    }

    /** {@code service} could not go on with the session, because of {@code e}. */
    public static SessionEvent failed(String sessionId, String service, Exception e) {
        return new SessionEvent(sessionId, Kind.FAILED, null, 0, null, null, 0, service + ": " + e.getMessage(),
                Clock.micros());
    }

    /** A level lost the session: the gateway that serves it is asked to re-announce it. */
    public static SessionEvent resync(String sessionId) {
        return new SessionEvent(sessionId, Kind.RESYNC, null, 0, null, null, 0, null, Clock.micros());
    }

    /** Whether this start is a re-announcement of a running session (it carries the committed tokens). */
    public boolean reannounced() {
        return kind == Kind.START && committed != null;
    }

    /**
     * The sampling parameters level {@code level} (1, 2 or 3) draws with: the request's seed mixed
     * with the level, so each level has its own random stream. Speculative sampling is exact only
     * when a level's acceptance draws are independent of the draws that made the proposal; three
     * levels replaying one stream are not (measured: X^2 = 967 on 69 degrees of freedom against
     * the target's distribution, LevelsSamplingExactnessTest). A session built from a
     * re-announcement also mixes in the log's length and the epoch: restarting the stream would
     * draw again random numbers the log already spent, and tie the new tokens to the old ones.
     */
    public SamplingParams samplingParams(int level) {
        SamplingParams p = sampling.params();
        long seed = p.seed() ^ 0xBF58476D1CE4E5B9L * level;
        if (committed != null) {
            seed ^= 0x9E3779B97F4A7C15L * (committed.length + 1L + ((long) epoch << 32));
        }
        return new SamplingParams(p.temperature(), p.topK(), p.topP(), seed);
    }

    /** The session's token log as this start knows it: the prompt, then the committed tokens. */
    public int[] log() {
        if (committed == null) {
            return prompt;
        }
        int[] log = Arrays.copyOf(prompt, prompt.length + committed.length);
        System.arraycopy(committed, 0, log, prompt.length, committed.length);
        return log;
    }
}
