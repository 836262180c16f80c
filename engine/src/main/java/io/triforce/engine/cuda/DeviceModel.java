package io.triforce.engine.cuda;

import io.triforce.engine.model.LayerWeights;
import io.triforce.engine.model.LlamaWeights;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.tensor.DType;
import io.triforce.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * A model's weights on the GPU, in bf16: matrices in the tensor-core GEMV's tiled layout
 * (see triforce.cu), with q/k/v fused into one matrix (RoPE partners in one tile) and gate/up
 * into another (gate and up of a unit in one tile), so the GEMV epilogues apply RoPE and SwiGLU
 * in registers; norms and RoPE
 * frequencies in fp32; the embedding table row-major for lookups. Built once from checkpoint
 * weights ({@link #upload}) or from a seed directly on the device ({@link #random}).
 */
final class DeviceModel implements AutoCloseable {

    /**
     * A tiled matrix [rows][k] and how the GEMV splits it: {@code cps} 32-wide k chunks per
     * slice, {@code slices} slices whose fp32 partial sums an epilogue kernel adds.
     */
    record Matrix(CUdeviceptr data, int rows, int k, int cps, int slices) {

        int rowTiles() {
            return (rows + 15) / 16;
        }

        int kChunks() {
            return k / 32;
        }

        long bytes() {
            return (long) rowTiles() * 16 * k * 2;
        }
    }

    private static final int STAGING_BYTES = 64 << 20;
    /**
     * Most 32-wide k chunks in a GEMV slice (its fp32 partial sums are what the epilogue adds), but
     * for a matrix widened to keep to a portable cluster (up to {@link #MAX_CLUSTER_CPS}; see matrix).
     */
    static final int MAX_CPS = 32;
    /** Slices that make a portable thread-block cluster, and the most chunks a slice takes to keep to them. */
    private static final int CLUSTER_SLICES = 8;
    private static final int MAX_CLUSTER_CPS = 48;
    /** Row placements of tile_weights: as is; RoPE partners d, d + hd/2 in one tile; gate/up pairs in one tile. */
    private static final int IN_ORDER = 0;
    private static final int ROPE_PAIRS = 1;
    private static final int GATE_UP_PAIRS = 2;

    final ModelConfig config;
    final Matrix[] qkv;
    final Matrix[] wo;
    final Matrix[] gateUp;
    final Matrix[] down;
    final Matrix lmHead;
    final CUdeviceptr[] attentionNorm;
    final CUdeviceptr[] ffnNorm;
    final CUdeviceptr finalNorm;
    final CUdeviceptr embedding;
    final CUdeviceptr inverseFrequencies;
    private final List<CUdeviceptr> owned = new ArrayList<>();

    private DeviceModel(CudaDevice dev, ModelConfig c) {
        this.config = c;
        if (c.dim() % 32 != 0 || c.hiddenDim() % 32 != 0 || c.qDim() % 32 != 0) {
            throw new IllegalArgumentException("the CUDA backend needs dim, hidden_dim and heads*head_dim to be"
                    + " multiples of 32; got " + c.dim() + ", " + c.hiddenDim() + ", " + c.qDim());
        }
        if (c.hiddenDim() % 8 != 0) {
            throw new IllegalArgumentException("the CUDA backend needs hidden_dim to be a multiple of 8; got "
                    + c.hiddenDim());
        }
        if (c.headDim() != 64 && c.headDim() != 128) {
            throw new IllegalArgumentException("the CUDA backend supports head_dim 64 and 128; got " + c.headDim());
        }
        int layers = c.nLayers();
        qkv = new Matrix[layers];
        wo = new Matrix[layers];
        gateUp = new Matrix[layers];
        down = new Matrix[layers];
        attentionNorm = new CUdeviceptr[layers];
        ffnNorm = new CUdeviceptr[layers];
        for (int l = 0; l < layers; l++) {
            qkv[l] = matrix(dev, c.qDim() + 2 * c.kvDim(), c.dim());
            wo[l] = matrix(dev, c.dim(), c.qDim());
            gateUp[l] = matrix(dev, 2 * c.hiddenDim(), c.dim());
            down[l] = matrix(dev, c.dim(), c.hiddenDim());
            attentionNorm[l] = own(dev.alloc(4L * c.dim()));
            ffnNorm[l] = own(dev.alloc(4L * c.dim()));
        }
        lmHead = matrix(dev, c.vocabSize(), c.dim());
        finalNorm = own(dev.alloc(4L * c.dim()));
        embedding = own(dev.alloc(2L * c.vocabSize() * c.dim()));
        inverseFrequencies = own(dev.alloc(4L * c.headDim() / 2));
        float[] inv = c.rope().inverseFrequencies(c.headDim());
        dev.toDevice(inverseFrequencies, Pointer.to(inv), 4L * inv.length);
    }

    /** Uploads checkpoint weights (bf16, f16 or f32; converted to bf16). */
    static DeviceModel upload(CudaDevice dev, LlamaWeights w) {
        ModelConfig c = w.config();
        DeviceModel m = new DeviceModel(dev, c);
        try (Uploader up = new Uploader(dev)) {
            for (int l = 0; l < c.nLayers(); l++) {
                LayerWeights lw = w.layers()[l];
                up.tiled(lw.wq(), m.qkv[l], 0, ROPE_PAIRS, c.headDim());
                up.tiled(lw.wk(), m.qkv[l], c.qDim(), ROPE_PAIRS, c.headDim());
                up.tiled(lw.wv(), m.qkv[l], c.qDim() + c.kvDim(), ROPE_PAIRS, c.headDim());
                up.tiled(lw.wo(), m.wo[l], 0, IN_ORDER, 0);
                up.tiled(lw.wGate(), m.gateUp[l], 0, GATE_UP_PAIRS, c.hiddenDim());
                up.tiled(lw.wUp(), m.gateUp[l], c.hiddenDim(), GATE_UP_PAIRS, c.hiddenDim());
                up.tiled(lw.wDown(), m.down[l], 0, IN_ORDER, 0);
                up.floats(lw.attentionNorm(), m.attentionNorm[l]);
                up.floats(lw.ffnNorm(), m.ffnNorm[l]);
            }
            up.tiled(w.lmHead(), m.lmHead, 0, IN_ORDER, 0);
            up.floats(w.finalNorm(), m.finalNorm);
            up.rowMajor(w.tokenEmbedding(), m.embedding);
        }
        dev.synchronize();
        return m;
    }

    /**
     * Random weights generated on the device from {@code seed}: matrices uniform with variance
     * 1/k (activations stay O(1)), norms 1 +- 0.1, embeddings uniform in [-1, 1).
     */
    static DeviceModel random(CudaDevice dev, ModelConfig c, long seed) {
        DeviceModel m = new DeviceModel(dev, c);
        long[] s = {seed};
        for (int l = 0; l < c.nLayers(); l++) {
            for (Matrix x : new Matrix[] {m.qkv[l], m.wo[l], m.gateUp[l], m.down[l]}) {
                randomMatrix(dev, x, ++s[0]);
            }
            dev.launchFlat("fill_random_f32", c.dim(), m.attentionNorm[l], (long) c.dim(), ++s[0], 1f, 0.1f);
            dev.launchFlat("fill_random_f32", c.dim(), m.ffnNorm[l], (long) c.dim(), ++s[0], 1f, 0.1f);
        }
        randomMatrix(dev, m.lmHead, ++s[0]);
        dev.launchFlat("fill_random_f32", c.dim(), m.finalNorm, (long) c.dim(), ++s[0], 1f, 0.1f);
        long embedded = (long) c.vocabSize() * c.dim();
        dev.launchFlat("fill_random_bf16", embedded, m.embedding, embedded, ++s[0], 1f);
        dev.synchronize();
        return m;
    }

    private static void randomMatrix(CudaDevice dev, Matrix x, long seed) {
        long count = x.bytes() / 2;
        dev.launchFlat("fill_random_bf16", count, x.data(), count, seed, (float) Math.sqrt(3.0 / x.k()));
    }

    /** Every matrix a forward pass streams. */
    List<Matrix> matrices() {
        List<Matrix> all = new ArrayList<>();
        for (int l = 0; l < config.nLayers(); l++) {
            all.addAll(List.of(qkv[l], wo[l], gateUp[l], down[l]));
        }
        all.add(lmHead);
        return all;
    }

    /** Bytes of every matrix a forward pass streams (the embedding lookup reads one row). */
    long matrixBytes() {
        return matrices().stream().mapToLong(Matrix::bytes).sum();
    }

    private Matrix matrix(CudaDevice dev, int rows, int k) {
        int rowTiles = (rows + 15) / 16;
        int kChunks = k / 32;
        // Enough (row tile, slice) warp tasks to fill the GPU, with as few slices as possible:
        // fewer partial sums to write and add. 32 chunks (64 KiB of staged activations) at most, or
        // 48 to keep to a portable cluster (below).
        int target = dev.multiprocessors * 12;
        int cps = MAX_CPS;
        while (cps > 4 && (long) rowTiles * ((kChunks + cps - 1) / cps) < target) {
            cps /= 2;
        }
        cps = Math.min(cps, kChunks);
        // A matrix that would take a few more slices than a portable cluster takes wider ones instead
        // (Llama-2-7B's down_proj: 8 slices of 43 chunks, not 11 of 32). Its 9-16-token GEMV then runs
        // in clusters of 8 and its one-token gemv_resid1 in blocks of 8 warps (2 a SM, where 11 warps
        // fit one): H100, verify 16 at Llama-2-7B 4K 6.85 -> 6.60 ms, decode 5.55 -> 5.53. Not where
        // the slices grow past 48 chunks: Llama-3.1-8B's down_proj in 8 slices of 56 gained verify 16
        // 1% but cost decode and the retrieval draft 0.5% (its 14 slices of 32 stay).
        if (cps == MAX_CPS && kChunks > CLUSTER_SLICES * cps && kChunks <= CLUSTER_SLICES * MAX_CLUSTER_CPS
                && (long) rowTiles * CLUSTER_SLICES >= target) {
            cps = (kChunks + CLUSTER_SLICES - 1) / CLUSTER_SLICES;
        }
        return new Matrix(own(dev.alloc((long) rowTiles * 16 * k * 2)), rows, k, cps, (kChunks + cps - 1) / cps);
    }

    private CUdeviceptr own(CUdeviceptr p) {
        owned.add(p);
        return p;
    }

    @Override
    public void close() {
        owned.forEach(CudaDevice::free);
        owned.clear();
    }

    /** Host-to-device copies through one staging buffer, converting to bf16 or fp32. */
    private static final class Uploader implements AutoCloseable {
        private final CudaDevice dev;
        private final ByteBuffer staging = ByteBuffer.allocateDirect(STAGING_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        private final MemorySegment stagingSegment = MemorySegment.ofBuffer(staging);
        private CUdeviceptr scratch;
        private long scratchBytes;

        Uploader(CudaDevice dev) {
            this.dev = dev;
        }

        /** Writes tensor [rows][k] into rows rowOffset.. of the tiled matrix, placed as {@code mode} says. */
        void tiled(Tensor t, Matrix m, int rowOffset, int mode, int modeArg) {
            if (t.cols() != m.k() || rowOffset + t.rows() > m.rows()) {
                throw new IllegalArgumentException(t + " does not fit rows " + rowOffset + ".. of a [" + m.rows()
                        + "][" + m.k() + "] matrix");
            }
            long bytes = 2L * t.size();
            if (bytes > scratchBytes) {
                dev.synchronize();
                CudaDevice.free(scratch);
                scratch = dev.alloc(bytes);
                scratchBytes = bytes;
            }
            rowMajor(t, scratch);
            long groups = t.size() / 8;
            dev.launchFlat("tile_weights", groups, scratch, m.data(), t.rows(), m.k(), rowOffset, m.kChunks(), mode,
                    modeArg);
            dev.synchronize();
        }

        /** Copies a tensor to the device as row-major bf16. */
        void rowMajor(Tensor t, CUdeviceptr dst) {
            long n = t.size();
            long perChunk = STAGING_BYTES / 2;
            for (long start = 0; start < n; start += perChunk) {
                long count = Math.min(perChunk, n - start);
                if (t.dtype() == DType.BF16) {
                    MemorySegment.copy(t.data(), 2 * start, stagingSegment, 0, 2 * count);
                } else {
                    for (long i = 0; i < count; i++) {
                        stagingSegment.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2 * i,
                                toBf16(t.get(start + i)));
                    }
                }
                dev.toDevice(dst.withByteOffset(2 * start), Pointer.to(staging), 2 * count);
            }
        }

        void floats(Tensor t, CUdeviceptr dst) {
            float[] v = t.toFloatArray();
            dev.toDevice(dst, Pointer.to(v), 4L * v.length);
        }

        @Override
        public void close() {
            dev.synchronize();
            CudaDevice.free(scratch);
        }
    }

    /** fp32 -> bf16, round to nearest even. */
    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) 0x7fc0;
        }
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }
}
