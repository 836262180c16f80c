package io.triforce.engine.cuda;

import io.triforce.engine.model.ModelConfig;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * The one-token step (decode, the retrieval draft) as one persistent kernel, {@code ring_step64} /
 * {@code ring_step128} (ring_step.cuh): a block per SM whose producer warp streams the GEMV
 * phases' weights into a shared-memory ring across the grid-wide hand-offs between phases, so no
 * kernel edge stops the weight stream; the attention runs in the ring's memory between them. The
 * same bits as the graph of kernels (CudaBackendTest). Where the model or the GPU does not fit it,
 * {@link #create} gives null and one-token steps run the graph of kernels. Off by default
 * ({@code -Dtriforce.cuda.ring=true}): on an H100 it is still slower than the graph of kernels (5-10%
 * when last timed, in the twenty-first session; engine/src/main/cuda/PERFORMANCE.md, "The persistent
 * one-token step in the backend").
 */
final class CudaRingStep implements AutoCloseable {

    /** ring_step.cuh: consumer warps and threads a block, bytes a ring buffer, buffers at most, and so on. */
    private static final int CONSUMERS = 8;
    private static final int THREADS = 32 * (CONSUMERS + 1);
    private static final int BUFFER = 8192;
    private static final int MAX_SLOTS = 24;
    /** Fewer buffers are not tried: 16 already streamed 2-4% worse than 24 in scripts/gpu/phase_probe.cu. */
    private static final int MIN_SLOTS = 16;
    private static final int PART_TILES = 8;
    private static final int MAX_SLICES = 16;
    private static final int MAX_GROUPS = 64;
    private static final int MAX_LAYERS = 80;
    private static final int MATRIX_BYTES = 32;
    private static final int LAYER_BYTES = 4 * MATRIX_BYTES + 5 * 8;
    private static final int STEP_BYTES = 192 + MAX_LAYERS * LAYER_BYTES;
    /** The phases of a layer, in ring_step.cuh's order (RING_QKV ..), then the logits. */
    private static final String[] PHASES = {"q/k/v", "attention", "combine", "o_proj", "gate/up", "down"};

    /** The transformer's step buffers the kernel reads and writes (CudaTransformer's fields of those names). */
    record Buffers(CUdeviceptr params, CUdeviceptr x, CUdeviceptr sumSquares, CUdeviceptr actHi, CUdeviceptr actLo,
                   CUdeviceptr query, CUdeviceptr ropeTable, CUdeviceptr logits) {
    }

    private final CudaDevice dev;
    private final DeviceModel model;
    private final ModelConfig config;
    private final String kernel;
    private final int slots;
    private final int stageChunks;
    private final int normGroups;
    private final int sharedBytes;
    private final CUdeviceptr arrived;   // the grid hand-off's count, zeroed before each launch
    private CUdeviceptr times;           // block 0's clock at each hand-off ({@link #timePhases})

    private CudaRingStep(CudaDevice dev, DeviceModel model, String kernel, int slots, int stageChunks, int normGroups,
                         int sharedBytes) {
        this.dev = dev;
        this.model = model;
        this.config = model.config;
        this.kernel = kernel;
        this.slots = slots;
        this.stageChunks = stageChunks;
        this.normGroups = normGroups;
        this.sharedBytes = sharedBytes;
        this.arrived = dev.alloc(4);
        dev.allowSharedMemory(kernel, sharedBytes);
    }

    /**
     * The persistent step for this model (x in {@code normGroups} 128-row groups), or null where it
     * does not fit: a GPU without bulk copies (before Hopper), more than {@value #MAX_LAYERS} layers,
     * a matrix split into more than {@value #MAX_SLICES} slices or x in more than {@value #MAX_GROUPS}
     * groups (as for gemv_resid1 and gemv_*8x, whose split it takes), more than 16 queries a KV head
     * (the attention's at-most-16-rows path), or too little shared memory for {@value #MIN_SLOTS}
     * ring buffers beside the staged activations and the tiles' slice sums.
     */
    static CudaRingStep create(CudaDevice dev, DeviceModel model, int normGroups) {
        ModelConfig c = model.config;
        int maxSlices = model.matrices().stream().mapToInt(DeviceModel.Matrix::slices).max().orElse(0);
        int maxCps = model.matrices().stream().mapToInt(DeviceModel.Matrix::cps).max().orElse(0);
        if (!dev.hopper || c.nLayers() > MAX_LAYERS || maxSlices > MAX_SLICES || normGroups > MAX_GROUPS
                || c.groupSize() > 16) {
            return null;
        }
        String kernel = c.headDim() == 128 ? "ring_step128" : "ring_step64";
        int staged = CONSUMERS * maxCps * 8 * 16;          // a warp's slice of hi and lo activations
        int part = PART_TILES * MAX_SLICES * 16 * 4;       // the tiles' slice sums
        int free = dev.sharedPerBlockOptin - dev.staticShared(kernel) - staged - part;
        int slots = Math.min(MAX_SLOTS, free / BUFFER);
        // The attention's two 4-warp groups' K and V tiles, in the ring's memory.
        int attention = 2 * CudaTransformer.attentionShared(c.headDim());
        if (slots < MIN_SLOTS || slots * BUFFER < attention) {
            return null;
        }
        return new CudaRingStep(dev, model, kernel, slots, maxCps, normGroups, slots * BUFFER + staged + part);
    }

    /** Ring buffers a block (at most 24), for bench-gpu's report. */
    int slots() {
        return slots;
    }

    /** Enqueues the step over cache {@code c} (its parameters already uploaded in {@code b.params()}). */
    void enqueue(CudaKvCache c, boolean withLogits, Buffers b, float scaleLog2) {
        enqueue(c, withLogits, b, scaleLog2, null);
    }

    private void enqueue(CudaKvCache c, boolean withLogits, Buffers b, float scaleLog2, CUdeviceptr clock) {
        dev.zero(arrived, 4);
        dev.launchCooperative(kernel, dev.multiprocessors, THREADS, sharedBytes,
                step(c, withLogits, b, scaleLog2, clock));
    }

    /**
     * Runs the step (with the logits) and returns where its time went, by kind of phase, summed over
     * the layers: block 0's clock after each grid hand-off, so a phase's time includes the hand-off's
     * wait for the slowest block (bench-gpu --breakdown).
     */
    Map<String, Double> timePhases(CudaKvCache c, Buffers b, float scaleLog2) {
        int phases = PHASES.length * config.nLayers() + 1;
        if (times == null) {
            times = dev.alloc(8L * (PHASES.length * MAX_LAYERS + 2));
        }
        enqueue(c, true, b, scaleLog2, times);
        long[] t = new long[phases + 1];
        dev.toHost(Pointer.to(t), times, 8L * t.length);
        Map<String, Double> ms = new LinkedHashMap<>();
        for (int p = 0; p < phases; p++) {
            String kind = p < phases - 1 ? PHASES[p % PHASES.length] : "logits";
            ms.merge(kind, (t[p + 1] - t[p]) / 1e6, Double::sum);
        }
        return ms;
    }

    /** RingStep (ring_step.cuh), byte by byte. */
    private byte[] step(CudaKvCache c, boolean withLogits, Buffers b, float scaleLog2, CUdeviceptr clock) {
        ModelConfig cf = config;
        ByteBuffer s = ByteBuffer.allocate(STEP_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        matrix(s, model.lmHead);
        for (CUdeviceptr p : new CUdeviceptr[] {model.finalNorm, b.params(), b.x(), b.sumSquares(), b.actHi(), b.actLo(),
                b.query(), b.ropeTable(), b.logits(), c.partialO, c.partialM, c.partialL, arrived, clock}) {
            s.putLong(p == null ? 0 : CudaDevice.address(p));
        }
        s.putInt(cf.nLayers()).putInt(withLogits ? 1 : 0).putInt(normGroups);
        s.putInt(cf.nHeads()).putInt(cf.nKvHeads()).putInt(c.capacity).putInt(c.splitLength);
        s.putInt(slots).putInt(stageChunks).putInt(0);
        s.putFloat(cf.normEps()).putFloat(scaleLog2);
        for (int l = 0; l < cf.nLayers(); l++) {
            for (DeviceModel.Matrix m : new DeviceModel.Matrix[] {model.qkv[l], model.wo[l], model.gateUp[l], model.down[l]}) {
                matrix(s, m);
            }
            for (CUdeviceptr p : new CUdeviceptr[] {model.attentionNorm[l], model.ffnNorm[l], c.keys[l], c.values[l],
                    c.lastQuery.withByteOffset(4L * l * cf.qDim())}) {
                s.putLong(CudaDevice.address(p));
            }
        }
        return s.array();
    }

    private static void matrix(ByteBuffer s, DeviceModel.Matrix m) {
        s.putLong(CudaDevice.address(m.data())).putInt(m.rows()).putInt(m.kChunks()).putInt(m.cps()).putInt(m.slices());
        s.putInt(0).putInt(0);
    }

    @Override
    public void close() {
        CudaDevice.free(arrived);
        if (times != null) {
            CudaDevice.free(times);
        }
    }
}
