package io.triforce.engine.cuda;

import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;

import io.triforce.engine.backend.GreedyRun;
import io.triforce.engine.backend.Transformer;
import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.spec.DeviceRejection;
import io.triforce.engine.spec.Proposal;
import io.triforce.engine.spec.RejectionSampler;
import io.triforce.engine.spec.TokenPicker;
import io.triforce.engine.spec.Verdict;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUgraphExec;

/**
 * The Llama forward pass on the GPU for blocks of up to {@link #maxBlock} tokens (longer inputs
 * run in such blocks). A step is one CUDA graph per (cache, block size, logits or not), captured
 * on first use and replayed: the changing inputs (position, cache slot, token ids) live in a
 * small device struct that the graph's kernels read. Six kernels per layer: RMSNorm + q/k/v GEMV
 * + RoPE + cache append; split attention; split combine; o_proj + residual; RMSNorm + gate/up
 * GEMV + SwiGLU; down_proj + residual. No kernel's arithmetic for a token depends on the other
 * tokens of its block, so a block and token-by-token feeding give the same bits. Long prompts
 * run through {@link CudaPrefill}'s chunks, which give those bits too.
 */
public final class CudaTransformer implements Transformer, DeviceRejection {

    static final int MAX_TOKENS = 64;
    /**
     * Tokens per chunk of the chunked prefill ({@link CudaPrefill}); {@code -Dtriforce.cuda.prefill-chunk=0}
     * feeds prompts through the step kernels 64 tokens at a time instead (same results, slower).
     */
    private static final int PREFILL_CHUNK = Integer.getInteger("triforce.cuda.prefill-chunk", 1024)
            / CudaPrefill.GEMM_TOKENS * CudaPrefill.GEMM_TOKENS;
    /** Fewer prompt tokens than this go through the step kernels. */
    private static final int MIN_PREFILL = 256;
    private static final int GROUP_ROWS = 128;
    static final int PARAMS_BYTES = 16 + 4 * MAX_TOKENS;
    /** The key of a cache's greedy-run step among its graphs (the others: 2 * tokens + whether it has logits). */
    private static final int GREEDY_RUN_GRAPH = -1;
    /** Most shared memory a GEMV block stages activations in (gemv.cuh: 64 / NT chunks at a time). */
    private static final int STAGED_BYTES = 64 * 1024;

    /**
     * The forms of the 9-16-token GEMVs (gemv.cuh, gemv_body and GEMV_KERNEL): the kernels that
     * have the form, by the suffix of their names; the others stay plain. All give the same bits;
     * which is fastest depends on the model's shapes, so the first such step times each.
     */
    private enum Form16 {
        PLAIN("", Set.of()),
        PIPELINED("p", Set.of("gemv_gateup", "gemv_resid", "gemv_logits")),
        ROLLING("r", Set.of("gemv_qkv", "gemv_gateup", "gemv_logits"));

        final String suffix;
        final Set<String> kernels;

        Form16(String suffix, Set<String> kernels) {
            this.suffix = suffix;
            this.kernels = kernels;
        }

        String kernel(String gemv) {
            return gemv + "16" + (kernels.contains(gemv) ? suffix : "");
        }
    }

    /**
     * How much faster than the form kept so far a later form's scratch step must be to replace it.
     * The scratch step predicts a long-context step to about this much: Llama-3.1-8B on the H100,
     * rolling 6.31 ms vs pipelined 6.32 on the scratch step, 8.89 vs 8.81 ms for a verify of 16 at
     * 32K; without a margin the choice between them followed the timing noise.
     */
    private static final double FORM_MARGIN = 0.01;

    /** gemv_resid1 and gemv_*8x (gemv.cuh): slices (a warp each) and 128-row groups of x at most. */
    private static final int TILE_MAX_SLICES = 16;
    private static final int TILE_MAX_GROUPS = 64;
    /** Blocks a cluster may have on any GPU that has clusters (more are "non-portable"). */
    private static final int PORTABLE_CLUSTER = 8;
    /** Blocks a non-portable cluster may have (the H100's limit; CudaDevice.allowLargeClusters). */
    private static final int MAX_CLUSTER = 16;
    /** The cluster forms of GEMVs (gemv.cuh, GEMV_CLUSTER_KERNEL): each sliced kernel's name + "c". */
    private static final List<String> CLUSTER_KERNELS = List.of("gemv_resid8c", "gemv_qkv16c", "gemv_qkv16rc",
            "gemv_gateup16c", "gemv_gateup16pc", "gemv_gateup16rc", "gemv_resid16c", "gemv_resid16pc",
            "gemv_logits16c", "gemv_logits16pc", "gemv_logits16rc");

