package io.triforce.protocol;

/**
 * The committed token log (topic {@link Topics#COMMITTED}), written only by verify-service:
 * {@code tokens} are final at positions {@code [start, start + tokens.length)}. {@code epoch}
 * counts the target's rejections; a commit with a newer epoch than a level has seen
 * invalidates that level's speculation past the common prefix. A non-null
 * {@code finishReason} ("stop", "length", "cancelled") or {@code error} ends the session.
 */
public record Commit(String sessionId, int epoch, int start, int[] tokens, String finishReason, String error,
                     LevelCounters level1, LevelCounters level2, long sentAtMicros) implements Timestamped {

    public boolean last() {
        return finishReason != null || error != null;
    }

    public static Commit failed(String sessionId, String error) {
        return new Commit(sessionId, 0, 0, new int[0], null, error, LevelCounters.ZERO, LevelCounters.ZERO,
                Clock.micros());
    }
}
