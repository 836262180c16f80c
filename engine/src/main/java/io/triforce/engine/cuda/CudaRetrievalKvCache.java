package io.triforce.engine.cuda;

import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.RetrievalCache;
import io.triforce.engine.model.ModelConfig;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * TriForce's retrieval cache (level 2) on the GPU, with the rules of the CPU's
 * {@link io.triforce.engine.kv.RetrievalKvCache}: {@link #rebuild} splits a full cache into chunks
 * of {@code chunk} tokens, scores each chunk by the newest query (post-RoPE, the query heads of
 * a KV head summed) against the mean of its keys, and keeps chunk 0 plus the best others,
 * {@code budget/chunk} in all, per layer and KV head, in position order; tokens after the last
 * whole chunk form a tail that new tokens extend. Selected keys keep their positions. Scoring,
 * top-k (a bitonic sort per head) and the gather run on the device, one launch each for all layers.
 * Slots: [0, selected) the kept chunks, then the tail; position p of the tail sits in slot
 * selected + p - tailStart. The slot store starts with room for {@code tailCapacity} tail
 * tokens and doubles when the tail outgrows it.
 */
public final class CudaRetrievalKvCache implements RetrievalCache {

    /** Most chunks a rebuild scores (the top-k sort runs in one block's shared memory). */
    private static final int MAX_CHUNKS = 16 * 1024;

    private CudaKvCache storage;
    private final CudaDevice dev;
    private final ModelConfig config;
    private final int budget;
    private final int chunk;
    private final CUdeviceptr scores;     // fp32 [layers][kvHeads][chunks]
    private final CUdeviceptr selection;  // int [layers][kvHeads][keep]
    private int selected;
    private int tailStart;
    private int syncedUpTo;               // tail positions below this hold the target's own K/V

    CudaRetrievalKvCache(CudaDevice dev, ModelConfig config, int budget, int chunk, int tailCapacity) {
        if (chunk < 1 || budget < chunk) {
            throw new IllegalArgumentException("retrieval cache needs chunk >= 1 and budget >= chunk; got budget "
                    + budget + ", chunk " + chunk);
        }
        this.dev = dev;
        this.config = config;
        this.budget = budget;
        this.chunk = chunk;
        this.storage = new CudaKvCache(dev, config, budget + tailCapacity);
        this.selection = dev.alloc(4L * config.nLayers() * config.nKvHeads() * (budget / chunk));
        this.scores = dev.alloc(4L * config.nLayers() * config.nKvHeads() * MAX_CHUNKS);
    }

    @Override
    public int length() {
        return storage.length();
    }

    /** First position of the tail: everything before it is represented by selected chunks. */
    @Override
    public int tailStart() {
        return tailStart;
    }

    @Override
    public void truncate(int newLength) {
        if (newLength < tailStart || newLength > length()) {
            throw new IllegalArgumentException("retrieval cache of length " + length() + " (tail from " + tailStart
                    + ") cannot roll back to " + newLength);
        }
        storage.truncate(newLength);
        syncedUpTo = Math.min(syncedUpTo, newLength);
    }

    @Override
    public void rebuild(KvCache fullCache) {
        CudaKvCache full = RetrievalCache.requireFull(fullCache, CudaKvCache.class);
        dev.use();
        int chunks = full.length() / chunk;
        int keep = Math.min(chunks, budget / chunk);
        if (chunks > MAX_CHUNKS) {
            throw new IllegalStateException("retrieval rebuild supports up to " + MAX_CHUNKS * chunk + " tokens; got "
                    + full.length());
        }
        int layers = config.nLayers();
        int kvHeads = config.nKvHeads();
        if (keep > 0) {
            int sortSize = Integer.highestOneBit(Math.max(1, chunks - 1)) << 1;
            dev.launch("chunk_scores", (chunks + 7) / 8, kvHeads, layers, 256, 0, full.keyTable, full.capacity,
                    full.lastQuery, config.nHeads(), kvHeads, config.headDim(), chunk, chunks, MAX_CHUNKS, scores);
            dev.allowSharedMemory("topk_chunks", 8 * sortSize);
            dev.launch("topk_chunks", kvHeads, layers, 1, 1024, 8 * sortSize, scores, chunks, MAX_CHUNKS, keep,
                    sortSize, selection);
            dev.launch("gather_chunks", keep, kvHeads, layers, 128, 0, full.keyTable, full.valueTable, full.capacity,
                    storage.keyTable, storage.valueTable, storage.capacity, selection, keep, chunk, config.headDim());
        }
        selected = keep * chunk;
        tailStart = chunks * chunk;
        storage.setLength(tailStart);
        storage.slotShift = selected - tailStart;
        syncedUpTo = tailStart;
        syncTail(full);
    }

    /**
     * Rolls back to {@code full}'s length if this cache ran ahead, and replaces the tail entries
     * this cache computed itself by the target's verified keys and values.
     */
    @Override
    public void syncTail(KvCache fullCache) {
        CudaKvCache full = RetrievalCache.requireFull(fullCache, CudaKvCache.class);
        dev.use();
        if (full.length() < tailStart) {
            throw new IllegalStateException("full cache (" + full.length() + ") is behind the retrieval tail ("
                    + tailStart + "): rebuild instead");
        }
        storage(full.length() - length());
        syncedUpTo = Math.min(syncedUpTo, Math.min(length(), full.length()));
        int count = full.length() - syncedUpTo;
        if (count > 0) {
            dev.launch("copy_slots", count, config.nKvHeads(), config.nLayers(), 32, 0, full.keyTable, full.valueTable,
                    full.capacity, syncedUpTo, storage.keyTable, storage.valueTable, storage.capacity,
                    selected + syncedUpTo - tailStart, config.headDim());
        }
        storage.setLength(full.length());
        syncedUpTo = full.length();
    }

    /**
     * The slot store, grown first if {@code newTokens} more tokens would not fit (the used slots
     * move to a store twice as large; its graphs are captured anew).
     */
    CudaKvCache storage(int newTokens) {
        int used = storage.length() + storage.slotShift;
        if (used + newTokens > storage.capacity()) {
            CudaKvCache grown = new CudaKvCache(dev, config, Math.max(2 * storage.capacity(), used + newTokens));
            if (used > 0) {
                dev.launch("copy_slots", used, config.nKvHeads(), config.nLayers(), 32, 0, storage.keyTable,
                        storage.valueTable, storage.capacity, 0, grown.keyTable, grown.valueTable, grown.capacity, 0,
                        config.headDim());
            }
            grown.setLength(storage.length());
            grown.slotShift = storage.slotShift;
            dev.synchronize();
            storage.close();
            storage = grown;
        }
        return storage;
    }

    /** The chunk indices kept for (layer, kvHead), ascending, as the last rebuild chose them. */
    public int[] selectedChunks(int layer, int kvHead) {
        dev.use();
        int keep = selected / chunk;
        int[] out = new int[keep];
        if (keep > 0) {
            long offset = 4L * ((long) layer * config.nKvHeads() + kvHead) * keep;
            dev.toHost(Pointer.to(out), selection.withByteOffset(offset), 4L * keep);
        }
        return out;
    }

    @Override
    public void close() {
        dev.use();
        storage.close();
        CudaDevice.free(scores);
        CudaDevice.free(selection);
    }
}
