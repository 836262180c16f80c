package io.triforce.engine.cuda;

import io.triforce.engine.kv.StreamingCache;
import io.triforce.engine.kv.StreamingWindow;
import io.triforce.engine.model.ModelConfig;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * TriForce's level-1 StreamingLLM cache on the GPU, with the rules of the CPU's
 * {@link io.triforce.engine.kv.StreamingKvCache}: the positions {@link StreamingWindow} keeps, each
 * query seeing its keys rotated to their index in its view. Two caches of slots:
 * <ul>
 *   <li>the ring: every kept position's key as the step that wrote it left it (rotated to its index
 *       in the view of that step), in slot {@link StreamingWindow#slot};
 *   <li>the view: what the step's queries see. Its steps' graphs build it from the ring first
 *       (streaming.cuh, streaming_view: each key rotated on from the index it was written at), run
 *       the step kernels on it like on a full cache (RoPE position and slot: the index in the view),
 *       and move the block's keys and values to the ring last (streaming_bank).
 * </ul>
 * A block may hold only tokens whose queries see one growing view
 * ({@link StreamingWindow#tokensSharingView}): once the window is full, a token a step. Keys rotated
 * twice round to bf16 twice, where the CPU cache keeps them in fp32 before RoPE: the draft's logits
 * match the CPU's to bf16 precision, not bit for bit.
 */
public final class CudaStreamingKvCache implements StreamingCache {

    private final CudaDevice dev;
    private final ModelConfig config;
    private final StreamingWindow positions;
    private final CudaKvCache ring;              // only its key and value slots are used
    private final CudaKvCache view;
    private final CUdeviceptr rules;             // StreamingPositions (streaming.cuh)

    CudaStreamingKvCache(CudaDevice dev, ModelConfig config, int sinks, int window, int slack) {
        this.dev = dev;
        this.config = config;
        this.positions = new StreamingWindow(sinks, window, slack);
        this.ring = new CudaKvCache(dev, config, positions.slots());
        this.view = new CudaKvCache(dev, config, sinks + window, this);
        this.rules = dev.alloc(16);
        uploadRules();
    }

    @Override
    public StreamingWindow positions() {
        return positions;
    }

    @Override
    public void skipTo(int position) {
        dev.use();
        positions.skipTo(position);
        uploadRules();
    }

    /**
     * The view as the next step runs on it, on {@code modelDevice} (this cache's GPU): its length is
     * the next token's index in the view (the entries the step's graph builds before it).
     */
    CudaKvCache viewForNextBlock(CudaDevice modelDevice) {
        if (modelDevice != dev) {
            throw new IllegalArgumentException("a StreamingLLM cache runs on the GPU that made it, not another");
        }
        view.setLength(positions.attendedCount(positions.length()) - 1);
        return view;
    }

    /** StreamingPositions (streaming.cuh) on the device. */
    CUdeviceptr rules() {
        return rules;
    }

    /** A block of {@code m} tokens ran (and was banked): it is now part of the sequence. */
    void advance(int m) {
        positions.advance(m);
    }

    /** The view of the step's first token, before the step ({@code params}: the step's StepParams). */
    void enqueueView(CUdeviceptr params, DeviceModel model) {
        int mostEntries = Math.max(1, positions.sinks() + positions.window() - 1);
        dev.launch("streaming_view", mostEntries, config.nKvHeads(), config.nLayers(), config.headDim() / 2, 0,
                ring.keyTable, ring.valueTable, ring.capacity, view.keyTable, view.valueTable, view.capacity, rules,
                params, model.inverseFrequencies, config.headDim());
    }

    /** The step's {@code n} tokens' keys and values to the ring, after the step. */
    void enqueueBank(CUdeviceptr params, int n) {
        dev.launch("streaming_bank", n, config.nKvHeads(), config.nLayers(), config.headDim() / 8, 0,
                view.keyTable, view.valueTable, view.capacity, ring.keyTable, ring.valueTable, ring.capacity, rules,
                params, config.headDim());
    }

    /** Benchmarks: random keys and values in every ring slot, and a length of {@code length}. */
    void fillRandom(long seed, int length) {
        ring.fillRandom(seed, Math.min(length, positions.slots()));
        positions.advance(length);
    }

    private void uploadRules() {
        int[] struct = {positions.sinks(), positions.window(), positions.ring(), positions.windowStart()};
        dev.toDevice(rules, Pointer.to(struct), 16);
    }

    @Override
    public void close() {
        dev.use();
        ring.close();
        view.close();
        CudaDevice.free(rules);
    }
}
