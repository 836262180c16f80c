package io.triforce.engine.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A tiny fork-join for the forward pass: {@link #forRange} splits {@code [0, n)} into
 * contiguous parts, one per thread, and returns when all are done. Workers spin briefly
 * between calls (a decode step issues ~50 of them; a ForkJoinPool round trip costs more than
 * many of the kernels), then park.
 */
public final class Parallel {

    /** Body of a parallel loop: handles {@code [from, to)}; {@code worker} indexes scratch buffers. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int worker, int from, int to);
    }

    private static final int SPIN_ITERATIONS = 20_000;
    private static final Parallel SHARED = new Parallel(Integer.getInteger("triforce.threads",
            Runtime.getRuntime().availableProcessors()));

    private final int threads;
    private final Thread[] workers;
    private final AtomicInteger pending = new AtomicInteger();
    private volatile long generation;
    private volatile RangeBody body;
    private volatile int rangeEnd;
    private volatile Throwable failure;

    public Parallel(int threads) {
        this.threads = Math.max(1, threads);
        this.workers = new Thread[this.threads - 1];
        for (int w = 1; w < this.threads; w++) {
            int worker = w;
            workers[w - 1] = Thread.ofPlatform().daemon().name("triforce-cpu-" + w).start(() -> workLoop(worker));
        }
    }

    /**
     * The pool shared by every CPU model in the process: one thread per core, or the number in
     * the system property {@code triforce.threads}.
     */
    public static Parallel shared() {
        return SHARED;
    }

    public int threads() {
        return threads;
    }

    /**
     * Runs {@code body} over {@code [0, n)}. Calls are serialised: a model runs one forward
     * pass at a time per pool.
     */
    public synchronized void forRange(int n, RangeBody body) {
        if (n <= 0) {
            return;
        }
        if (threads == 1 || n == 1) {
            body.run(0, 0, n);
            return;
        }
        this.body = body;
        this.rangeEnd = n;
        pending.set(threads - 1);
        generation++;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        runPart(0, body, n);
        int spins = 0;
        while (pending.get() != 0) {
            if (++spins > SPIN_ITERATIONS) {
                Thread.yield();
            } else {
                Thread.onSpinWait();
            }
        }
        this.body = null;
        Throwable f = failure;
        if (f != null) {
            failure = null;
            throw new IllegalStateException("parallel kernel failed: " + f, f);
        }
    }

    private void runPart(int worker, RangeBody b, int n) {
        int from = (int) ((long) n * worker / threads);
        int to = (int) ((long) n * (worker + 1) / threads);
        if (from < to) {
            b.run(worker, from, to);
        }
    }

    private void workLoop(int worker) {
        long seen = 0;
        while (true) {
            int spins = 0;
            while (generation == seen) {
                if (++spins > SPIN_ITERATIONS) {
                    LockSupport.park(this);
                } else {
                    Thread.onSpinWait();
                }
            }
            seen = generation;
            try {
                runPart(worker, body, rangeEnd);
            } catch (Throwable t) {
                failure = t;
            } finally {
                pending.decrementAndGet();
            }
        }
    }
}