    private final CudaDevice dev;
    private final DeviceModel model;
    private final ModelConfig config;
    private final CUdeviceptr params;      // StepParams (common.cuh) of the step the stream runs next
    private final PinnedStaging hostParams; // StepParams on their way up: the host does not wait for the copy
    private final CUdeviceptr x;           // fp32 [64][dim] residual stream
    private final CUdeviceptr sumSquares;  // fp32 [64][dim/128] per-group sums of squares of x
    private final CUdeviceptr actHi;       // bf16 activations for o_proj / down_proj (see triforce.cu)
    private final CUdeviceptr actLo;
    private final CUdeviceptr partial;     // fp32 GEMV partial sums [slices][64][rows]
    private final CUdeviceptr counters;    // int per row group: GEMV slices finished
    private final CUdeviceptr query;       // bf16 [64][nHeads][headDim]
    private final CUdeviceptr logits;      // fp32 [64][vocab]
    private final CUdeviceptr argmax;      // int [64]
    private final CUdeviceptr ropeTable;   // float2 [64][headDim/2]: the step's RoPE cos, sin (embed writes it)
    private final int normGroups;
    private final int attentionShared;
    private Form16 form16;         // the 9-16-token blocks' GEMVs; timed by the first such step
    /**
     * One-token steps run o_proj and down as gemv_resid1 (a block per row tile, the slices added
     * inside it) and the RMSNorm GEMVs after them as gemv_*8x (x's squares added there): same bits,
     * where the model's split fits; {@code -Dtriforce.cuda.tile=false}: gemv_*8 throughout.
     */
    private boolean tileGemvs;
    private final boolean tileGemvsFit;
    /**
     * Steps of 9-16 tokens run their GEMVs as the "c" kernels: a row group's slices one thread-block
     * cluster that adds their sums in shared memory, no partial sums through L2 and no last block's
     * epilogue (gemv.cuh, cluster_epilogue); steps of 2-8 tokens only o_proj and down, and only
     * where their slices make a portable cluster (at most 8: o_proj at Llama-2-7B and -3.1-8B, not
     * down). Same bits, where every GEMV has at most 16 slices and the GPU can hold such a cluster;
     * {@code -Dtriforce.cuda.cluster=false}: the sliced ones.
     */
    private boolean clusterGemvs;
    private final boolean clusterGemvsFit;
    /**
     * One-token steps as one persistent kernel ({@link CudaRingStep}), when {@link #ring}:
     * {@code -Dtriforce.cuda.ring=true}, off by default (slower so far). Same bits as the graph of
     * kernels. Made when first asked for ({@link #useRingStep}); null until then, or where it does
     * not fit, so a model that never runs it neither sets it up nor allocates for it.
     */
    private CudaRingStep ringStep;
    private final CudaRingStep.Buffers ringBuffers;
    private boolean ring;
    private String tuning = "not timed yet";
    private CudaPrefill prefill;   // allocated by the first prompt long enough for it
    private CudaSampling sampling; // allocated by the first sampled step
    private CudaGreedyRun.Buffers greedyRunBuffers;   // allocated by the first greedy run
    private CudaGreedyRun openRun;                     // the last greedy run, open or closed

