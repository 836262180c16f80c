package io.triforce.engine.cpu;

import io.triforce.engine.tensor.Tensor;

/**
 * out[t][r] = W[r] . x[t] for a weight matrix W [rows][cols] and a block of n inputs
 * x [n][cols]. Threads split the rows; each thread widens a few weight rows to fp32 once and
 * reuses them for every token of the block. Each output is one {@link VectorMath#dot} in a
 * fixed order, whatever n is.
 */
final class MatMul {

    private static final int ROW_TILE = 8;

    private final Parallel parallel;
    private final float[][] rowScratch; // per worker: [ROW_TILE][maxCols]

    MatMul(Parallel parallel, int maxCols) {
        this.parallel = parallel;
        this.rowScratch = new float[parallel.threads()][ROW_TILE * maxCols];
    }

    /** out [n][w.rows()] = x [n][w.cols()] times W^T. */
    void apply(Tensor w, float[] x, int n, float[] out) {
        int rows = w.rows();
        int cols = w.cols();
        int tiles = (rows + ROW_TILE - 1) / ROW_TILE;
        parallel.forRange(tiles, (worker, from, to) -> {
            float[] scratch = rowScratch[worker];
            for (int tile = from; tile < to; tile++) {
                int r0 = tile * ROW_TILE;
                int r1 = Math.min(rows, r0 + ROW_TILE);
                for (int r = r0; r < r1; r++) {
                    WeightRows.widen(w, r, scratch, (r - r0) * cols);
                }
                for (int t = 0; t < n; t++) {
                    int xOff = t * cols;
                    int outOff = t * rows;
                    for (int r = r0; r < r1; r++) {
                        out[outOff + r] = VectorMath.dot(scratch, (r - r0) * cols, x, xOff, cols);
                    }
                }
            }
        });
    }
}
