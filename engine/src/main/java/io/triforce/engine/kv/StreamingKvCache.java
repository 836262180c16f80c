package io.triforce.engine.kv;

import io.triforce.engine.cpu.CpuKvCache;
import io.triforce.engine.cpu.KvSlots;
import io.triforce.engine.cpu.RotaryEmbedding;
import io.triforce.engine.model.ModelConfig;

/**
 * StreamingLLM cache for the tiny draft (level 1): the first {@code sinks} tokens plus the
 * most recent {@code window} tokens (a token's window includes itself). Keys are stored
 * before RoPE and rotated at attention time to their index in what the query sees
 * (sinks first, then the window in order), so eviction never breaks positions; the query is
 * rotated to the index right after them.
 *
 * <p>Storage is a ring of {@code window + slack} slots after the sinks, so a rejected
 * speculation of up to {@code slack} tokens rolls back with a length move.
 */
public final class StreamingKvCache implements CpuKvCache {

    private final ModelConfig config;
    private final int sinks;
    private final int window;
    private final int slack;
    private final int ring;
    private final KvSlots[][] slots;     // [layer][kvHead], pre-RoPE keys
    private int length;
    private int windowStart;             // positions in [sinks, windowStart) were skipped: never attended
    private int rollbackFloor;           // lowest length truncate() may restore

    public StreamingKvCache(ModelConfig config, int sinks, int window, int slack) {
        if (sinks < 0 || window < 1 || slack < 0) {
            throw new IllegalArgumentException("streaming cache needs sinks >= 0, window >= 1, slack >= 0; got "
                    + sinks + ", " + window + ", " + slack);
        }
        this.config = config;
        this.sinks = sinks;
        this.window = window;
        this.slack = slack;
        this.ring = window + slack;
        this.slots = new KvSlots[config.nLayers()][config.nKvHeads()];
        for (KvSlots[] layer : slots) {
            for (int h = 0; h < layer.length; h++) {
                layer[h] = new KvSlots(config.headDim(), sinks + ring);
            }
        }
    }

    public int sinks() {
        return sinks;
    }

    public int window() {
        return window;
    }

    @Override
    public int length() {
        return length;
    }

    @Override
    public void truncate(int newLength) {
        if (newLength > length || newLength < rollbackFloor) {
            throw new IllegalArgumentException("streaming cache of length " + length + " can roll back to "
                    + rollbackFloor + " at the earliest, not " + newLength);
        }
        length = newLength;
    }

    /**
     * Jumps to {@code position} without storing the tokens in between: they would have been
     * evicted anyway. Used at prefill to absorb only the sinks and the last window of a prompt.
     */
    public void skipTo(int position) {
        if (position < length) {
            throw new IllegalArgumentException("cannot skip backwards from " + length + " to " + position);
        }
        length = position;
        windowStart = position;
        rollbackFloor = position;
    }

    /** Positions query p sees: [0, min(sinks, p+1)) then [windowFirst(p), p]. */
    private int windowFirst(int p) {
        return Math.max(Math.max(sinks, p + 1 - window), windowStart);
    }

    private int attendedCount(int p) {
        return Math.min(sinks, p + 1) + Math.max(0, p + 1 - windowFirst(p));
    }

    private int slot(int position) {
        return position < sinks ? position : sinks + (position - sinks) % ring;
    }

    @Override
    public int queryPosition(int t) {
        return attendedCount(length + t) - 1;
    }

    @Override
    public void store(int layer, int t, float[] k, int kOff, float[] v, int vOff, RotaryEmbedding rope) {
        int position = length + t;
        // a block stores all its keys before its queries attend. The slot reused here last held
        // position - ring, which some query of the block still attends unless it lies before the
        // window of the block's first query (windows only move forward)
        if (position - ring >= windowFirst(length)) {
            throw new IllegalStateException("a block of more than " + t + " tokens at position " + length
                    + " would overwrite keys its first tokens attend: this streaming cache keeps window + slack = "
                    + ring + " recent slots; feed at most slack + 1 = " + (slack + 1) + " tokens per block once"
                    + " the window is full");
        }
        int slot = slot(position);
        int headDim = config.headDim();
        for (int h = 0; h < config.nKvHeads(); h++) {
            slots[layer][h].put(slot, k, kOff + h * headDim, v, vOff + h * headDim);
        }
    }

    @Override
    public KvSlots.View view(int layer, int kvHead, int t, KvSlots scratch, RotaryEmbedding rope) {
        int p = length + t;
        KvSlots stored = slots[layer][kvHead];
        float[] key = new float[config.headDim()];
        float[] value = new float[config.headDim()];
        int index = 0;
        for (int pos = 0; pos < Math.min(sinks, p + 1); pos++) {
            index = copyRotated(stored, slot(pos), scratch, index, key, value, rope);
        }
        for (int pos = windowFirst(p); pos <= p; pos++) {
            index = copyRotated(stored, slot(pos), scratch, index, key, value, rope);
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
        length += n;
        rollbackFloor = Math.max(rollbackFloor, length - slack - 1);
    }
}
