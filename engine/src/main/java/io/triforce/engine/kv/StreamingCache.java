package io.triforce.engine.kv;

/**
 * The StreamingLLM cache's contract (level 1, the tiny draft), whatever backend holds it: the
 * positions {@link StreamingWindow} keeps, keys rotated to their index in each query's view.
 */
public interface StreamingCache extends KvCache {

    int sinks();

    int window();

    /**
     * Jumps to {@code position} without storing the tokens in between: they would have been
     * evicted anyway. Used at prefill to absorb only the sinks and the last window of a prompt.
     */
    void skipTo(int position);
}
