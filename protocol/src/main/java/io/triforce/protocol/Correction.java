package io.triforce.protocol;

/**
 * Level 2 tells level 1 that the session's speculative sequence from position {@code start}
 * on is {@code tokens} (everything after is gone); proposals of older epochs are stale.
 */
public record Correction(String sessionId, int epoch, int start, int[] tokens, long sentAtMicros)
        implements Timestamped {
}
