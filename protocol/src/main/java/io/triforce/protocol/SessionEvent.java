package io.triforce.protocol;

/**
 * Starts, cancels or fails a session (topic {@link Topics#SESSIONS}). A start carries everything
 * a level needs: the prompt tokens, the token budget and the sampling parameters. A level whose
 * session failed says so with {@code FAILED} and the reason: every level ends the session, and
 * verify-service ends its log with that error, so the client learns at once instead of waiting
 * for a token timeout.
 */
public record SessionEvent(String sessionId, Kind kind, int[] prompt, int maxTokens, Sampling sampling,
                           String error, long sentAtMicros) {

    public enum Kind { START, CANCEL, FAILED }

    public static SessionEvent start(String sessionId, int[] prompt, int maxTokens, Sampling sampling) {
        return new SessionEvent(sessionId, Kind.START, prompt, maxTokens, sampling, null, Clock.micros());
    }

    public static SessionEvent cancel(String sessionId) {
        return new SessionEvent(sessionId, Kind.CANCEL, null, 0, null, null, Clock.micros());
    }

    /** {@code service} could not go on with the session, because of {@code e}. */
    public static SessionEvent failed(String sessionId, String service, Exception e) {
        return new SessionEvent(sessionId, Kind.FAILED, null, 0, null, service + ": " + e.getMessage(), Clock.micros());
    }
}
