package io.triforce.engine.cuda;

import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;

import io.triforce.engine.model.ModelConfig;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * Chunked prefill (prefill.cuh): a prompt's tokens {@link #chunk} at a time through tensor-core
 * GEMMs that read each weight once per chunk, where the step kernels read it once per 64 tokens,
 * with the step kernels' bits (see prefill.cuh).
 * A chunk is run as 64-token sub-blocks wherever the step kernels already do the work (embedding,
 * attention and its combine, several sub-blocks a launch). Buffers are allocated on the first prompt long enough to use them.
 */
final class CudaPrefill implements AutoCloseable {

    /** Tokens per GEMM block (prefill.cuh GEMM_TOKENS): chunks are multiples of it. */
    static final int GEMM_TOKENS = 128;
    private static final int SUB = CudaTransformer.MAX_TOKENS;
    /** uint4 of a GEMM stage (prefill.cuh STAGE_UINT4): a k chunk's weights and activations. */
    private static final int STAGE_UINT4 = 8 * 64 + 4 * 256;
    // mma.sync form: GEMM_STAGES (2) stages, then the slice sums, 64 floats a thread
    private static final int GEMM_SHARED = 2 * STAGE_UINT4 * 16 + 64 * 256 * 4;
    // wgmma form: WG_STAGES (8) stages; the slice sums are in registers
    private static final int WG_SHARED = 8 * STAGE_UINT4 * 16;
    /** Most device memory the attention partials of one launch take. */
    private static final long PARTIAL_BYTES = 512L << 20;

    private final CudaDevice dev;
    private final CudaTransformer step;
    private final DeviceModel model;
    private final ModelConfig config;
    private final int chunk;
    private final boolean twoTiles;   // attention in its x2 form (attentionKernel)
    private boolean wgmma;            // the GEMMs and the attention on wgmma (gemm_wg_*, chunk_attention*wg)
    private final CUdeviceptr x;        // fp32 [chunk][dim] residual stream
    private final CUdeviceptr actHi;    // bf16 [chunk/64][maxK/32][64 x 32] GEMM inputs (hi + lo ~ fp32), core_act_index
    private final CUdeviceptr actLo;
    private final CUdeviceptr gatedHi;  // bf16 [chunk/64][hidden/32][64 x 32] silu(gate) * up, down_proj's input
    private final CUdeviceptr gatedLo;
    private final CUdeviceptr y;        // fp32 [chunk][qkvRows] q/k/v before RoPE, tiled row order
    private final CUdeviceptr query;    // bf16 [chunk][nHeads][headDim]
    private final CUdeviceptr ropeTable;   // float2 [chunk][headDim/2] RoPE cos, sin (embed writes it)
    private final CUdeviceptr sumSquares;  // fp32 [chunk][dim/128] sums of squares of x per 128-row group
    private final int normGroups;
    private final CUdeviceptr params;   // StepParams [chunk/64], one per sub-block
    private final Pointer hostParams;
    private final IntBuffer hostParamInts;
    private CUdeviceptr partialO;       // attention partials of a launch's sub-blocks: partialRows rows, fp32 [headDim]
    private CUdeviceptr partialM;       //   each (and m, l), [sub-block][split][token][head] (splits: those the
    private CUdeviceptr partialL;       //   launch's last token sees)
    private long partialRows;
    private int subsPerLaunch = Integer.MAX_VALUE;   // a cap on the sub-blocks of one attention launch (tests)

    /** @param chunk tokens per chunk, a positive multiple of {@link #GEMM_TOKENS} */
    CudaPrefill(CudaDevice dev, CudaTransformer step, DeviceModel model, int chunk) {
        if (chunk <= 0 || chunk % GEMM_TOKENS != 0) {
            throw new IllegalArgumentException("prefill chunk must be a positive multiple of " + GEMM_TOKENS
                    + ", got " + chunk);
        }
        this.dev = dev;
        this.step = step;
        this.model = model;
        this.config = model.config;
        this.chunk = chunk;
        this.twoTiles = model.config.groupSize() > 1
                && !"false".equals(System.getProperty("triforce.cuda.prefill-x2"));
        this.wgmma = dev.wgmma;
        ModelConfig c = config;
        int maxK = Math.max(c.dim(), Math.max(c.qDim(), c.hiddenDim()));
        x = dev.alloc(4L * chunk * c.dim());
        actHi = dev.alloc(2L * chunk * maxK);
        actLo = dev.alloc(2L * chunk * maxK);
        gatedHi = dev.alloc(2L * chunk * c.hiddenDim());
        gatedLo = dev.alloc(2L * chunk * c.hiddenDim());
        y = dev.alloc(4L * chunk * model.qkv[0].rows());
        query = dev.alloc(2L * chunk * c.qDim());
        ropeTable = dev.alloc(8L * chunk * (c.headDim() / 2));
        normGroups = (c.dim() + 127) / 128;
        sumSquares = dev.alloc(4L * chunk * normGroups);
        int paramBytes = CudaTransformer.PARAMS_BYTES * (chunk / SUB);
        params = dev.alloc(paramBytes);
        hostParams = new Pointer();
        cuMemAllocHost(hostParams, paramBytes);
        hostParamInts = hostParams.getByteBuffer(0, paramBytes).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer();
        for (String out : new String[] {"store", "resid", "swiglu"}) {
            dev.allowSharedMemory("gemm_" + out, GEMM_SHARED);
            if (dev.hopper) {
                dev.allowSharedMemory("gemm_wg_" + out, WG_SHARED);
            }
        }
        dev.allowSharedMemory(attentionKernel(false), attentionShared(false));
        if (dev.hopper) {
            dev.allowSharedMemory(attentionKernel(true), attentionShared(true));
        }
    }

