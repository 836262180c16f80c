package io.triforce.engine.cpu;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Scaled dot-product attention, softmax(q . K^T * scale) V, for several query rows over one
 * {@link KvSlots} store: each row attends the first {@code counts[r]} slots. Keys and values
 * stream through in blocks of {@link #KEY_BLOCK} slots with an online softmax, and every row
 * of a call is served from the same block while it sits in cache, so a verify block of k
 * tokens reads the KV cache once, not k times.
 *
 * <p>For one row the arithmetic depends only on its query and its slots (blocks start at
 * fixed slot multiples; reductions run in a fixed order), never on the other rows of the call:
 * a block forward gives the bits a token-by-token forward gives.
 */
final class Attention {

    static final int KEY_BLOCK = 256;
    private static final VectorSpecies<Float> F = VectorMath.F;
    private static final int TILE = KvSlots.TILE;

    /** Per-worker buffers. */
    static final class Scratch {
        final float[] scores = new float[KEY_BLOCK];
        final float[] scoresB = new float[KEY_BLOCK];
        float[] max = new float[64];
        float[] sum = new float[64];
    }

    private Attention() {
    }

    /**
     * @param q          queries; row r starts at q[qOffsets[r]]
     * @param counts     slots row r attends (a prefix of kv)
     * @param out        row r's result goes to out[outOffsets[r] .. + headDim)
     */
    static void attend(float[] q, int[] qOffsets, int[] counts, int rows, KvSlots kv, float scale,
                       float[] out, int[] outOffsets, Scratch s) {
        int headDim = kv.headDim();
        if (s.max.length < rows) {
            s.max = new float[rows];
            s.sum = new float[rows];
        }
        int longest = 0;
        for (int r = 0; r < rows; r++) {
            s.max[r] = Float.NEGATIVE_INFINITY;
            s.sum[r] = 0f;
            Arrays.fill(out, outOffsets[r], outOffsets[r] + headDim, 0f);
            longest = Math.max(longest, counts[r]);
        }
        for (int lo = 0; lo < longest; lo += KEY_BLOCK) {
            int r = 0;
            while (r < rows) {
                int n = Math.min(KEY_BLOCK, counts[r] - lo);
                if (n <= 0) {
                    r++;
                    continue;
                }
                if (r + 1 < rows && counts[r + 1] == counts[r]) {
                    // two rows over the same keys (GQA heads of one token): each key and value loaded once
                    scoreTilesPair(q, qOffsets[r], qOffsets[r + 1], kv.keyTiles, headDim, lo, n, scale, s.scores, s.scoresB);
                    float cA = softmaxStep(s, r, s.scores, n);
                    float cB = softmaxStep(s, r + 1, s.scoresB, n);
                    VectorMath.scale(out, outOffsets[r], headDim, cA);
                    VectorMath.scale(out, outOffsets[r + 1], headDim, cB);
                    accumulateValuesPair(s.scores, s.scoresB, kv.values, lo, headDim, n, out, outOffsets[r], outOffsets[r + 1]);
                    r += 2;
                } else {
                    scoreTiles(q, qOffsets[r], kv.keyTiles, headDim, lo, n, scale, s.scores);
                    float c = softmaxStep(s, r, s.scores, n);
                    VectorMath.scale(out, outOffsets[r], headDim, c);
                    accumulateValues(s.scores, kv.values, lo, headDim, n, out, outOffsets[r]);
                    r++;
                }
            }
        }
        for (int r = 0; r < rows; r++) {
            VectorMath.scale(out, outOffsets[r], headDim, 1f / s.sum[r]);
        }
    }

    /**
     * Online softmax over one key block for row r: turns scores into exp(score - newMax), folds
     * their sum into the row's running sum and returns the factor its output must be rescaled by.
     */
    private static float softmaxStep(Scratch s, int r, float[] scores, int n) {
        float newMax = Math.max(s.max[r], VectorMath.max(scores, 0, n));
        float correction = VectorMath.exp(s.max[r] - newMax);
        s.sum[r] = s.sum[r] * correction + VectorMath.expShiftedInPlace(scores, 0, n, newMax);
        s.max[r] = newMax;
        return correction;
    }

    /** {@link #scoreTiles} for two queries at once, four tiles in flight: each key tile is loaded once. */
    private static void scoreTilesPair(float[] q, int qa, int qb, float[] keyTiles, int headDim, int first, int n,
                                       float scale, float[] scoresA, float[] scoresB) {
        int tiles = (n + TILE - 1) / TILE;
        int tileSize = headDim * TILE;
        int base = (first / TILE) * tileSize;
        int t = 0;
        for (; t + 4 <= tiles; t += 4) {
            FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
            FloatVector b0 = FloatVector.zero(F), b1 = FloatVector.zero(F), b2 = FloatVector.zero(F), b3 = FloatVector.zero(F);
            int o = base + t * tileSize;
            for (int d = 0; d < headDim; d++, o += TILE) {
                FloatVector qA = FloatVector.broadcast(F, q[qa + d]);
                FloatVector qB = FloatVector.broadcast(F, q[qb + d]);
                FloatVector k0 = FloatVector.fromArray(F, keyTiles, o);
                FloatVector k1 = FloatVector.fromArray(F, keyTiles, o + tileSize);
                FloatVector k2 = FloatVector.fromArray(F, keyTiles, o + 2 * tileSize);
                FloatVector k3 = FloatVector.fromArray(F, keyTiles, o + 3 * tileSize);
                a0 = qA.fma(k0, a0); a1 = qA.fma(k1, a1); a2 = qA.fma(k2, a2); a3 = qA.fma(k3, a3);
                b0 = qB.fma(k0, b0); b1 = qB.fma(k1, b1); b2 = qB.fma(k2, b2); b3 = qB.fma(k3, b3);
            }
            int sOff = t * TILE;
            a0.mul(scale).intoArray(scoresA, sOff); b0.mul(scale).intoArray(scoresB, sOff);
            a1.mul(scale).intoArray(scoresA, sOff + TILE); b1.mul(scale).intoArray(scoresB, sOff + TILE);
            a2.mul(scale).intoArray(scoresA, sOff + 2 * TILE); b2.mul(scale).intoArray(scoresB, sOff + 2 * TILE);
            a3.mul(scale).intoArray(scoresA, sOff + 3 * TILE); b3.mul(scale).intoArray(scoresB, sOff + 3 * TILE);
        }
        for (; t < tiles; t++) {
            FloatVector a = FloatVector.zero(F);
            FloatVector b = FloatVector.zero(F);
            int o = base + t * tileSize;
            for (int d = 0; d < headDim; d++, o += TILE) {
                FloatVector k = FloatVector.fromArray(F, keyTiles, o);
                a = FloatVector.broadcast(F, q[qa + d]).fma(k, a);
                b = FloatVector.broadcast(F, q[qb + d]).fma(k, b);
            }
            a.mul(scale).intoArray(scoresA, t * TILE);
            b.mul(scale).intoArray(scoresB, t * TILE);
        }
    }

    /** scores[j] = scale * q . key_(first+j) for j < n; first is a multiple of TILE. Eight tiles in flight. */
    private static void scoreTiles(float[] q, int qOff, float[] keyTiles, int headDim, int first, int n,
                                   float scale, float[] scores) {
        int tiles = (n + TILE - 1) / TILE;
        int tileSize = headDim * TILE;
        int base = (first / TILE) * tileSize;
        int t = 0;
        for (; t + 8 <= tiles; t += 8) {
            FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
            FloatVector a4 = FloatVector.zero(F), a5 = FloatVector.zero(F), a6 = FloatVector.zero(F), a7 = FloatVector.zero(F);
            int o = base + t * tileSize;
            for (int d = 0; d < headDim; d++, o += TILE) {
                FloatVector qd = FloatVector.broadcast(F, q[qOff + d]);
                a0 = qd.fma(FloatVector.fromArray(F, keyTiles, o), a0);
                a1 = qd.fma(FloatVector.fromArray(F, keyTiles, o + tileSize), a1);
                a2 = qd.fma(FloatVector.fromArray(F, keyTiles, o + 2 * tileSize), a2);
                a3 = qd.fma(FloatVector.fromArray(F, keyTiles, o + 3 * tileSize), a3);
                a4 = qd.fma(FloatVector.fromArray(F, keyTiles, o + 4 * tileSize), a4);
                a5 = qd.fma(FloatVector.fromArray(F, keyTiles, o + 5 * tileSize), a5);
                a6 = qd.fma(FloatVector.fromArray(F, keyTiles, o + 6 * tileSize), a6);
                a7 = qd.fma(FloatVector.fromArray(F, keyTiles, o + 7 * tileSize), a7);
            }
            int sOff = t * TILE;
            a0.mul(scale).intoArray(scores, sOff);
            a1.mul(scale).intoArray(scores, sOff + TILE);
            a2.mul(scale).intoArray(scores, sOff + 2 * TILE);
            a3.mul(scale).intoArray(scores, sOff + 3 * TILE);
            a4.mul(scale).intoArray(scores, sOff + 4 * TILE);
            a5.mul(scale).intoArray(scores, sOff + 5 * TILE);
            a6.mul(scale).intoArray(scores, sOff + 6 * TILE);
            a7.mul(scale).intoArray(scores, sOff + 7 * TILE);
        }
        for (; t < tiles; t++) {
            FloatVector a = FloatVector.zero(F);
            int b = base + t * tileSize;
            for (int d = 0; d < headDim; d++) {
                a = FloatVector.broadcast(F, q[qOff + d]).fma(FloatVector.fromArray(F, keyTiles, b + d * TILE), a);
            }
            a.mul(scale).intoArray(scores, t * TILE);
        }
    }

    /**
     * out[oOff..+headDim) += sum_j p[j] * value_(first+j). Four lane groups of the head at a
     * time, even and odd j in separate accumulators (eight chains), combined in a fixed order.
     */
    private static void accumulateValues(float[] p, float[] values, int first, int headDim, int n, float[] out, int oOff) {
        int lanes = F.length();
        for (int d0 = 0; d0 < headDim; d0 += 4 * lanes) {
            FloatVector e0 = FloatVector.zero(F), e1 = FloatVector.zero(F), e2 = FloatVector.zero(F), e3 = FloatVector.zero(F);
            FloatVector o0 = FloatVector.zero(F), o1 = FloatVector.zero(F), o2 = FloatVector.zero(F), o3 = FloatVector.zero(F);
            int row = first * headDim + d0;
            int j = 0;
            for (; j + 2 <= n; j += 2, row += 2 * headDim) {
                FloatVector pe = FloatVector.broadcast(F, p[j]);
                FloatVector po = FloatVector.broadcast(F, p[j + 1]);
                e0 = pe.fma(FloatVector.fromArray(F, values, row), e0);
                e1 = pe.fma(FloatVector.fromArray(F, values, row + lanes), e1);
                e2 = pe.fma(FloatVector.fromArray(F, values, row + 2 * lanes), e2);
                e3 = pe.fma(FloatVector.fromArray(F, values, row + 3 * lanes), e3);
                int next = row + headDim;
                o0 = po.fma(FloatVector.fromArray(F, values, next), o0);
                o1 = po.fma(FloatVector.fromArray(F, values, next + lanes), o1);
                o2 = po.fma(FloatVector.fromArray(F, values, next + 2 * lanes), o2);
                o3 = po.fma(FloatVector.fromArray(F, values, next + 3 * lanes), o3);
            }
            if (j < n) {
                FloatVector pe = FloatVector.broadcast(F, p[j]);
                e0 = pe.fma(FloatVector.fromArray(F, values, row), e0);
                e1 = pe.fma(FloatVector.fromArray(F, values, row + lanes), e1);
                e2 = pe.fma(FloatVector.fromArray(F, values, row + 2 * lanes), e2);
                e3 = pe.fma(FloatVector.fromArray(F, values, row + 3 * lanes), e3);
            }
            addInto(out, oOff + d0, e0.add(o0));
            addInto(out, oOff + d0 + lanes, e1.add(o1));
            addInto(out, oOff + d0 + 2 * lanes, e2.add(o2));
            addInto(out, oOff + d0 + 3 * lanes, e3.add(o3));
        }
    }

    /**
     * {@link #accumulateValues} for two rows: each value vector is loaded once and used by both.
     * Per row the FMA order is the single-row order (even j, odd j, combined at the end).
     */
    private static void accumulateValuesPair(float[] pA, float[] pB, float[] values, int first, int headDim, int n,
                                             float[] out, int oA, int oB) {
        int lanes = F.length();
        for (int d0 = 0; d0 < headDim; d0 += 2 * lanes) {
            FloatVector ea0 = FloatVector.zero(F), ea1 = FloatVector.zero(F), oa0 = FloatVector.zero(F), oa1 = FloatVector.zero(F);
            FloatVector eb0 = FloatVector.zero(F), eb1 = FloatVector.zero(F), ob0 = FloatVector.zero(F), ob1 = FloatVector.zero(F);
            int row = first * headDim + d0;
            int j = 0;
            for (; j + 2 <= n; j += 2, row += 2 * headDim) {
                FloatVector v0 = FloatVector.fromArray(F, values, row);
                FloatVector v1 = FloatVector.fromArray(F, values, row + lanes);
                FloatVector w0 = FloatVector.fromArray(F, values, row + headDim);
                FloatVector w1 = FloatVector.fromArray(F, values, row + headDim + lanes);
                FloatVector pa = FloatVector.broadcast(F, pA[j]);
                FloatVector pb = FloatVector.broadcast(F, pB[j]);
                FloatVector qa = FloatVector.broadcast(F, pA[j + 1]);
                FloatVector qb = FloatVector.broadcast(F, pB[j + 1]);
                ea0 = pa.fma(v0, ea0); ea1 = pa.fma(v1, ea1);
                eb0 = pb.fma(v0, eb0); eb1 = pb.fma(v1, eb1);
                oa0 = qa.fma(w0, oa0); oa1 = qa.fma(w1, oa1);
                ob0 = qb.fma(w0, ob0); ob1 = qb.fma(w1, ob1);
            }
            if (j < n) {
                FloatVector v0 = FloatVector.fromArray(F, values, row);
                FloatVector v1 = FloatVector.fromArray(F, values, row + lanes);
                FloatVector pa = FloatVector.broadcast(F, pA[j]);
                FloatVector pb = FloatVector.broadcast(F, pB[j]);
                ea0 = pa.fma(v0, ea0); ea1 = pa.fma(v1, ea1);
                eb0 = pb.fma(v0, eb0); eb1 = pb.fma(v1, eb1);
            }
            addInto(out, oA + d0, ea0.add(oa0));
            addInto(out, oA + d0 + lanes, ea1.add(oa1));
            addInto(out, oB + d0, eb0.add(ob0));
            addInto(out, oB + d0 + lanes, eb1.add(ob1));
        }
    }

    private static void addInto(float[] out, int off, FloatVector v) {
        FloatVector.fromArray(F, out, off).add(v).intoArray(out, off);
    }
}
