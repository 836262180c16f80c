package io.triforce.engine.cpu;

import io.triforce.engine.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * out[t][r] = W[r] . x[t] for a weight matrix W [rows][cols] and a block of n inputs
 * x [n][cols]. Threads split the rows; each widens four weight rows to fp32 at a time and
 * runs them against the block four tokens at a time (sixteen independent FMA chains, each
 * weight and input vector loaded once per tile).
 *
 * <p>Every output is the same computation whatever n is: one accumulator running over the
 * columns in order, its lanes summed by {@link VectorMath#sumLanes}, then the scalar tail.
 */
final class MatMul {

    private static final VectorSpecies<Float> F = VectorMath.F;
    private static final int LANES = F.length();
    private static final int ROWS = 4;
    private static final int TOKENS = 4;

    private final Parallel parallel;
    private final float[][] rowScratch;  // per worker: [ROWS][maxCols]
    private final float[][] laneScratch; // per worker: [LANES]

    MatMul(Parallel parallel, int maxCols) {
        this.parallel = parallel;
        this.rowScratch = new float[parallel.threads()][ROWS * maxCols];
        this.laneScratch = new float[parallel.threads()][LANES];
    }

    /** out [n][w.rows()] = x [n][w.cols()] times W^T. */
    void apply(Tensor w, float[] x, int n, float[] out) {
        int rows = w.rows();
        int cols = w.cols();
        int tiles = (rows + ROWS - 1) / ROWS;
        parallel.forRange(tiles, (worker, from, to) -> {
            float[] scratch = rowScratch[worker];
            float[] lanes = laneScratch[worker];
            for (int tile = from; tile < to; tile++) {
                int r0 = tile * ROWS;
                int count = Math.min(ROWS, rows - r0);
                for (int i = 0; i < count; i++) {
                    WeightRows.widen(w, r0 + i, scratch, i * cols);
                }
                if (count < ROWS) {
                    for (int t = 0; t < n; t++) {
                        for (int i = 0; i < count; i++) {
                            out[t * rows + r0 + i] = dot(scratch, i * cols, x, t * cols, cols, lanes);
                        }
                    }
                    continue;
                }
                int t = 0;
                for (; t + TOKENS <= n; t += TOKENS) {
                    fourRowsFourTokens(scratch, x, t, cols, out, rows, r0, lanes);
                }
                for (; t < n; t++) {
                    fourRowsOneToken(scratch, x, t * cols, cols, out, t * rows + r0, lanes);
                }
            }
        });
    }

    /** The reference computation of one output. */
    static float dot(float[] w, int wOff, float[] x, int xOff, int cols, float[] lanes) {
        FloatVector acc = FloatVector.zero(F);
        int j = 0;
        for (; j + LANES <= cols; j += LANES) {
            acc = FloatVector.fromArray(F, w, wOff + j).fma(FloatVector.fromArray(F, x, xOff + j), acc);
        }
        return tail(VectorMath.sumLanes(acc, lanes), w, wOff, x, xOff, j, cols);
    }

    private static float tail(float sum, float[] w, int wOff, float[] x, int xOff, int j, int cols) {
        for (; j < cols; j++) {
            sum = Math.fma(w[wOff + j], x[xOff + j], sum);
        }
        return sum;
    }

    private static void fourRowsOneToken(float[] w, float[] x, int xOff, int cols, float[] out, int outOff,
                                         float[] lanes) {
        FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
        int j = 0;
        for (; j + LANES <= cols; j += LANES) {
            FloatVector xv = FloatVector.fromArray(F, x, xOff + j);
            a0 = FloatVector.fromArray(F, w, j).fma(xv, a0);
            a1 = FloatVector.fromArray(F, w, cols + j).fma(xv, a1);
            a2 = FloatVector.fromArray(F, w, 2 * cols + j).fma(xv, a2);
            a3 = FloatVector.fromArray(F, w, 3 * cols + j).fma(xv, a3);
        }
        out[outOff] = tail(VectorMath.sumLanes(a0, lanes), w, 0, x, xOff, j, cols);
        out[outOff + 1] = tail(VectorMath.sumLanes(a1, lanes), w, cols, x, xOff, j, cols);
        out[outOff + 2] = tail(VectorMath.sumLanes(a2, lanes), w, 2 * cols, x, xOff, j, cols);
        out[outOff + 3] = tail(VectorMath.sumLanes(a3, lanes), w, 3 * cols, x, xOff, j, cols);
    }

    private static void fourRowsFourTokens(float[] w, float[] x, int t, int cols, float[] out, int rows, int r0,
                                           float[] lanes) {
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), a02 = FloatVector.zero(F), a03 = FloatVector.zero(F);
        FloatVector a10 = FloatVector.zero(F), a11 = FloatVector.zero(F), a12 = FloatVector.zero(F), a13 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F), a22 = FloatVector.zero(F), a23 = FloatVector.zero(F);
        FloatVector a30 = FloatVector.zero(F), a31 = FloatVector.zero(F), a32 = FloatVector.zero(F), a33 = FloatVector.zero(F);
        int x0 = t * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        int j = 0;
        for (; j + LANES <= cols; j += LANES) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + j);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + j);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + j);
            FloatVector v3 = FloatVector.fromArray(F, x, x3 + j);
            FloatVector w0 = FloatVector.fromArray(F, w, j);
            a00 = w0.fma(v0, a00); a01 = w0.fma(v1, a01); a02 = w0.fma(v2, a02); a03 = w0.fma(v3, a03);
            FloatVector w1 = FloatVector.fromArray(F, w, cols + j);
            a10 = w1.fma(v0, a10); a11 = w1.fma(v1, a11); a12 = w1.fma(v2, a12); a13 = w1.fma(v3, a13);
            FloatVector w2 = FloatVector.fromArray(F, w, 2 * cols + j);
            a20 = w2.fma(v0, a20); a21 = w2.fma(v1, a21); a22 = w2.fma(v2, a22); a23 = w2.fma(v3, a23);
            FloatVector w3 = FloatVector.fromArray(F, w, 3 * cols + j);
            a30 = w3.fma(v0, a30); a31 = w3.fma(v1, a31); a32 = w3.fma(v2, a32); a33 = w3.fma(v3, a33);
        }
        int o0 = t * rows + r0, o1 = o0 + rows, o2 = o1 + rows, o3 = o2 + rows;
        out[o0] = tail(VectorMath.sumLanes(a00, lanes), w, 0, x, x0, j, cols);
        out[o1] = tail(VectorMath.sumLanes(a01, lanes), w, 0, x, x1, j, cols);
        out[o2] = tail(VectorMath.sumLanes(a02, lanes), w, 0, x, x2, j, cols);
        out[o3] = tail(VectorMath.sumLanes(a03, lanes), w, 0, x, x3, j, cols);
        out[o0 + 1] = tail(VectorMath.sumLanes(a10, lanes), w, cols, x, x0, j, cols);
        out[o1 + 1] = tail(VectorMath.sumLanes(a11, lanes), w, cols, x, x1, j, cols);
        out[o2 + 1] = tail(VectorMath.sumLanes(a12, lanes), w, cols, x, x2, j, cols);
        out[o3 + 1] = tail(VectorMath.sumLanes(a13, lanes), w, cols, x, x3, j, cols);
        out[o0 + 2] = tail(VectorMath.sumLanes(a20, lanes), w, 2 * cols, x, x0, j, cols);
        out[o1 + 2] = tail(VectorMath.sumLanes(a21, lanes), w, 2 * cols, x, x1, j, cols);
        out[o2 + 2] = tail(VectorMath.sumLanes(a22, lanes), w, 2 * cols, x, x2, j, cols);
        out[o3 + 2] = tail(VectorMath.sumLanes(a23, lanes), w, 2 * cols, x, x3, j, cols);
        out[o0 + 3] = tail(VectorMath.sumLanes(a30, lanes), w, 3 * cols, x, x0, j, cols);
        out[o1 + 3] = tail(VectorMath.sumLanes(a31, lanes), w, 3 * cols, x, x1, j, cols);
        out[o2 + 3] = tail(VectorMath.sumLanes(a32, lanes), w, 3 * cols, x, x2, j, cols);
        out[o3 + 3] = tail(VectorMath.sumLanes(a33, lanes), w, 3 * cols, x, x3, j, cols);
    }
}
