package io.triforce.engine.kv;

import io.triforce.engine.cpu.CpuKvCache;
import io.triforce.engine.cpu.KvSlots;
import io.triforce.engine.cpu.RotaryEmbedding;
import io.triforce.engine.model.ModelConfig;

/**
 * Every token's keys (after RoPE, at their absolute positions) and values: the target's
 * cache at level 3, and the source a {@link RetrievalKvCache} selects from. Slot = position.
 */
public final class FullKvCache implements CpuKvCache {

    private final ModelConfig config;
    private final int capacity;
    private final KvSlots[][] slots;      // [layer][kvHead]
    private final float[][] lastQuery;    // [layer][nHeads*headDim], post-RoPE
    private int length;

    public FullKvCache(ModelConfig config, int capacity) {
        this.config = config;
        this.capacity = capacity;
        this.slots = new KvSlots[config.nLayers()][config.nKvHeads()];
        this.lastQuery = new float[config.nLayers()][config.qDim()];
        int initial = Math.min(capacity, 1024);
        for (KvSlots[] layer : slots) {
            for (int h = 0; h < layer.length; h++) {
                layer[h] = new KvSlots(config.headDim(), initial);
            }
        }
    }

    @Override
    public int length() {
        return length;
    }

    public int capacity() {
        return capacity;
    }

    @Override
    public void truncate(int newLength) {
        if (newLength < 0 || newLength > length) {
            throw new IllegalArgumentException("cannot truncate a cache of length " + length + " to " + newLength);
        }
        length = newLength;
    }

    @Override
    public int queryPosition(int t) {
        int position = length + t;
        if (position >= capacity) {
            throw new IllegalStateException("context is full: position " + position + " >= capacity " + capacity);
        }
        return position;
    }

    @Override
    public void store(int layer, int t, float[] k, int kOff, float[] v, int vOff, RotaryEmbedding rope) {
        int position = queryPosition(t);
        rope.rotate(k, kOff, config.nKvHeads(), position);
        int headDim = config.headDim();
        for (int h = 0; h < config.nKvHeads(); h++) {
            slots[layer][h].put(position, k, kOff + h * headDim, v, vOff + h * headDim);
        }
    }

    @Override
    public KvSlots.View view(int layer, int kvHead, int t, KvSlots scratch, RotaryEmbedding rope) {
        return new KvSlots.View(slots[layer][kvHead], length + t + 1);
    }

    @Override
    public void advance(int n) {
        length += n;
    }

    @Override
    public void recordLastQuery(int layer, float[] q, int off) {
        System.arraycopy(q, off, lastQuery[layer], 0, lastQuery[layer].length);
    }

    /** Keys/values of one (layer, KV head); slot = position. */
    KvSlots slots(int layer, int kvHead) {
        return slots[layer][kvHead];
    }

    /** The query of the most recent token this cache's model processed, per layer (post-RoPE). */
    float[] lastQuery(int layer) {
        return lastQuery[layer];
    }

    ModelConfig config() {
        return config;
    }
}
