package io.triforce.engine.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A tiny fork-join for the forward pass: {@link #forRange} splits {@code [0, n)} into chunks
 * that the calling thread and the workers claim from a shared counter, and returns when every
 * chunk is done. The caller never waits for a worker that has not started: when other
 * processes hold the cores (several services on one machine), it simply runs the chunks
 * itself. Workers spin briefly between calls (a decode step issues ~50 of them), then park.
 * Which thread runs a chunk never changes its result: chunks only index scratch by worker.
 */
public final class Parallel {

    /** Body of a parallel loop: handles {@code [from, to)}; {@code worker} indexes scratch buffers. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int worker, int from, int to);
    }

    private static final int SPIN_ITERATIONS = 5_000;
    private static final int CHUNKS_PER_THREAD = 4;
    private static final Parallel SHARED = new Parallel(Integer.getInteger("triforce.threads",
            Runtime.getRuntime().availableProcessors()));

    /** One call of {@link #forRange}: immutable but for its two counters. */
    private record Job(RangeBody body, int n, int chunks, AtomicInteger next, AtomicInteger done,
                       Throwable[] failure) {

        /** Claims and runs chunks until none is left. */
        void work(int worker) {
            for (int c = next.getAndIncrement(); c < chunks; c = next.getAndIncrement()) {
                try {
                    int from = (int) ((long) n * c / chunks);
                    int to = (int) ((long) n * (c + 1) / chunks);
                    body.run(worker, from, to);
                } catch (Throwable t) {
                    failure[0] = t;
                } finally {
                    done.incrementAndGet();
                }
            }
        }
    }

    private final int threads;
    private final Thread[] workers;
    private volatile Job job;

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

    /** Runs {@code body} over {@code [0, n)}. Calls are serialised per pool. */
    public synchronized void forRange(int n, RangeBody body) {
        if (n <= 0) {
            return;
        }
        if (threads == 1 || n == 1) {
            body.run(0, 0, n);
            return;
        }
        Job current = new Job(body, n, Math.min(n, threads * CHUNKS_PER_THREAD), new AtomicInteger(),
                new AtomicInteger(), new Throwable[1]);
        job = current;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        current.work(0);
        while (current.done().get() < current.chunks()) {
            Thread.onSpinWait();
        }
        if (current.failure()[0] != null) {
            throw new IllegalStateException("parallel kernel failed: " + current.failure()[0], current.failure()[0]);
        }
    }

    private void workLoop(int worker) {
        Job seen = null;
        while (true) {
            int spins = 0;
            Job current;
            while ((current = job) == seen) {
                if (++spins > SPIN_ITERATIONS) {
                    LockSupport.park(this);
                } else {
                    Thread.onSpinWait();
                }
            }
            seen = current;
            current.work(worker);
        }
    }
}
