package io.triforce.protocol;

/**
 * Starts or cancels a session (topic {@link Topics#SESSIONS}). A start carries everything a
 * level needs: the prompt tokens, the token budget and the sampling parameters.
 */
public record SessionEvent(String sessionId, Kind kind, int[] prompt, int maxTokens, Sampling sampling,
                           long sentAtMicros) {

    public enum Kind { START, CANCEL }

    public static SessionEvent start(String sessionId, int[] prompt, int maxTokens, Sampling sampling) {
        return new SessionEvent(sessionId, Kind.START, prompt, maxTokens, sampling, Clock.micros());
    }

    public static SessionEvent cancel(String sessionId) {
        return new SessionEvent(sessionId, Kind.CANCEL, null, 0, null, Clock.micros());
    }
}