    CudaTransformer(CudaDevice dev, DeviceModel model) {
        this.dev = dev;
        this.model = model;
        this.config = model.config;
        ModelConfig c = config;
        params = dev.alloc(PARAMS_BYTES);
        hostParams = new PinnedStaging(dev, PARAMS_BYTES, 8);
        int maxK = Math.max(c.dim(), Math.max(c.qDim(), c.hiddenDim()));
        x = dev.alloc(4L * MAX_TOKENS * c.dim());
        normGroups = (c.dim() + GROUP_ROWS - 1) / GROUP_ROWS;
        sumSquares = dev.alloc(4L * MAX_TOKENS * normGroups);
        actHi = dev.alloc(2L * MAX_TOKENS * maxK);
        actLo = dev.alloc(2L * MAX_TOKENS * maxK);
        long partialFloats = 0;
        int rowGroups = 0;
        for (DeviceModel.Matrix m : model.matrices()) {
            partialFloats = Math.max(partialFloats, (long) m.slices() * m.rows());
            rowGroups = Math.max(rowGroups, (m.rowTiles() + 7) / 8);
        }
        partial = dev.alloc(4L * MAX_TOKENS * partialFloats);
        counters = dev.alloc(4L * rowGroups);
        query = dev.alloc(2L * MAX_TOKENS * c.qDim());
        logits = dev.alloc(4L * MAX_TOKENS * c.vocabSize());
        argmax = dev.alloc(4L * MAX_TOKENS);
        ropeTable = dev.alloc(8L * MAX_TOKENS * (c.headDim() / 2));
        for (String kernel : new String[] {"gemv_qkv", "gemv_gateup", "gemv_resid", "gemv_logits"}) {
            for (int tiles = 1; tiles <= MAX_TOKENS / 8; tiles *= 2) {
                dev.allowSharedMemory(kernel + 8 * tiles, STAGED_BYTES);
            }
            for (Form16 form : Form16.values()) {
                dev.allowSharedMemory(form.kernel(kernel), STAGED_BYTES);
            }
        }
        int maxSlices = model.matrices().stream().mapToInt(DeviceModel.Matrix::slices).max().orElse(0);
        tileGemvsFit = maxSlices <= TILE_MAX_SLICES && normGroups <= TILE_MAX_GROUPS;
        tileGemvs = tileGemvsFit && !"false".equals(System.getProperty("triforce.cuda.tile"));
        for (String kernel : new String[] {"gemv_resid1", "gemv_qkv8x", "gemv_gateup8x", "gemv_logits8x"}) {
            dev.allowSharedMemory(kernel, STAGED_BYTES);
        }
        boolean clustersFit = maxSlices <= MAX_CLUSTER;
        for (String kernel : CLUSTER_KERNELS) {
            dev.allowSharedMemory(kernel, STAGED_BYTES);
            dev.allowLargeClusters(kernel);
            clustersFit &= dev.maxActiveClusters(kernel, maxSlices, 256, STAGED_BYTES) > 0;
        }
        clusterGemvsFit = clustersFit;
        clusterGemvs = clusterGemvsFit && !"false".equals(System.getProperty("triforce.cuda.cluster"));
        ringBuffers = new CudaRingStep.Buffers(params, x, sumSquares, actHi, actLo, query, ropeTable, logits);
        useRingStep(Boolean.getBoolean("triforce.cuda.ring"));
        attentionShared = attentionShared(c.headDim());
        dev.allowSharedMemory(attentionKernel(), attentionShared);
        if (dev.wgmma) {
            dev.allowSharedMemory(attentionKernel() + "wg", wgAttentionShared());
        }
    }

