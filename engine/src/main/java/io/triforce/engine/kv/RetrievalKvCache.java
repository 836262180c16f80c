package io.triforce.engine.kv;

import io.triforce.engine.cpu.CpuKvCache;
import io.triforce.engine.cpu.KvSlots;
import io.triforce.engine.cpu.RotaryEmbedding;
import io.triforce.engine.cpu.VectorMath;
import io.triforce.engine.model.ModelConfig;
import java.util.Arrays;

/**
 * TriForce's retrieval cache (level 2: the target's weights over a small KV budget).
 *
 * <p>{@link #rebuild} splits the full cache of each layer into chunks of {@code chunk}
 * tokens, keys each chunk by the mean of its post-RoPE keys, scores it by the dot product with
 * the newest query — summed over the query heads that share the KV head (GQA) — and keeps the
 * best {@code budget/chunk} chunks per layer and KV head, chunk 0 (the attention sink) always
 * among them. Selected keys keep their original positions. Tokens after the last whole chunk
 * live in a tail; new tokens append to it. Per (layer, KV head) the slots are:
 * <pre>
 *   [0, selected)                      selected chunks, in position order
 *   [selected, selected + tail length) tail: slot selected + i holds position tailStart + i
 * </pre>
 */
public final class RetrievalKvCache implements CpuKvCache, RetrievalCache {

    private final ModelConfig config;
    private final int budget;
    private final int chunk;
    private final KvSlots[][] slots;          // [layer][kvHead]
    private final int[][][] selectedChunks;   // [layer][kvHead][chunks kept], ascending
    private int selected;                     // tokens in the selected region (same for every head)
    private int tailStart;
    private int length;
    private int syncedUpTo;                   // tail positions below this hold the target's own K/V

    public RetrievalKvCache(ModelConfig config, int budget, int chunk) {
        if (chunk < 1 || budget < chunk) {
            throw new IllegalArgumentException("retrieval cache needs chunk >= 1 and budget >= chunk; got budget "
                    + budget + ", chunk " + chunk);
        }
        this.config = config;
        this.budget = budget;
        this.chunk = chunk;
        this.slots = new KvSlots[config.nLayers()][config.nKvHeads()];
        this.selectedChunks = new int[config.nLayers()][config.nKvHeads()][0];
        for (KvSlots[] layer : slots) {
            for (int h = 0; h < layer.length; h++) {
                layer[h] = new KvSlots(config.headDim(), budget + 64);
            }
        }
    }

    public int budget() {
        return budget;
    }

    public int chunk() {
        return chunk;
    }

    @Override
    public int tailStart() {
        return tailStart;
    }

    /** The chunk indices kept for (layer, kvHead), ascending. */
    public int[] selectedChunks(int layer, int kvHead) {
        return selectedChunks[layer][kvHead].clone();
    }

    @Override
    public int length() {
        return length;
    }

    @Override
    public void truncate(int newLength) {
        if (newLength < tailStart || newLength > length) {
            throw new IllegalArgumentException("retrieval cache of length " + length + " (tail from " + tailStart
                    + ") cannot roll back to " + newLength);
        }
        length = newLength;
        syncedUpTo = Math.min(syncedUpTo, newLength);
    }

    /**
     * Re-selects chunks from {@code full} using the query of the newest token the target
     * processed, and copies the remainder after the last whole chunk into the tail.
     */
    @Override
    public void rebuild(KvCache fullCache) {
        FullKvCache full = RetrievalCache.requireFull(fullCache, FullKvCache.class);
        int chunks = full.length() / chunk;
        int keep = Math.min(chunks, budget / chunk);
        for (int layer = 0; layer < config.nLayers(); layer++) {
            float[] query = full.lastQuery(layer);
            for (int g = 0; g < config.nKvHeads(); g++) {
                int[] kept = keep == chunks ? allChunks(chunks) : topChunks(full.slots(layer, g), query, g, chunks, keep);
                selectedChunks[layer][g] = kept;
                KvSlots source = full.slots(layer, g);
                KvSlots target = slots[layer][g];
                int slot = 0;
                for (int c : kept) {
                    for (int p = c * chunk; p < (c + 1) * chunk; p++) {
                        target.copySlot(source, p, slot++);
                    }
                }
            }
        }
        selected = keep * chunk;
        tailStart = chunks * chunk;
        length = tailStart;
        syncedUpTo = tailStart;
        syncTail(full);
    }

