package io.triforce.engine.cpu;

import java.util.Arrays;

/**
 * Keys and values of one (layer, KV head), slot by slot. Keys are stored in tiles of
 * {@link #TILE} slots, transposed, so attention scores for a whole tile come out of one FMA
 * per head dimension without any horizontal reduction:
 * <pre>
 *   keyTiles [capacity/TILE][headDim][TILE]
 *   values   [capacity][headDim]
 * </pre>
 * Capacity grows on demand.
 */
public final class KvSlots {

    public static final int TILE = VectorMath.LANES;

    private final int headDim;
    float[] keyTiles;
    float[] values;
    private int capacity;

    public KvSlots(int headDim, int initialCapacity) {
        this.headDim = headDim;
        this.capacity = roundUp(Math.max(initialCapacity, TILE));
        this.keyTiles = new float[capacity * headDim];
        this.values = new float[capacity * headDim];
    }

    public int headDim() {
        return headDim;
    }

    /** Writes the key k[kOff..kOff+headDim) and value v[vOff..] into {@code slot}. */
    public void put(int slot, float[] k, int kOff, float[] v, int vOff) {
        ensureCapacity(slot + 1);
        int tileBase = (slot / TILE) * headDim * TILE + slot % TILE;
        for (int d = 0; d < headDim; d++) {
            keyTiles[tileBase + d * TILE] = k[kOff + d];
        }
        System.arraycopy(v, vOff, values, slot * headDim, headDim);
    }

    /** Copies slot {@code from} of {@code src} into slot {@code to} of this store. */
    public void copySlot(KvSlots src, int from, int to) {
        ensureCapacity(to + 1);
        int srcBase = (from / TILE) * headDim * TILE + from % TILE;
        int dstBase = (to / TILE) * headDim * TILE + to % TILE;
        for (int d = 0; d < headDim; d++) {
            keyTiles[dstBase + d * TILE] = src.keyTiles[srcBase + d * TILE];
        }
        System.arraycopy(src.values, from * headDim, values, to * headDim, headDim);
    }

    /** Reads the key in {@code slot} into out[outOff..outOff+headDim). */
    public void key(int slot, float[] out, int outOff) {
        int tileBase = (slot / TILE) * headDim * TILE + slot % TILE;
        for (int d = 0; d < headDim; d++) {
            out[outOff + d] = keyTiles[tileBase + d * TILE];
        }
    }

    /** Reads the value in {@code slot} into out[outOff..outOff+headDim). */
    public void value(int slot, float[] out, int outOff) {
        System.arraycopy(values, slot * headDim, out, outOff, headDim);
    }

    private void ensureCapacity(int slots) {
        if (slots <= capacity) {
            return;
        }
        int grown = roundUp(Math.max(slots, capacity * 2));
        keyTiles = Arrays.copyOf(keyTiles, grown * headDim);
        values = Arrays.copyOf(values, grown * headDim);
        capacity = grown;
    }

    private static int roundUp(int slots) {
        return (slots + TILE - 1) / TILE * TILE;
    }

    /** The first {@code count} slots of {@code slots}: what one query attends in one (layer, KV head). */
    public record View(KvSlots slots, int count) {
    }
}