    /**
     * Dynamic shared memory of the wg attention kernels: ATT_WG_STAGES (3, triforce.cu) stages of
     * 64-key K and V tiles, 1024-byte aligned.
     */
    int wgAttentionShared() {
        return 3 * 2 * 64 * config.headDim() * 2 + 1024;
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    /** Tokens per chunk of the chunked prefill; 0: prompts go through the step kernels. */
    public int prefillChunk() {
        return PREFILL_CHUNK;
    }

    /** Most tokens one step takes. */
    public int maxBlock() {
        return MAX_TOKENS;
    }

    @Override
    public KvCache newCache(KvCacheSpec spec) {
        dev.use();
        return switch (spec) {
            case KvCacheSpec.Full f -> new CudaKvCache(dev, config, f.capacity());
            case KvCacheSpec.Retrieval r -> new CudaRetrievalKvCache(dev, config, r.budget(), r.chunk(),
                    r.tailCapacity());
            case KvCacheSpec.Streaming s -> new CudaStreamingKvCache(dev, config, s.sinks(), s.window(), s.slack());
        };
    }

    @Override
    public synchronized float[][] forward(int[] tokens, KvCache cache, int logitRows) {
        dev.use();
        int n = tokens.length;
        if (logitRows < 0 || logitRows > n) {
            throw new IllegalArgumentException("logitRows " + logitRows + " outside [0, " + n + "]");
        }
        float[][] out = new float[logitRows][];
        int vocab = config.vocabSize();
        for (int start = prefill(cache, tokens, n - logitRows), m; start < n; start += m) {
            m = blockLength(cache, n - start);
            int firstWanted = Math.max(start, n - logitRows);   // block rows from here on need logits
            runBlock(cache, tokens, start, m, firstWanted < start + m);
            for (int r = firstWanted; r < start + m; r++) {
                float[] row = new float[vocab];
                dev.toHost(Pointer.to(row), logits.withByteOffset(4L * (r - start) * vocab), 4L * vocab);
                out[r - (n - logitRows)] = row;
            }
        }
        return out;
    }

    /** The argmax of each wanted row runs on the GPU: 4 bytes a row reach the host, not the vocabulary's logits. */
    @Override
    public synchronized int[] greedyNext(int[] tokens, KvCache cache, int rows) {
        dev.use();
        int n = tokens.length;
        if (rows < 0 || rows > n) {
            throw new IllegalArgumentException("rows " + rows + " outside [0, " + n + "]");
        }
        int[] next = new int[rows];
        for (int start = prefill(cache, tokens, n - rows), m; start < n; start += m) {
            m = blockLength(cache, n - start);
            int firstWanted = Math.max(start, n - rows);
            runBlock(cache, tokens, start, m, firstWanted < start + m);
            if (firstWanted < start + m) {
                int[] block = new int[m];
                dev.toHost(Pointer.to(block), argmax, 4L * m);
                System.arraycopy(block, firstWanted - start, next, firstWanted - (n - rows), start + m - firstWanted);
            }
        }
        return next;
    }

    /**
     * Over a full or a StreamingLLM cache, each step's graph ends in greedy_feed, which makes the pick
     * the next step's token on the device, so the next step runs while the host reads this one's pick
     * ({@link CudaGreedyRun}); a retrieval cache picks token by token.
     */
    @Override
    public synchronized GreedyRun greedyRun(int token, KvCache cache, int limit) {
        CudaStreamingKvCache streaming = cache instanceof CudaStreamingKvCache s ? s : null;
        CudaKvCache c = streaming != null ? streaming.viewForNextBlock(dev)
                : cache instanceof CudaKvCache full && full.viewOf == null && full.dev == dev ? full : null;
        if (c == null) {
            return Transformer.super.greedyRun(token, cache, limit);
        }
        dev.use();
        int[] first = new int[MAX_TOKENS];
        first[0] = token;
        // a StreamingLLM view never fills: its steps stay at the window's end
        checkStep(c, first, 0, 1, streaming == null ? limit : 1);
        if (greedyRunBuffers == null) {
            greedyRunBuffers = new CudaGreedyRun.Buffers();
        }
        setParams(c.length(), c.length() + c.slotShift, cache.length(), 1, first);   // refuses if a run is open
        CUgraphExec step = c.graphs.computeIfAbsent(GREEDY_RUN_GRAPH, k -> dev.capture(() -> {
            enqueue(c, 1, true);
            dev.launch("greedy_feed", 1, 1, 1, 32, 0, params, argmax, greedyRunBuffers.picks,
                    streaming == null ? null : streaming.rules());
        }));
        Runnable advance = streaming != null ? () -> streaming.advance(1) : () -> c.advance(1);
        openRun = new CudaGreedyRun(this, dev, cache, advance, step, greedyRunBuffers, limit);
        return openRun;
    }

    /** A greedy run steps on from the device's StepParams: no other step may move them while it is open. */
    private void requireNoOpenRun() {
        if (openRun != null && openRun.isOpen()) {
            throw new IllegalStateException("a greedy run is open on this model: close it before other steps");
        }
    }

    /**
     * Runs the block with its last {@code proposal.size() + 1} rows in one step, so their logits
     * stay in one buffer, and judges the proposal there ({@link CudaSampling}). Proposals longer
     * than {@link CudaSampling#MAX_PROPOSAL} are judged on the host.
     */
    @Override
    public synchronized Verdict scoreAndVerify(int[] block, KvCache cache, Proposal proposal, TokenPicker picker,
                                               boolean keepProbabilities) {
        int rows = proposal.size() + 1;
        if (rows > block.length) {
            throw new IllegalArgumentException(proposal.size() + " proposed tokens in a block of " + block.length);
        }
        if (proposal.size() > CudaSampling.MAX_PROPOSAL) {
            return new RejectionSampler().verify(proposal, forward(block, cache, rows), picker);
        }
        dev.use();
        int n = block.length;
        for (int start = prefill(cache, block, n - rows), m; start < n - rows; start += m) {
            m = blockLength(cache, n - rows - start);
            runBlock(cache, block, start, m, false);
        }
        if (blockLength(cache, rows) < rows) {
            throw new IllegalArgumentException("a StreamingLLM cache whose window is full takes a token a step: "
                    + "it cannot score " + rows + " rows in one");
        }
        runBlock(cache, block, n - rows, rows, true);
        if (sampling == null) {
            sampling = new CudaSampling(dev, this, config.vocabSize());
        }
        return sampling.verify(logits, proposal, picker, keepProbabilities);
    }

    /**
     * The slot store of a full or retrieval cache, with room for {@code newTokens} more tokens if it
     * can grow (a StreamingLLM cache runs on its view: {@link #runBlock}).
     */
    private CudaKvCache cudaCache(KvCache cache, int newTokens) {
        CudaKvCache c = switch (cache) {
            case CudaKvCache full -> full;
            case CudaRetrievalKvCache retrieval -> retrieval.storage(newTokens);
            default -> null;
        };
        if (c == null || c.dev != dev) {
            throw new IllegalArgumentException("the CUDA backend cannot use a " + cache.getClass().getSimpleName());
        }
        return c;
    }

    /** Tokens the next step over {@code cache} takes, of {@code remaining}. */
    private int blockLength(KvCache cache, int remaining) {
        int m = Math.min(maxBlock(), remaining);
        return cache instanceof CudaStreamingKvCache streaming ? streaming.positions().tokensSharingView(m) : m;
    }

    /** Runs tokens [from, from + m) as one step over {@code cache} (a StreamingLLM cache: over its view). */
    private void runBlock(KvCache cache, int[] tokens, int from, int m, boolean withLogits) {
        if (cache instanceof CudaStreamingKvCache streaming) {
            run(streaming.viewForNextBlock(dev), streaming.length(), tokens, from, m, withLogits);
            streaming.advance(m);
        } else {
            CudaKvCache c = cudaCache(cache, m);
            run(c, c.length(), tokens, from, m, withLogits);
        }
    }

    /**
     * Runs the longest prefix of {@code tokens[0, noLogits)} that whole GEMM blocks cover through the
     * chunked prefill, when it is at least {@link #MIN_PREFILL} tokens, and returns its length (0:
     * none). The rest goes through the step kernels: same bits either way (prefill.cuh).
     */
    private int prefill(KvCache cache, int[] tokens, int noLogits) {
        int m = noLogits / CudaPrefill.GEMM_TOKENS * CudaPrefill.GEMM_TOKENS;
        if (PREFILL_CHUNK == 0 || m < MIN_PREFILL || cache instanceof CudaStreamingKvCache) {
            return 0;
        }
        CudaKvCache c = cudaCache(cache, noLogits);
        for (int start = 0; start < m; start += PREFILL_CHUNK) {
            int k = Math.min(PREFILL_CHUNK, m - start);
            checkStep(c, tokens, start, k);
            chunkedPrefill().run(c, tokens, start, k);
        }
        return m;
    }

    /** At most {@code subBlocks} 64-token sub-blocks a launch of the chunked prefill's attention (tests). */
    void capPrefillAttention(int subBlocks) {
        if (PREFILL_CHUNK > 0) {
            chunkedPrefill().capAttentionLaunch(subBlocks);
        }
    }

    private CudaPrefill chunkedPrefill() {
        if (prefill == null) {
            prefill = new CudaPrefill(dev, this, model, PREFILL_CHUNK);
        }
        return prefill;
    }

    /**
     * Makes chunked prefills run their GEMMs and attention on wgmma or on mma.sync (tests: the same
     * bits); returns whether they use wgmma (Hopper only).
     */
    boolean usePrefillWgmma(boolean on) {
        return PREFILL_CHUNK > 0 && chunkedPrefill().useWgmma(on);
    }

    /** Checks that tokens {@code from .. from + n} are in the vocabulary and fit the cache. */
    private void checkStep(CudaKvCache c, int[] tokens, int from, int n) {
        checkStep(c, tokens, from, n, n);
    }

    /**
     * Checks that tokens {@code from .. from + n} are in the vocabulary and that the cache has room for
     * {@code room} tokens from its next slot (a greedy run: all the steps it may take).
     */
    private void checkStep(CudaKvCache c, int[] tokens, int from, int n, int room) {
        for (int i = from; i < from + n; i++) {
            if (tokens[i] < 0 || tokens[i] >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + tokens[i] + " is outside the vocabulary [0, "
                        + config.vocabSize() + ")");
            }
        }
        int slot = c.length() + c.slotShift;
        if (slot + room > c.capacity()) {
            throw new IllegalStateException("cache is full: slot " + slot + " + " + room + " tokens > capacity "
                    + c.capacity());
        }
    }

