package io.triforce.engine.kv;

/**
 * Keys and values of the tokens a model has seen, per layer. Rollback after a rejected
 * speculation is a length move: {@link #truncate}; slots past the length are overwritten.
 */
public interface KvCache {

    /** Number of tokens of the sequence this cache has absorbed (its next position). */
    int length();

    /** Forgets every token at position {@code >= length}. */
    void truncate(int length);
}
