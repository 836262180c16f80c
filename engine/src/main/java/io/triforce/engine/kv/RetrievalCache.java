package io.triforce.engine.kv;

/**
 * The retrieval cache's contract, whatever backend holds it: a budget of chunks selected from
 * a full cache of the same backend, plus a tail of newer tokens.
 */
public interface RetrievalCache extends KvCache {

    /** Re-selects chunks from {@code full} with the query of the newest token the target processed. */
    void rebuild(KvCache full);

    /**
     * Rolls back to {@code full}'s length if this cache ran ahead, and replaces the tail entries
     * it computed itself by the target's verified keys and values.
     */
    void syncTail(KvCache full);

    /** First position of the tail: everything before it is represented by selected chunks. */
    int tailStart();

    /** The full cache type a retrieval cache of this backend selects from, or a clear error. */
    static <T extends KvCache> T requireFull(KvCache full, Class<T> type) {
        if (!type.isInstance(full)) {
            throw new IllegalArgumentException("a retrieval cache selects from a " + type.getSimpleName()
                    + " of its own backend, not a " + full.getClass().getSimpleName());
        }
        return type.cast(full);
    }
}
