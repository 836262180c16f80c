package io.triforce.engine.cpu;

import io.triforce.engine.kv.KvCache;

/**
 * What the CPU forward pass asks of a cache while it runs a block of tokens. The cache
 * decides where keys live, which RoPE positions queries get and which keys a query sees.
 */
public interface CpuKvCache extends KvCache {

    /** RoPE position of query {@code t} of the block being appended. */
    int queryPosition(int t);

    /**
     * Stores token {@code t}'s keys (before RoPE, all KV heads: [nKvHeads*headDim]) and values
     * for {@code layer}. May rotate {@code k} in place.
     */
    void store(int layer, int t, float[] k, int kOff, float[] v, int vOff, RotaryEmbedding rope);

    /**
     * The keys and values query {@code t} of the block attends in ({@code layer}, {@code kvHead}),
     * its own included. Caches that must assemble a view (re-rotated keys) write it into
     * {@code scratch}.
     */
    KvSlots.View view(int layer, int kvHead, int t, KvSlots scratch, RotaryEmbedding rope);

    /**
     * Whether every query of a block sees a prefix of one shared store (so one pass over the
     * keys can serve them all); false when views are assembled per query.
     */
    default boolean viewsShareSlots() {
        return true;
    }

    /** Called after every layer has stored the block: the block is now part of the sequence. */
    void advance(int n);

    /** The post-RoPE query [nHeads*headDim] of the block's last token at {@code layer}. */
    default void recordLastQuery(int layer, float[] q, int off) {
    }
}
