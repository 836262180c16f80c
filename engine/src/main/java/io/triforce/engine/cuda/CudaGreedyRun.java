package io.triforce.engine.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemHostGetDevicePointer;

import io.triforce.engine.backend.GreedyRun;
import io.triforce.engine.kv.KvCache;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUgraphExec;

/**
 * Greedy decoding with the next step always queued behind the one whose pick the host waits for:
 * each step's graph ends in greedy_feed (triforce.cu), which makes the pick the next step's token
 * and writes it to host-mapped memory, so the host never stands between two steps.
 */
final class CudaGreedyRun implements GreedyRun {

    /** Steps queued beyond the one awaited. */
    private static final int AHEAD = 1;

    /** Host-mapped picks (greedy_feed writes step seq's at seq % 64) and the events marking each step's end. */
    static final class Buffers implements AutoCloseable {

        private static final int SLOTS = 64;
        private static final int EVENTS = 4;
        private final Pointer host = new Pointer();
        final CUdeviceptr picks = new CUdeviceptr();
        private final IntBuffer hostPicks;
        private final CUevent[] events = new CUevent[EVENTS];

        Buffers() {
            cuMemHostAlloc(host, 4L * SLOTS, jcuda.driver.JCudaDriver.CU_MEMHOSTALLOC_DEVICEMAP);
            cuMemHostGetDevicePointer(picks, host, 0);
            hostPicks = host.getByteBuffer(0, 4L * SLOTS).order(ByteOrder.nativeOrder()).asIntBuffer();
            for (int i = 0; i < EVENTS; i++) {
                events[i] = new CUevent();
                cuEventCreate(events[i], CUevent_flags.CU_EVENT_DISABLE_TIMING);
            }
        }

        @Override
        public void close() {
            for (CUevent e : events) {
                cuEventDestroy(e);
            }
            cuMemFreeHost(host);
        }
    }

    private final Object owner;   // the model: its monitor orders the device work
    private final CudaDevice dev;
    private final KvCache cache;
    private final Runnable advance;   // the cache's bookkeeping for a step the stream runs
    private final CUgraphExec step;
    private final Buffers buffers;
    private final int firstSeq;
    private final int limit;
    private int launched;
    private int taken;
    private boolean closed;

    /** {@code step}: a one-token step ending in greedy_feed; the step parameters of the first token are uploaded. */
    CudaGreedyRun(Object owner, CudaDevice dev, KvCache cache, Runnable advance, CUgraphExec step, Buffers buffers,
                  int limit) {
        this.owner = owner;
        this.dev = dev;
        this.cache = cache;
        this.advance = advance;
        this.step = step;
        this.buffers = buffers;
        this.firstSeq = cache.length();
        this.limit = limit;
    }

    @Override
    public int next() {
        synchronized (owner) {
            if (closed || taken == limit) {
                throw new IllegalStateException(closed ? "the run is closed"
                        : "the run's " + limit + " picks are taken");
            }
            dev.use();
            for (; launched < Math.min(limit, taken + 1 + AHEAD); launched++) {
                dev.launch(step);
                dev.record(buffers.events[launched % Buffers.EVENTS]);
                advance.run();
            }
            dev.waitFor(buffers.events[taken % Buffers.EVENTS]);
            return buffers.hostPicks.get((firstSeq + taken++) % Buffers.SLOTS);
        }
    }

    boolean isOpen() {
        return !closed;
    }

    /** Waits for a step run ahead (its cache must outlive it) and forgets the token it fed. */
    @Override
    public void close() {
        synchronized (owner) {
            if (closed) {
                return;
            }
            closed = true;
            if (launched > taken) {
                dev.use();
                dev.waitFor(buffers.events[(launched - 1) % Buffers.EVENTS]);
                cache.truncate(cache.length() - (launched - taken));
            }
        }
    }
}