    int chunk() {
        return chunk;
    }

    /**
     * Makes the GEMMs and the attention run on wgmma (Hopper) or mma.sync (tests: the same bits);
     * returns whether they use wgmma (only compute capability 9.0 has it). The default: CudaDevice.wgmma.
     */
    boolean useWgmma(boolean on) {
        wgmma = on && dev.hopper;
        return wgmma;
    }

    /**
     * Runs tokens {@code from .. from + n} ({@code n} a multiple of {@link #GEMM_TOKENS}, at most
     * {@link #chunk}) into the cache at its current length and advances it; no logits.
     */
    void run(CudaKvCache c, int[] tokens, int from, int n) {
        ModelConfig cf = config;
        int pos = c.length();
        int slot = pos + c.slotShift;
        hostParamInts.clear();
        for (int s = 0; s < n / SUB; s++) {
            hostParamInts.put(pos + s * SUB).put(slot + s * SUB).put(SUB).put(pos + s * SUB).put(tokens, from + s * SUB, SUB);
        }
        dev.toDevice(params, hostParams, (long) CudaTransformer.PARAMS_BYTES * (n / SUB));
        for (int s = 0; s < n / SUB; s++) {
            step.embed(sub(params, s), SUB, x.withByteOffset(4L * s * SUB * cf.dim()),
                    sumSquares.withByteOffset(4L * s * SUB * normGroups),
                    ropeTable.withByteOffset(8L * s * SUB * (cf.headDim() / 2)));
        }
        for (int l = 0; l < cf.nLayers(); l++) {
            norm(model.attentionNorm[l], n);
            gemm("store", model.qkv[l], n, actHi, actLo, y);
            dev.launch("prefill_rope", n, 1, 1, 256, 0, y, ropeTable, slot,
                    n, cf.nHeads(), cf.nKvHeads(), cf.headDim(), query, c.keys[l], c.values[l], c.capacity,
                    c.lastQuery.withByteOffset(4L * l * cf.qDim()));
            attend(c, l, n / SUB, slot + n);
            gemm("resid", model.wo[l], n, actHi, actLo, x);
            norm(model.ffnNorm[l], n);
            gemm("swiglu", model.gateUp[l], n, actHi, actLo, null);
            gemm("resid", model.down[l], n, gatedHi, gatedLo, x);
        }
        c.advance(n);
    }

    /**
     * The step's attention and combine for the chunk's sub-blocks (slots below {@code slotEnd}), as
     * many per launch as the partial buffers hold ({@link #PARTIAL_BYTES}; the launches of a chunk
     * take equal shares): the blocks of one launch that read the same keys share them through L2. A
     * sub-block's partials take the rows of the splits the chunk's last slot sees, not the cache's;
     * the buffers are sized once a cache (at least a sub-block at its end).
     */
    private void attend(CudaKvCache c, int layer, int subs, int slotEnd) {
        ModelConfig cf = config;
        int splits = (slotEnd + c.splitLength - 1) / c.splitLength;
        long rowsPerSub = (long) splits * SUB * cf.nHeads();
        long atEnd = (long) c.maxSplits * SUB * cf.nHeads();   // a sub-block's at the cache's end
        long rows = Math.max(atEnd, Math.min(atEnd * (chunk / SUB), PARTIAL_BYTES / (4L * (cf.headDim() + 2))));
        if (partialRows < rows) {
            freePartials();
            partialRows = rows;
            partialO = dev.alloc(4 * rows * cf.headDim());
            partialM = dev.alloc(4 * rows);
            partialL = dev.alloc(4 * rows);
        }
        int perLaunch = (int) Math.min(subsPerLaunch, rows / rowsPerSub);
        int launches = (subs + perLaunch - 1) / perLaunch;
        for (int i = 0, s = 0; i < launches; i++) {
            int k = (subs - s + launches - i - 1) / (launches - i);
            long act = 2L * s * SUB * cf.qDim();
            dev.launch(attentionKernel(wgmma), k, splits, cf.nKvHeads(), attentionThreads(), attentionShared(wgmma),
                    query.withByteOffset(act), c.keys[layer], c.values[layer], c.capacity, sub(params, s),
                    cf.nHeads(), cf.groupSize(), c.splitLength, step.attentionScaleLog2(), partialO, partialM,
                    partialL);
            dev.launch("chunk_combine", cf.nHeads(), k * SUB, 1, 256, 0, sub(params, s), partialO,
                    partialM, partialL, splits, cf.nHeads(), cf.headDim(), c.splitLength,
                    actHi.withByteOffset(act), actLo.withByteOffset(act));
            s += k;
        }
    }

