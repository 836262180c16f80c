package io.triforce.engine.cuda;

import io.triforce.engine.kv.StreamingCache;
import io.triforce.engine.kv.StreamingWindow;
import io.triforce.engine.model.ModelConfig;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * TriForce's level-1 StreamingLLM cache on the GPU, with the rules of the CPU's
 * {@link io.triforce.engine.kv.StreamingKvCache}: the positions {@link StreamingWindow} keeps, each
 * query seeing its keys rotated to their index in its view. Two caches of slots:
 * <ul>
 *   <li>the ring: every kept position's key as the step that wrote it left it (rotated to its index
 *       in the view of that step), in slot {@link StreamingWindow#slot};
 *   <li>the view: what the next block's queries see, built from the ring before each block
 *       (streaming.cuh, streaming_view: each key rotated on from the index it was written at), then
 *       extended by the block itself, which the step kernels run on like a full cache: RoPE position
 *       and slot are the index in the view.
 * </ul>
 * After a block ran, its keys and values move to their ring slots (streaming_bank). A block may hold
 * only tokens whose queries see one growing view ({@link StreamingWindow#tokensSharingView}): once
 * the window is full, a token a step. Keys rotated twice round to bf16 twice, where the CPU cache
 * keeps them in fp32 before RoPE: the draft's logits match the CPU's to bf16 precision, not bit for bit.
 */
public final class CudaStreamingKvCache implements StreamingCache {

    private final CudaDevice dev;
    private final ModelConfig config;
    private final StreamingWindow positions;
    private final CudaKvCache ring;   // only its key and value slots are used
    private final CudaKvCache view;

    CudaStreamingKvCache(CudaDevice dev, ModelConfig config, int sinks, int window, int slack) {
        this.dev = dev;
        this.config = config;
        this.positions = new StreamingWindow(sinks, window, slack);
        this.ring = new CudaKvCache(dev, config, positions.slots());
        this.view = new CudaKvCache(dev, config, sinks + window);
    }

    @Override
    public int sinks() {
        return positions.sinks();
    }

    @Override
    public int window() {
        return positions.window();
    }

    @Override
    public int length() {
        return positions.length();
    }

    @Override
    public void truncate(int newLength) {
        positions.truncate(newLength);
    }

    @Override
    public void skipTo(int position) {
        positions.skipTo(position);
    }

    /** How many of the next {@code m} tokens one step may take. */
    int tokensSharingView(int m) {
        return positions.tokensSharingView(m);
    }

    /**
     * Builds the view of the next token (the keys it sees but its own) and returns it as the cache the
     * step of {@code model} runs on, its length the next token's index in the view.
     */
    CudaKvCache viewForNextBlock(CudaDevice modelDevice, DeviceModel model) {
        if (modelDevice != dev) {
            throw new IllegalArgumentException("a StreamingLLM cache runs on the GPU that made it, not another");
        }
        int p = positions.length();
        int entries = positions.attendedCount(p) - 1;
        if (entries > 0) {
            dev.launch("streaming_view", entries, config.nKvHeads(), config.nLayers(), config.headDim() / 2, 0,
                    ring.keyTable, ring.valueTable, ring.capacity, view.keyTable, view.valueTable, view.capacity,
                    positionsStruct(), p, model.inverseFrequencies, config.headDim());
        }
        view.setLength(entries);
        return view;
    }

    /** After a block of {@code m} tokens ran on the view: their keys and values move to the ring. */
    void bank(int m) {
        int p = positions.length();
        dev.launch("streaming_bank", m, config.nKvHeads(), config.nLayers(), config.headDim() / 8, 0,
                view.keyTable, view.valueTable, view.capacity, view.length() - m, ring.keyTable, ring.valueTable,
                ring.capacity, positionsStruct(), p, config.headDim());
        positions.advance(m);
    }

    /** StreamingPositions (streaming.cuh), passed by value. */
    private byte[] positionsStruct() {
        return ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putInt(positions.sinks())
                .putInt(positions.window()).putInt(positions.ring()).putInt(positions.windowStart()).array();
    }

    @Override
    public void close() {
        ring.close();
        view.close();
    }
}