    /**
     * Rolls back to {@code full}'s length if this cache ran ahead, and replaces the tail
     * entries this cache computed itself by the target's verified keys/values.
     */
    @Override
    public void syncTail(KvCache fullCache) {
        FullKvCache full = RetrievalCache.requireFull(fullCache, FullKvCache.class);
        if (full.length() < tailStart) {
            throw new IllegalStateException("full cache (" + full.length() + ") is behind the retrieval tail ("
                    + tailStart + "): rebuild instead");
        }
        syncedUpTo = Math.min(syncedUpTo, Math.min(length, full.length()));
        for (int layer = 0; layer < config.nLayers(); layer++) {
            for (int g = 0; g < config.nKvHeads(); g++) {
                KvSlots source = full.slots(layer, g);
                KvSlots target = slots[layer][g];
                for (int p = syncedUpTo; p < full.length(); p++) {
                    target.copySlot(source, p, selected + p - tailStart);
                }
            }
        }
        length = full.length();
        syncedUpTo = length;
    }

    private static int[] allChunks(int chunks) {
        int[] all = new int[chunks];
        Arrays.setAll(all, i -> i);
        return all;
    }

    /** Chunk 0 plus the {@code keep - 1} best-scoring other chunks, ascending. */
    private int[] topChunks(KvSlots keys, float[] query, int kvHead, int chunks, int keep) {
        float[] scores = chunkScores(keys, query, kvHead, chunks);
        scores[0] = Float.POSITIVE_INFINITY;
        Integer[] order = new Integer[chunks];
        Arrays.setAll(order, i -> i);
        Arrays.sort(order, (a, b) -> {
            int byScore = Float.compare(scores[b], scores[a]);
            return byScore != 0 ? byScore : Integer.compare(a, b);
        });
        int[] kept = new int[keep];
        for (int i = 0; i < keep; i++) {
            kept[i] = order[i];
        }
        Arrays.sort(kept);
        return kept;
    }

    /**
     * score[c] = sum over the query heads h sharing kvHead of q_h . mean(keys of chunk c).
     */
    private float[] chunkScores(KvSlots keys, float[] query, int kvHead, int chunks) {
        int headDim = config.headDim();
        int group = config.groupSize();
        float[] mean = new float[headDim];
        float[] key = new float[headDim];
        float[] scores = new float[chunks];
        for (int c = 0; c < chunks; c++) {
            Arrays.fill(mean, 0f);
            for (int p = c * chunk; p < (c + 1) * chunk; p++) {
                keys.key(p, key, 0);
                VectorMath.add(key, mean, 0, headDim);
            }
            VectorMath.scale(mean, 0, headDim, 1f / chunk);
            float s = 0f;
            for (int h = 0; h < group; h++) {
                s += VectorMath.dot(query, (kvHead * group + h) * headDim, mean, 0, headDim);
            }
            scores[c] = s;
        }
        return scores;
    }

    @Override
    public int queryPosition(int t) {
        return length + t;
    }

    @Override
    public void store(int layer, int t, float[] k, int kOff, float[] v, int vOff, RotaryEmbedding rope) {
        int position = length + t;
        rope.rotate(k, kOff, config.nKvHeads(), position);
        int headDim = config.headDim();
        for (int h = 0; h < config.nKvHeads(); h++) {
            slots[layer][h].put(selected + position - tailStart, k, kOff + h * headDim, v, vOff + h * headDim);
        }
    }

    @Override
    public KvSlots.View view(int layer, int kvHead, int t, KvSlots scratch, RotaryEmbedding rope) {
        return new KvSlots.View(slots[layer][kvHead], selected + length + t - tailStart + 1);
    }

    @Override
    public void advance(int n) {
        length += n;
    }
}