    /** Runs tokens [from, from + n), at position {@code seq} of the sequence, as one step over {@code c}. */
    private void run(CudaKvCache c, int seq, int[] tokens, int from, int n, boolean withLogits) {
        checkStep(c, tokens, from, n);
        int[] block = new int[MAX_TOKENS];
        System.arraycopy(tokens, from, block, 0, n);
        dev.launch(prepare(c, c.length(), c.length() + c.slotShift, seq, n, withLogits, block));
        c.advance(n);
    }

    /**
     * Uploads the step's inputs (RoPE position, first cache slot, position in the sequence, tokens) and
     * returns the graph that runs it; launching the graph again repeats the same step (benchmarks).
     */
    CUgraphExec prepare(CudaKvCache c, int pos, int slot, int seq, int n, boolean withLogits, int[] tokens) {
        tuneForm16(n);
        setParams(pos, slot, seq, n, tokens);
        return graph(c, n, withLogits);
    }

    /**
     * Before the first step of 9-16 tokens: times a 16-token step with each form of the GEMVs (same
     * bits) on a small scratch cache and keeps the fastest, where a form later in {@link Form16}'s
     * order must beat the one kept by {@link #FORM_MARGIN}. Which one wins depends on the model's
     * shapes (triforce.cu, GEMV_KERNEL); on the H100 the forms differ by up to 5%, repeat timings by
     * 0.05%. 54 steps, once per model (about 0.35 s at 7B). Graphs captured later use the choice.
     */
    private void tuneForm16(int n) {
        if (n <= 8 || form16 != null) {
            return;
        }
        Form16[] forms = Form16.values();
        double[] ms = new double[forms.length];
        try (CudaKvCache scratch = new CudaKvCache(dev, config, 4 * MAX_TOKENS)) {
            setParams(0, 0, 0, 16, new int[MAX_TOKENS]);
            for (int i = 0; i < forms.length; i++) {
                form16 = forms[i];
                CUgraphExec step = dev.capture(() -> enqueue(scratch, 16, false));
                ms[i] = dev.timeMs(() -> dev.launch(step), 5, 3);
                cuGraphExecDestroy(step);
            }
        }
        int best = 0;
        StringBuilder timings = new StringBuilder();
        for (int i = 0; i < forms.length; i++) {
            best = ms[i] < ms[best] * (1 - FORM_MARGIN) ? i : best;
            timings.append(String.format("%s%.3f ms %s", i > 0 ? ", " : "", ms[i], forms[i].name().toLowerCase()));
        }
        form16 = forms[best];
        tuning = form16.name().toLowerCase() + " (scratch 16-token step " + timings + ")";
    }

