package io.triforce.engine.kv;

/**
 * Keys and values of the tokens a model has seen, per layer. Rollback after a rejected
 * speculation is a length move: {@link #truncate}; slots past the length are overwritten.
 * {@link #close} frees what the garbage collector cannot see (GPU memory); whoever creates a
 * cache closes it when its generation ends.
 */
public interface KvCache extends AutoCloseable {

    /** Number of tokens of the sequence this cache has absorbed (its next position). */
    int length();

    /** Forgets every token at position {@code >= length}. */
    void truncate(int length);

    /** Frees the cache's memory outside the Java heap; a CPU cache has none. */
    @Override
    default void close() {
    }
}
