package io.triforce.engine.cuda;

import io.triforce.engine.spec.ProbabilityRow;
import java.util.Arrays;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * The rows of p a level keeps on the device for the level above, where they become its q: a ring
 * of {@link #SLOTS} rows. A kept row stays readable until the ring comes round to its slot again;
 * reading it after that (or after {@link #close}) is an error, never a stale row.
 */
final class KeptRows implements AutoCloseable {

    /** A proposal's q (up to 63 rows) and the verdict of a round that extends it (up to 64) at once. */
    static final int SLOTS = 128;

    private final CudaDevice dev;
    private final Object owner;          // the model whose monitor orders its device work
    private final int vocab;
    private final CUdeviceptr rows;      // fp32 [SLOTS][vocab]
    private final long[] rowInSlot = new long[SLOTS];   // the number of the row each slot holds (rows count from 0)
    private long kept;                   // rows kept so far; row r sits in slot r % SLOTS
    private boolean closed;

    KeptRows(CudaDevice dev, Object owner, int vocab) {
        this.dev = dev;
        this.owner = owner;
        this.vocab = vocab;
        this.rows = dev.alloc(4L * SLOTS * vocab);
    }

    /**
     * Keeps {@code count} rows fp32 [count][vocab] from {@code src} on the device, in order with the
     * stream. Rows kept together come down to the host together, when one of them is read there.
     */
    ProbabilityRow[] keep(CUdeviceptr src, int count) {
        Row[] out = new Row[count];
        for (int i = 0; i < count; ) {
            int slot = (int) (kept % SLOTS);
            int run = Math.min(count - i, SLOTS - slot);
            dev.copy(at(slot), src.withByteOffset(4L * i * vocab), 4L * run * vocab);
            for (int j = 0; j < run; j++, i++, kept++) {
                rowInSlot[slot + j] = kept;
                out[i] = new Row(kept, out);
            }
        }
        return out;
    }

    private CUdeviceptr at(int slot) {
        return rows.withByteOffset(4L * slot * vocab);
    }

    @Override
    public void close() {
        closed = true;
        CudaDevice.free(rows);
    }

    /** One kept row, readable where it lies (by a verifier on the same device) or on the host. */
    final class Row implements ProbabilityRow {

        private final long number;
        private final Row[] keptWith;   // the rows kept in the same call, this one among them
        private float[] host;

        private Row(long number, Row[] keptWith) {
            this.number = number;
            this.keptWith = keptWith;
        }

        /** Whether a verifier on {@code device} can copy this row without the host. */
        boolean on(CudaDevice device) {
            return device == dev && !closed;
        }

        /**
         * Queues the copy of {@code q[from]} and the rows after it that follow it in this ring's slots
         * (at most {@code limit} rows) to {@code dst}, fp32 [run][vocab] on the device; returns the run.
         */
        int copyRun(ProbabilityRow[] q, int from, int limit, CUdeviceptr dst) {
            synchronized (owner) {   // the ring's model may keep rows from another thread
                int slot = slot();
                int run = 1;
                while (run < limit && slot + run < SLOTS && q[from + run] instanceof Row next
                        && next.ring() == KeptRows.this && next.number == number + run) {
                    next.slot();
                    run++;
                }
                dev.copy(dst, at(slot), 4L * run * vocab);
                return run;
            }
        }

        /** This row on the host, copied down with the rows kept with it that are still in the ring. */
        @Override
        public float[] values() {
            synchronized (owner) {
                if (host == null) {
                    slot();
                    dev.use();
                    for (int i = 0; i < keptWith.length; ) {
                        int run = keptWith[i].runOnHostWanted(keptWith, i);
                        if (run == 0) {
                            i++;
                            continue;
                        }
                        float[] rows = new float[run * vocab];
                        dev.toHost(Pointer.to(rows), at(keptWith[i].slot()), 4L * rows.length);
                        for (int j = 0; j < run; j++, i++) {
                            keptWith[i].host = Arrays.copyOfRange(rows, j * vocab, (j + 1) * vocab);
                        }
                    }
                }
                return host;
            }
        }

        /**
         * How many of {@code rows[from..]}, starting with this one, lie in consecutive slots, still hold
         * their rows and are not on the host yet: one copy brings them down (0 when this one cannot come).
         */
        private int runOnHostWanted(Row[] rows, int from) {
            if (host != null || !held()) {
                return 0;
            }
            int slot = (int) (number % SLOTS);
            int run = 1;
            while (from + run < rows.length && slot + run < SLOTS && rows[from + run].host == null
                    && rowInSlot[slot + run] == rows[from + run].number) {
                run++;
            }
            return run;
        }

        private KeptRows ring() {
            return KeptRows.this;
        }

        /** Whether the ring still holds this row. */
        private boolean held() {
            return !closed && rowInSlot[(int) (number % SLOTS)] == number;
        }

        /** This row's slot, if it still holds this row. */
        private int slot() {
            if (!held()) {
                throw new IllegalStateException("row " + number + " of p kept on the GPU was "
                        + (closed ? "freed with its model" : "overwritten (a ring of " + SLOTS + " rows)")
                        + " before the level above read it");
            }
            return (int) (number % SLOTS);
        }
    }
}