    /** At most {@code subBlocks} sub-blocks a launch of the attention (tests: more launches a chunk). */
    void capAttentionLaunch(int subBlocks) {
        subsPerLaunch = subBlocks;
    }

    /**
     * The step's attention kernel for this head size, over several sub-blocks (prefill.cuh): on
     * Hopper its "wg" form (wgmma, a warpgroup per 64 query rows); elsewhere, with grouped queries
     * (128 or more query rows a sub-block), its "x2" form, two m-tiles of 16 rows a warp. Same bits.
     * H100, Llama-3.1-8B: x2 took a 32K prompt 5.67 -> 5.49 s, 128K 39.3 -> 35.5 s.
     * {@code -Dtriforce.cuda.prefill-x2=false}: the plain form where wgmma is not used.
     */
    private String attentionKernel(boolean wg) {
        return "chunk_" + step.attentionKernel() + (wg ? "wg" : twoTiles ? "x2" : "");
    }

    /** Threads of an attention block: the wg form's one or two warpgroups (64 or 128+ query rows). */
    private int attentionThreads() {
        return wgmma && config.groupSize() > 1 ? 256 : 128;
    }

    /** The step's K and V stages, and for the x2 form the pass's 128 query rows after them; the wg form's. */
    private int attentionShared(boolean wg) {
        if (wg) {
            return step.wgAttentionShared();
        }
        return step.attentionShared() + (twoTiles ? 128 * (config.headDim() + 8) * 2 : 0);
    }

    private void freePartials() {
        for (CUdeviceptr p : new CUdeviceptr[] {partialO, partialM, partialL}) {
            if (p != null) {
                CudaDevice.free(p);
            }
        }
    }

    private static CUdeviceptr sub(CUdeviceptr params, int s) {
        return params.withByteOffset((long) CudaTransformer.PARAMS_BYTES * s);
    }

    private void norm(CUdeviceptr weight, int n) {
        dev.launch("prefill_norm", n / 8, (config.dim() + 255) / 256, 1, 256, 0, x, sumSquares, normGroups, weight,
                config.dim(), config.normEps(), actHi, actLo);
    }

    /**
     * One chunk GEMM (out: store, resid or swiglu); see GemmArgs in prefill.cuh. On Hopper gemm_wg_*
     * (wgmma); elsewhere gemm_* (mma.sync).
     */
    private void gemm(String kind, DeviceModel.Matrix m, int n, CUdeviceptr inHi, CUdeviceptr inLo,
                      CUdeviceptr out) {
        ByteBuffer a = ByteBuffer.allocate(72).order(ByteOrder.LITTLE_ENDIAN);
        for (CUdeviceptr p : new CUdeviceptr[] {m.data(), inHi, inLo, out, gatedHi, gatedLo, sumSquares}) {
            a.putLong(p == null ? 0 : CudaDevice.address(p));
        }
        a.putInt(m.rows()).putInt(m.kChunks()).putInt(m.cps()).putInt(n);
        dev.launch((wgmma ? "gemm_wg_" : "gemm_") + kind, n / GEMM_TOKENS, (m.rowTiles() + 7) / 8, 1, 256,
                wgmma ? WG_SHARED : GEMM_SHARED, a.array());
    }

    @Override
    public void close() {
        for (CUdeviceptr p : new CUdeviceptr[] {x, actHi, actLo, gatedHi, gatedLo, y, query, ropeTable, sumSquares, params}) {
            CudaDevice.free(p);
        }
        cuMemFreeHost(hostParams);
        freePartials();
    }
}
