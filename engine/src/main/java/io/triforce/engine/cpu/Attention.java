package io.triforce.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Scaled dot-product attention of the query heads that share one KV head over a
 * {@link KvSlots.View}: out_h = softmax(q_h . K^T * scale) V. Scores come tile by tile from the
 * transposed key layout; the softmax and the weighted sum of values run in a fixed order,
 * so the result for a query does not depend on what else is in its block.
 */
final class Attention {

    private static final VectorSpecies<Float> F = VectorMath.F;
    private static final int TILE = KvSlots.TILE;

    private Attention() {
    }

    /**
     * @param q      queries, head h of the group at q[qOff + h*headDim]
     * @param heads  query heads in the group
     * @param view   the keys/values to attend
     * @param scores scratch of at least view.count() rounded up to a tile
     * @param out    out[outOff + h*headDim ..] receives head h's result
     */
    static void attend(float[] q, int qOff, int heads, KvSlots.View view, float scale,
                       float[] scores, float[] out, int outOff) {
        KvSlots kv = view.slots();
        int n = view.count();
        int headDim = kv.headDim();
        for (int h = 0; h < heads; h++) {
            int qh = qOff + h * headDim;
            scoreTiles(q, qh, kv.keyTiles, headDim, n, scale, scores);
            float max = VectorMath.max(scores, 0, n);
            float sum = VectorMath.expShiftedInPlace(scores, 0, n, max);
            int oh = outOff + h * headDim;
            weightedValues(scores, kv.values, headDim, n, out, oh);
            VectorMath.scale(out, oh, headDim, 1f / sum);
        }
    }

    /** scores[j] = scale * q . key_j for j < n (padding lanes of the last tile are written too). */
    private static void scoreTiles(float[] q, int qOff, float[] keyTiles, int headDim, int n, float scale, float[] scores) {
        int tiles = (n + TILE - 1) / TILE;
        int tileSize = headDim * TILE;
        int t = 0;
        for (; t + 4 <= tiles; t += 4) {
            FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
            int b0 = t * tileSize;
            for (int d = 0; d < headDim; d++) {
                FloatVector qd = FloatVector.broadcast(F, q[qOff + d]);
                int o = b0 + d * TILE;
                a0 = qd.fma(FloatVector.fromArray(F, keyTiles, o), a0);
                a1 = qd.fma(FloatVector.fromArray(F, keyTiles, o + tileSize), a1);
                a2 = qd.fma(FloatVector.fromArray(F, keyTiles, o + 2 * tileSize), a2);
                a3 = qd.fma(FloatVector.fromArray(F, keyTiles, o + 3 * tileSize), a3);
            }
            a0.mul(scale).intoArray(scores, t * TILE);
            a1.mul(scale).intoArray(scores, (t + 1) * TILE);
            a2.mul(scale).intoArray(scores, (t + 2) * TILE);
            a3.mul(scale).intoArray(scores, (t + 3) * TILE);
        }
        for (; t < tiles; t++) {
            FloatVector a = FloatVector.zero(F);
            int b = t * tileSize;
            for (int d = 0; d < headDim; d++) {
                a = FloatVector.broadcast(F, q[qOff + d]).fma(FloatVector.fromArray(F, keyTiles, b + d * TILE), a);
            }
            a.mul(scale).intoArray(scores, t * TILE);
        }
    }

    /** out[oOff..oOff+headDim) = sum_j p[j] * value_j, even and odd j in two accumulators. */
    private static void weightedValues(float[] p, float[] values, int headDim, int n, float[] out, int oOff) {
        java.util.Arrays.fill(out, oOff, oOff + headDim, 0f);
        for (int d0 = 0; d0 < headDim; d0 += F.length()) {
            FloatVector even = FloatVector.zero(F);
            FloatVector odd = FloatVector.zero(F);
            int j = 0;
            for (; j + 2 <= n; j += 2) {
                even = FloatVector.broadcast(F, p[j]).fma(FloatVector.fromArray(F, values, j * headDim + d0), even);
                odd = FloatVector.broadcast(F, p[j + 1]).fma(FloatVector.fromArray(F, values, (j + 1) * headDim + d0), odd);
            }
            if (j < n) {
                even = FloatVector.broadcast(F, p[j]).fma(FloatVector.fromArray(F, values, j * headDim + d0), even);
            }
            even.add(odd).intoArray(out, oOff + d0);
        }
    }
}
