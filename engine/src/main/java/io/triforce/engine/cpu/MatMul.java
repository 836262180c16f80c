package io.triforce.engine.cpu;

import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * out[t][r] = W[r] . x[t] for a {@link PackedMatrix} W [rows][cols] and a block of n inputs
 * x [n][cols]. A vector holds {@code TILE} consecutive rows, so the sum over columns needs no
 * horizontal reduction: acc += W[rows][j] * x[t][j], column by column. Threads split groups of
 * four row tiles; a group runs two tiles by four tokens at a time (eight FMA chains) and single tokens
 * with four chains.
 *
 * <p>Every output is the same sequence of FMAs over j = 0..cols-1 whatever n is, so block and
 * token-by-token forwards agree bit for bit.
 */
final class MatMul {

    private static final VectorSpecies<Float> F = VectorMath.F;
    private static final int TILE = PackedMatrix.TILE;
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(TILE * 16));
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final int TOKENS = 4;

    private final Parallel parallel;

    MatMul(Parallel parallel) {
        this.parallel = parallel;
    }

    /** out [n][w.rows] = x [n][w.cols] times W^T. */
    void apply(PackedMatrix w, float[] x, int n, float[] out) {
        int groups = w.tiles / PackedMatrix.TILE_GROUP;
        parallel.forRange(groups, (worker, from, to) -> {
            for (int g = from; g < to; g++) {
                int tile = g * PackedMatrix.TILE_GROUP;
                int t = 0;
                for (; t + TOKENS <= n; t += TOKENS) {
                    fourTilesFourTokens(w, tile, x, t, out);
                }
                for (; t < n; t++) {
                    fourTilesOneToken(w, tile, x, t, out);
                }
            }
        });
    }

    private static FloatVector column(PackedMatrix w, long off) {
        if (!w.bf16) {
            return FloatVector.fromMemorySegment(F, w.data, off, ByteOrder.LITTLE_ENDIAN);
        }
        ShortVector s = ShortVector.fromMemorySegment(S, w.data, off, ByteOrder.LITTLE_ENDIAN);
        return ((IntVector) s.convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static void store(PackedMatrix w, int tile, FloatVector acc, float[] out, int t) {
        int row0 = tile * TILE;
        if (row0 >= w.rows) {
            return;
        }
        int off = t * w.rows + row0;
        if (row0 + TILE <= w.rows) {
            acc.intoArray(out, off);
        } else {
            VectorMask<Float> valid = F.indexInRange(0, w.rows - row0);
            acc.intoArray(out, off, valid);
        }
    }

    private static void fourTilesOneToken(PackedMatrix w, int tile, float[] x, int t, float[] out) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        int cols = w.cols;
        int xOff = t * cols;
        long step = w.offset(0, 1);
        long tileBytes = w.offset(1, 0);
        long o = w.offset(tile, 0);
        for (int j = 0; j < cols; j++, o += step) {
            FloatVector xj = FloatVector.broadcast(F, x[xOff + j]);
            a0 = column(w, o).fma(xj, a0);
            a1 = column(w, o + tileBytes).fma(xj, a1);
            a2 = column(w, o + 2 * tileBytes).fma(xj, a2);
            a3 = column(w, o + 3 * tileBytes).fma(xj, a3);
        }
        store(w, tile, a0, out, t);
        store(w, tile + 1, a1, out, t);
        store(w, tile + 2, a2, out, t);
        store(w, tile + 3, a3, out, t);
    }

    private static void fourTilesFourTokens(PackedMatrix w, int tile, float[] x, int t, float[] out) {
        twoTilesFourTokens(w, tile, x, t, out);
        twoTilesFourTokens(w, tile + 2, x, t, out);
    }

    private static void twoTilesFourTokens(PackedMatrix w, int tile, float[] x, int t, float[] out) {
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), a02 = FloatVector.zero(F), a03 = FloatVector.zero(F);
        FloatVector a10 = FloatVector.zero(F), a11 = FloatVector.zero(F), a12 = FloatVector.zero(F), a13 = FloatVector.zero(F);
        int cols = w.cols;
        int x0 = t * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        long step = w.offset(0, 1);
        long tileBytes = w.offset(1, 0);
        long o = w.offset(tile, 0);
        for (int j = 0; j < cols; j++, o += step) {
            FloatVector v0 = FloatVector.broadcast(F, x[x0 + j]);
            FloatVector v1 = FloatVector.broadcast(F, x[x1 + j]);
            FloatVector v2 = FloatVector.broadcast(F, x[x2 + j]);
            FloatVector v3 = FloatVector.broadcast(F, x[x3 + j]);
            FloatVector w0 = column(w, o);
            a00 = w0.fma(v0, a00); a01 = w0.fma(v1, a01); a02 = w0.fma(v2, a02); a03 = w0.fma(v3, a03);
            FloatVector w1 = column(w, o + tileBytes);
            a10 = w1.fma(v0, a10); a11 = w1.fma(v1, a11); a12 = w1.fma(v2, a12); a13 = w1.fma(v3, a13);
        }
        store(w, tile, a00, out, t); store(w, tile, a01, out, t + 1); store(w, tile, a02, out, t + 2); store(w, tile, a03, out, t + 3);
        store(w, tile + 1, a10, out, t); store(w, tile + 1, a11, out, t + 1); store(w, tile + 1, a12, out, t + 2); store(w, tile + 1, a13, out, t + 3);
    }
}
