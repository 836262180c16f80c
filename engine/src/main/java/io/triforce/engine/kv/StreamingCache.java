package io.triforce.engine.kv;

/**
 * The StreamingLLM cache's contract (level 1, the tiny draft), whatever backend holds it: the
 * positions {@link StreamingWindow} keeps, keys rotated to their index in each query's view.
 */
public interface StreamingCache extends KvCache {

    /** Which positions the cache keeps and where: for reading; only the cache moves them. */
    StreamingWindow positions();

    default int sinks() {
        return positions().sinks();
    }

    default int window() {
        return positions().window();
    }

    @Override
    default int length() {
        return positions().length();
    }

    @Override
    default void truncate(int newLength) {
        positions().truncate(newLength);
    }

    /**
     * Jumps to {@code position} without storing the tokens in between: they would have been
     * evicted anyway. Used at prefill to absorb only the sinks and the last window of a prompt.
     */
    default void skipTo(int position) {
        positions().skipTo(position);
    }
}