    /** The forms of the 9-16-token GEMVs, by name (tests). */
    static List<String> forms16() {
        return Arrays.stream(Form16.values()).map(f -> f.name().toLowerCase()).toList();
    }

    /** Makes 9-16-token steps captured from now on use the form named, untimed (tests: all forms give the same bits). */
    void useForm16(String name) {
        form16 = Form16.valueOf(name.toUpperCase());
        tuning = name + " (set, not timed)";
    }

    /**
     * Makes one-token steps captured from now on run gemv_resid1 and gemv_*8x, or gemv_*8 throughout
     * (tests: the same bits); returns whether they use the former (the model's split may not fit).
     */
    boolean useTileGemvs(boolean on) {
        tileGemvs = on && tileGemvsFit;
        return tileGemvs;
    }

    /**
     * Makes steps of 2-16 tokens captured from now on run their GEMVs in clusters, or sliced (tests:
     * the same bits); returns whether they use clusters (the model's split or the GPU may not allow them).
     */
    boolean useClusterGemvs(boolean on) {
        clusterGemvs = on && clusterGemvsFit;
        return clusterGemvs;
    }

    /**
     * Makes one-token steps captured from now on run as one persistent kernel, or as the graph of
     * kernels (tests: the same bits); returns whether they use the former (it may not fit).
     */
    boolean useRingStep(boolean on) {
        if (on && ringStep == null) {
            ringStep = CudaRingStep.create(dev, model, normGroups);
        }
        ring = on && ringStep != null;
        return ring;
    }

    /** How one-token steps run (bench-gpu prints it). */
    String oneTokenStep() {
        return ring ? "one persistent kernel (" + ringStep.slots() + " ring buffers a SM)" : "a graph of kernels";
    }

    /** Which GEMV form 9-16-token steps use and the timings that chose it (bench-gpu prints it). */
    String gemvForm16() {
        return tuning;
    }

    private CUgraphExec graph(CudaKvCache c, int n, boolean withLogits) {
        return c.graphs.computeIfAbsent(2 * n + (withLogits ? 1 : 0), k -> dev.capture(() -> enqueue(c, n,
                withLogits)));
    }

    /** Runs one step (as {@link #prepare} sets it up) without a graph, kernel by kernel: profiling. */
    void runUncaptured(CudaKvCache c, int pos, int n, int[] tokens) {
        setParams(pos, pos, pos, n, tokens);
        enqueue(c, n, true);
    }

