package io.triforce.engine.cuda;

import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;

import io.triforce.engine.kv.KvCache;
import io.triforce.engine.model.ModelConfig;
import java.util.HashMap;
import java.util.Map;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUgraphExec;

/**
 * A KV cache in GPU memory: per layer, keys (after RoPE) and values as bf16
 * [kvHeads][capacity][headDim]. As a full cache, slot = position; as the storage of a
 * {@link CudaRetrievalKvCache}, slot = position + {@link #slotShift}; as the view of a
 * {@link CudaStreamingKvCache}, slot = RoPE position = index in the view. Attention splits the slots into runs of
 * {@link #splitLength} keys (a function of the capacity, never of the step); each split writes fp32
 * partial results that a combine kernel merges. Also holds the CUDA graphs of this cache's
 * forward steps, whose kernels point at its buffers. Rollback is a length move; {@link #close}
 * frees the GPU memory.
 */
public final class CudaKvCache implements KvCache {

    final CudaDevice dev;
    final int capacity;
    final int splitLength;
    final int maxSplits;
    final CUdeviceptr[] keys;
    final CUdeviceptr[] values;
    final CUdeviceptr partialO;
    final CUdeviceptr partialM;
    final CUdeviceptr partialL;
    final CUdeviceptr keyTable;     // uint64 [layers]: base address of keys[layer]
    final CUdeviceptr valueTable;
    final CUdeviceptr lastQuery;    // fp32 [layers][nHeads][headDim]: the newest token's post-RoPE query
    final Map<Integer, CUgraphExec> graphs = new HashMap<>();
    final long bytesPerLayer;
    private final int usableCapacity;
    private int length;
    /** Slot of position p is p + slotShift. */
    int slotShift;
    /** The StreamingLLM cache whose view this is (its steps build the view first), or null. */
    final CudaStreamingKvCache viewOf;

    CudaKvCache(CudaDevice dev, ModelConfig c, int capacity) {
        this(dev, c, capacity, null);
    }

    CudaKvCache(CudaDevice dev, ModelConfig c, int capacity, CudaStreamingKvCache viewOf) {
        if (capacity < 1) {
            throw new IllegalArgumentException("cache capacity must be positive, got " + capacity);
        }
        this.dev = dev;
        this.viewOf = viewOf;
        this.usableCapacity = capacity;
        this.splitLength = splitLength(capacity, c);
        this.maxSplits = (capacity + splitLength - 1) / splitLength;
        this.capacity = maxSplits * splitLength;
        this.keys = new CUdeviceptr[c.nLayers()];
        this.values = new CUdeviceptr[c.nLayers()];
        this.bytesPerLayer = 2L * c.nKvHeads() * this.capacity * c.headDim();
        for (int l = 0; l < c.nLayers(); l++) {
            keys[l] = dev.alloc(bytesPerLayer);
            values[l] = dev.alloc(bytesPerLayer);
        }
        keyTable = table(dev, keys);
        valueTable = table(dev, values);
        lastQuery = dev.alloc(4L * c.nLayers() * c.qDim());
        long rows = (long) maxSplits * CudaTransformer.MAX_TOKENS * c.nHeads();
        partialO = dev.alloc(4 * rows * c.headDim());
        partialM = dev.alloc(4 * rows);
        partialL = dev.alloc(4 * rows);
    }

    private static CUdeviceptr table(CudaDevice dev, CUdeviceptr[] layers) {
        long[] addresses = new long[layers.length];
        for (int l = 0; l < layers.length; l++) {
            addresses[l] = CudaDevice.address(layers[l]);
        }
        CUdeviceptr t = dev.alloc(8L * layers.length);
        dev.toDevice(t, jcuda.Pointer.to(addresses), 8L * layers.length);
        return t;
    }

    /**
     * Keys per attention split of a cache of {@code capacity} slots. 256 query rows' worth per split
     * (the fp32 partials stay small next to the keys they summarise), longer while that still leaves
     * 512 or more (split, KV head) blocks -- with grouped queries 256, about two per SM of an H100
     * (one wave) --, shorter while there are fewer than 256, in whole 64-key tiles: the kernels load
     * whole tiles (a split of 96 keys, which halving 768 for three queries a KV head gave, read past
     * the cache's end). Measured on an H100 (PERFORMANCE.md): against 128 / 2048 blocks, verify 16
     * went 9.97 -> 9.55 ms at Llama-3.1-8B 32K and 15.98 -> 14.50 ms at 128K. Grouped queries put a
     * verify of 8 or more tokens on the wgmma attention, whose blocks pay more per split (pipeline
     * fill, a partial row per query): one wave at Llama-3.1-8B 128K took verify 8 12.15 -> 11.93 ms,
     * verify 16 12.84 -> 12.50 and a 128K prefill 21.7 -> 20.8 s, decode the same; Llama-2-7B's
     * decode and verify 16 (16 rows: the all-warps path) were 0.1-1% slower at one wave.
     */
    static int splitLength(int capacity, ModelConfig c) {
        long slotsTimesHeads = (long) capacity * c.nKvHeads();
        int minBlocks = c.groupSize() > 1 ? 256 : 512;
        int split = 256 * c.groupSize();
        while (2L * split * minBlocks <= slotsTimesHeads) {
            split *= 2;
        }
        while (split % 128 == 0 && slotsTimesHeads / split < 256) {
            split /= 2;
        }
        return split;
    }

    @Override
    public int length() {
        return length;
    }

    void setLength(int length) {
        this.length = length;
    }

    /** Slots this cache can hold. */
    public int capacity() {
        return usableCapacity;
    }

    @Override
    public void truncate(int newLength) {
        if (newLength < 0 || newLength > length) {
            throw new IllegalArgumentException("cannot truncate a cache of length " + length + " to " + newLength);
        }
        length = newLength;
    }

    void advance(int n) {
        length += n;
    }

    /** Benchmarks: random keys and values in every slot, and a length of {@code length}. */
    void fillRandom(long seed, int length) {
        if (length > usableCapacity) {
            throw new IllegalArgumentException("length " + length + " > capacity " + usableCapacity);
        }
        for (int l = 0; l < keys.length; l++) {
            for (CUdeviceptr p : new CUdeviceptr[] {keys[l], values[l]}) {
                long count = bytesPerLayer / 2;
                dev.launchFlat("fill_random_bf16", count, p, count, seed++, 1f);
            }
        }
        dev.synchronize();
        this.length = length;
    }

    @Override
    public void close() {
        dev.use();
        graphs.values().forEach(g -> cuGraphExecDestroy(g));
        graphs.clear();
        for (int l = 0; l < keys.length; l++) {
            CudaDevice.free(keys[l]);
            CudaDevice.free(values[l]);
        }
        CudaDevice.free(keyTable);
        CudaDevice.free(valueTable);
        CudaDevice.free(lastQuery);
        CudaDevice.free(partialO);
        CudaDevice.free(partialM);
        CudaDevice.free(partialL);
    }
}
