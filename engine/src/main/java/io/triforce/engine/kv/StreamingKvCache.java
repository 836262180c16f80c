package io.triforce.engine.kv;

import io.triforce.engine.cpu.CpuKvCache;
import io.triforce.engine.cpu.KvSlots;
import io.triforce.engine.cpu.RotaryEmbedding;
import io.triforce.engine.model.ModelConfig;

/**
 * StreamingLLM cache for the tiny draft (level 1) on the CPU: the positions {@link StreamingWindow}
 * keeps. Keys are stored before RoPE and rotated at attention time to their index in what the
 * query sees (sinks first, then the window in order), so eviction never breaks positions; the
 * query is rotated to the index right after them.
 */
public final class StreamingKvCache implements CpuKvCache, StreamingCache {

    private final ModelConfig config;
    private final StreamingWindow positions;
    private final KvSlots[][] slots;     // [layer][kvHead], pre-RoPE keys

    public StreamingKvCache(ModelConfig config, int sinks, int window, int slack) {
        this.config = config;
        this.positions = new StreamingWindow(sinks, window, slack);
        this.slots = new KvSlots[config.nLayers()][config.nKvHeads()];
        for (KvSlots[] layer : slots) {
            for (int h = 0; h < layer.length; h++) {
                layer[h] = new KvSlots(config.headDim(), positions.slots());
            }
        }
    }

    @Override
    public StreamingWindow positions() {
        return positions;
    }

    @Override
    public int queryPosition(int t) {
        return positions.attendedCount(length() + t) - 1;
    }

    @Override
    public void store(int layer, int t, float[] k, int kOff, float[] v, int vOff, RotaryEmbedding rope) {
        int length = length();
        int position = length + t;
        // a block stores all its keys before its queries attend. The slot reused here last held
        // position - ring, which some query of the block still attends unless it lies before the
        // window of the block's first query (windows only move forward)
        if (position - positions.ring() >= positions.windowFirst(length)) {
            throw new IllegalStateException("a block of more than " + t + " tokens at position " + length
                    + " would overwrite keys its first tokens attend: this streaming cache keeps window + slack = "
                    + positions.ring() + " recent slots; feed at most slack + 1 = "
                    + (positions.ring() - positions.window() + 1) + " tokens per block once the window is full");
        }
        int slot = positions.slot(position);
        int headDim = config.headDim();
        for (int h = 0; h < config.nKvHeads(); h++) {
            slots[layer][h].put(slot, k, kOff + h * headDim, v, vOff + h * headDim);
        }
    }

    @Override
    public KvSlots.View view(int layer, int kvHead, int t, KvSlots scratch, RotaryEmbedding rope) {
        int p = length() + t;
        KvSlots stored = slots[layer][kvHead];
        float[] key = new float[config.headDim()];
        float[] value = new float[config.headDim()];
        int index = 0;
        for (int pos = 0; pos < positions.sinksSeen(p); pos++) {
            index = copyRotated(stored, positions.slot(pos), scratch, index, key, value, rope);
        }
        for (int pos = positions.windowFirst(p); pos <= p; pos++) {
            index = copyRotated(stored, positions.slot(pos), scratch, index, key, value, rope);
        }
        return new KvSlots.View(scratch, index);
    }

    private static int copyRotated(KvSlots from, int slot, KvSlots to, int index, float[] key, float[] value,
                                   RotaryEmbedding rope) {
        from.key(slot, key, 0);
        from.value(slot, value, 0);
        rope.rotate(key, 0, 1, index);
        to.put(index, key, 0, value, 0);
        return index + 1;
    }

    @Override
    public boolean viewsShareSlots() {
        return false;
    }

    @Override
    public void advance(int n) {
        positions.advance(n);
    }
}