    /**
     * Runs one one-token step as the persistent kernel and returns where its time went by kind of
     * phase ({@link CudaRingStep#timePhases}); null when one-token steps run as a graph of kernels.
     */
    Map<String, Double> timeRingPhases(CudaKvCache c, int pos, int[] tokens) {
        if (!ring) {
            return null;
        }
        setParams(pos, pos, pos, 1, tokens);
        embed(params, 1, x, sumSquares, ropeTable);
        return ringStep.timePhases(c, ringBuffers, attentionScaleLog2());
    }

    /** StepParams (common.cuh): RoPE position and cache slot of token 0, its position in the sequence. */
    private void setParams(int pos, int slot, int seq, int n, int[] tokens) {
        requireNoOpenRun();
        hostParams.take().asIntBuffer().put(pos).put(slot).put(n).put(seq).put(tokens, 0, MAX_TOKENS);
        hostParams.upload(params, 0, PARAMS_BYTES);
    }

    /**
     * One step on the device's stream: embed, the layers (or the persistent one-token step), the argmax;
     * over a StreamingLLM cache's view, building the view before and banking the tokens after.
     */
    private void enqueue(CudaKvCache c, int n, boolean withLogits) {
        if (c.viewOf != null) {
            c.viewOf.enqueueView(params, model);
        }
        embed(params, n, x, sumSquares, ropeTable);
        if (n == 1 && ring) {
            ringStep.enqueue(c, withLogits, ringBuffers, attentionScaleLog2());
        } else {
            layers(c, n, withLogits);
        }
        if (withLogits) {
            dev.launch("argmax_rows", n, 1, 1, 1024, 0, logits, config.vocabSize(), argmax);
        }
        if (c.viewOf != null) {
            c.viewOf.enqueueBank(params, n);
        }
    }

    /** The step's layers as kernels (six each), then the logits' GEMV. */
    private void layers(CudaKvCache c, int n, boolean withLogits) {
        ModelConfig cf = config;
        for (int l = 0; l < cf.nLayers(); l++) {
            gemv("gemv_qkv", model.qkv[l], n, model.attentionNorm[l], l > 0, c.keys[l], c.values[l], c.capacity,
                    c.lastQuery.withByteOffset(4L * l * cf.qDim()));
            attend(c, l, n);
            gemv("gemv_resid", model.wo[l], n, null, false, null, null, 0, null);
            gemv("gemv_gateup", model.gateUp[l], n, model.ffnNorm[l], true, null, null, 0, null);
            gemv("gemv_resid", model.down[l], n, null, false, null, null, 0, null);
        }
        if (withLogits) {
            gemv("gemv_logits", model.lmHead, n, model.finalNorm, true, null, null, 0, null);
        }
    }

    /**
     * x [n][dim] = embeddings of the step's tokens (params), with their sums of squares per 128-row group,
     * and the tokens' RoPE cos and sin [n][headDim/2] in {@code rope}, which the q/k/v epilogues read.
     */
    void embed(CUdeviceptr stepParams, int n, CUdeviceptr x, CUdeviceptr sumSquares, CUdeviceptr rope) {
        dev.launch("embed", normGroups, n, 1, GROUP_ROWS, 0, stepParams, model.embedding, config.dim(), x, sumSquares,
                model.inverseFrequencies, config.headDim() / 2, config.rope().attentionScaling(), rope);
    }

    /**
     * Attention of layer {@code layer} for the step's {@code n} queries over the cache, split over the
     * slots and combined into o_proj's hi/lo activations.
     */
    private void attend(CudaKvCache c, int layer, int n) {
        ModelConfig cf = config;
        // Steps of 32 or more query rows (n G: a verify of 8 or more tokens at 4 queries a KV head) run
        // it on wgmma where the device does (attention*wg; rows past n G fill the last warpgroup and
        // see no key): same bits. H100, Llama-3.1-8B 32K, verify 8 7.91 -> 7.80 ms; with 16 rows
        // (Llama-2-7B's verify 16) it lost, 6.89 -> 7.00 ms.
        boolean wg = dev.wgmma && n * cf.groupSize() >= 32;
        dev.launch(wg ? attentionKernel() + "wg" : attentionKernel(), c.maxSplits, cf.nKvHeads(), 1, 128,
                wg ? wgAttentionShared() : attentionShared, query, c.keys[layer],
                c.values[layer], c.capacity, params, n, cf.nHeads(), cf.groupSize(), c.splitLength,
                attentionScaleLog2(), c.partialO, c.partialM, c.partialL);
        dev.launch("attention_combine", cf.nHeads(), n, 1, 256, 0, params, c.partialO,
                c.partialM, c.partialL, cf.nHeads(), cf.headDim(), c.splitLength, actHi, actLo);
    }

