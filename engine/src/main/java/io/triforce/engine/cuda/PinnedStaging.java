package io.triforce.engine.cuda;

import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * Pinned host buffers for uploads the host does not wait for. Each {@link #take} hands out the next
 * of a few slots; a slot is handed out again only once the stream has been synchronized since its
 * last copy was queued (the host waits first if not), so a queued copy never reads a slot that is
 * being rewritten.
 */
final class PinnedStaging implements AutoCloseable {

    private final CudaDevice dev;
    private final Pointer memory;
    private final Pointer[] slots;
    private final ByteBuffer[] buffers;
    private final long[] queuedAt;   // the device's mark() after each slot's last copy was queued
    private int next;
    private int current = -1;

    PinnedStaging(CudaDevice dev, long slotBytes, int count) {
        this.dev = dev;
        memory = new Pointer();
        cuMemAllocHost(memory, slotBytes * count);
        slots = new Pointer[count];
        buffers = new ByteBuffer[count];
        for (int i = 0; i < count; i++) {
            slots[i] = memory.withByteOffset(i * slotBytes);
            buffers[i] = memory.getByteBuffer(i * slotBytes, slotBytes).order(ByteOrder.LITTLE_ENDIAN);
        }
        queuedAt = new long[count];
        Arrays.fill(queuedAt, -1);
    }

    /** The next slot, free to write, as a little-endian buffer at position 0; {@link #upload} copies from it. */
    ByteBuffer take() {
        current = next;
        next = (next + 1) % slots.length;
        if (!dev.finished(queuedAt[current])) {
            dev.synchronize();
        }
        return buffers[current].clear();
    }

    /** Queues the copy of {@code bytes} of the slot last taken, from {@code offset}, to {@code dst}; does not wait. */
    void upload(CUdeviceptr dst, long offset, long bytes) {
        dev.upload(dst, slots[current].withByteOffset(offset), bytes);
        queuedAt[current] = dev.mark();
    }

    @Override
    public void close() {
        cuMemFreeHost(memory);
    }
}
