package io.triforce.engine.kv;

/**
 * Which positions a StreamingLLM cache keeps and where, whatever backend holds the keys: the
 * first {@code sinks} tokens plus the most recent {@code window} (a token's window includes
 * itself), the recent ones in a ring of {@code window + slack} slots after the sinks, so a
 * rejected speculation of up to {@code slack} tokens rolls back with a length move.
 *
 * <p>A query at position p sees {@code [0, min(sinks, p + 1))} then {@code [windowFirst(p), p]},
 * in that order; its index in that view is where StreamingLLM rotates keys and queries to, so
 * eviction never breaks positions.
 */
public final class StreamingWindow {

    private final int sinks;
    private final int window;
    private final int slack;
    private final int ring;
    private int length;
    private int windowStart;             // positions in [sinks, windowStart) were skipped: never attended
    private int rollbackFloor;           // lowest length truncate() may restore

    public StreamingWindow(int sinks, int window, int slack) {
        if (sinks < 0 || window < 1 || slack < 0) {
            throw new IllegalArgumentException("streaming cache needs sinks >= 0, window >= 1, slack >= 0; got "
                    + sinks + ", " + window + ", " + slack);
        }
        this.sinks = sinks;
        this.window = window;
        this.slack = slack;
        this.ring = window + slack;
    }

    public int sinks() {
        return sinks;
    }

    public int window() {
        return window;
    }

    /** Slots a backend allocates: the sinks, then the ring. */
    public int slots() {
        return sinks + ring;
    }

    /** Slots of the ring after the sinks. */
    public int ring() {
        return ring;
    }

    public int length() {
        return length;
    }

    /** Positions in [sinks, windowStart) were skipped ({@link #skipTo}): no query sees them. */
    public int windowStart() {
        return windowStart;
    }

    public void truncate(int newLength) {
        if (newLength > length || newLength < rollbackFloor) {
            throw new IllegalArgumentException("streaming cache of length " + length + " can roll back to "
                    + rollbackFloor + " at the earliest, not " + newLength);
        }
        length = newLength;
    }

    /** See {@link StreamingCache#skipTo}. */
    public void skipTo(int position) {
        if (position < length) {
            throw new IllegalArgumentException("cannot skip backwards from " + length + " to " + position);
        }
        length = position;
        windowStart = position;
        rollbackFloor = position;
    }

    /** The block of n tokens is now part of the sequence. */
    public void advance(int n) {
        length += n;
        rollbackFloor = Math.max(rollbackFloor, length - slack - 1);
    }

    /**
     * How many of the next {@code m} tokens (from {@link #length}) can run as one block whose
     * queries all see one view that grows by a token a query: those whose window starts where the
     * first one's does. Once the window is full every token moves it, so blocks are one token.
     */
    public int tokensSharingView(int m) {
        int first = windowFirst(length);
        int unmoved = Math.max(sinks, windowStart);
        return first > unmoved ? Math.min(m, 1) : Math.min(m, unmoved + window - length);
    }

    /** First recent position query p sees. */
    public int windowFirst(int p) {
        return Math.max(Math.max(sinks, p + 1 - window), windowStart);
    }

    /** Sink positions query p sees: [0, sinksSeen(p)). */
    public int sinksSeen(int p) {
        return Math.min(sinks, p + 1);
    }

    /** Positions query p sees, its own included; p's index in its view is one less. */
    public int attendedCount(int p) {
        return sinksSeen(p) + Math.max(0, p + 1 - windowFirst(p));
    }

    /** Slot of a kept position. */
    public int slot(int position) {
        return position < sinks ? position : sinks + (position - sinks) % ring;
    }
}