    /** log2(e) / sqrt(headDim): attention scores in base-2 units. */
    float attentionScaleLog2() {
        return (float) (1.4426950408889634 / Math.sqrt(config.headDim()));
    }

    /** Dynamic shared memory of the attention kernels: two stages of 64-key K and V tiles, rows padded by 8. */
    int attentionShared() {
        return attentionShared;
    }

    /** {@link #attentionShared()} at head size {@code headDim}: 2 stages x (K, V) x 64 keys x (headDim + 8) bf16. */
    static int attentionShared(int headDim) {
        return 4 * 64 * (headDim + 8) * 2;
    }

    /**
     * One GEMV with its fused input (norm or activations) and epilogue; see GemvArgs in triforce.cu.
     * {@code afterResidual}: the RMSNorm's input comes from a residual GEMV (not embed), which in a
     * one-token step with {@link #tileGemvs} (gemv_resid1) left no sums of squares: gemv_*8x.
     */
    private void gemv(String kernel, DeviceModel.Matrix m, int n, CUdeviceptr norm, boolean afterResidual,
                      CUdeviceptr keys, CUdeviceptr values, int capacity, CUdeviceptr lastQuery) {
        if (n == 1 && tileGemvs && kernel.equals("gemv_resid")) {
            dev.launch("gemv_resid1", m.rowTiles(), 1, 1, 32 * m.slices(), m.slices() * m.cps() * 4 * 16 * 2,
                    gemvArgs(m, n, norm, keys, values, capacity, lastQuery));
            return;
        }
        int tiles = Integer.highestOneBit((n + 7) / 8 * 2 - 1);  // 8-token n-tiles, a power of two
        int staged = Math.min(m.cps(), 64 / tiles) * tiles * 32 * 16 * 2;
        String name = tiles == 2 && form16 != null ? form16.kernel(kernel)
                : kernel + 8 * tiles + (n == 1 && tileGemvs && afterResidual ? "x" : "");
        boolean clustered = tiles == 2 || tiles == 1 && n > 1 && m.slices() <= PORTABLE_CLUSTER;
        if (clustered && clusterGemvs && CLUSTER_KERNELS.contains(name + "c")) {
            int sums = tiles * 8 * GROUP_ROWS * 4;   // each block's sums of the group's rows, where it staged
            dev.launchClusters(name + "c", m.slices(), m.slices(), (m.rowTiles() + 7) / 8, 1, 256,
                    Math.max(staged, sums), gemvArgs(m, n, norm, keys, values, capacity, lastQuery));
            return;
        }
        dev.launch(name, m.slices(), (m.rowTiles() + 7) / 8, 1, 256, staged,
                gemvArgs(m, n, norm, keys, values, capacity, lastQuery));
    }

    /** A GEMV's arguments (GemvArgs in triforce.cu). */
    private byte[] gemvArgs(DeviceModel.Matrix m, int n, CUdeviceptr norm, CUdeviceptr keys, CUdeviceptr values,
                            int capacity, CUdeviceptr lastQuery) {
        ByteBuffer a = ByteBuffer.allocate(192).order(ByteOrder.LITTLE_ENDIAN);
        for (CUdeviceptr p : new CUdeviceptr[] {m.data(), actHi, actLo, x, sumSquares, norm, partial, counters, params,
                ropeTable, query, keys, values, actHi, actLo, sumSquares, logits, lastQuery}) {
            a.putLong(p == null ? 0 : CudaDevice.address(p));
        }
        a.putInt(m.rows()).putInt(m.kChunks()).putInt(m.cps()).putInt(n);
        a.putInt(normGroups).putInt(config.nHeads()).putInt(config.nKvHeads()).putInt(config.headDim());
        a.putInt(capacity).putInt(0);
        a.putFloat(config.normEps());
        return a.array();
    }

    /** The attention kernel for this model's head size. */
    String attentionKernel() {
        return config.headDim() == 128 ? "attention128" : "attention64";
    }

    DeviceModel model() {
        return model;
    }

    @Override
    public void close() {
        dev.use();
        for (CUdeviceptr p : new CUdeviceptr[] {params, x, sumSquares, actHi, actLo, partial, counters, query, logits,
                argmax, ropeTable}) {
            CudaDevice.free(p);
        }
        hostParams.close();
        if (prefill != null) {
            prefill.close();
        }
        if (sampling != null) {
            sampling.close();
        }
        if (greedyRunBuffers != null) {
            greedyRunBuffers.close();
        }
        if (ringStep != null) {
            ringStep.close();
        }
        model.close();
    }
}
