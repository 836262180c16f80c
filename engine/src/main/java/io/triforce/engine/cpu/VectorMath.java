package io.triforce.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * SIMD building blocks of the CPU kernels. Every reduction here runs in one fixed order
 * (lane-wise adds, then the lanes summed left to right) and {@link #exp} is built from
 * add/mul/fma only, so a result never depends on the JIT tier that computed it: that is what
 * makes a block forward bit-identical to feeding tokens one by one.
 */
public final class VectorMath {

    public static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    public static final int LANES = F.length();
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;

    private VectorMath() {
    }

    private static final ThreadLocal<float[]> LANE_SCRATCH = ThreadLocal.withInitial(() -> new float[LANES]);

    /** Sum of the lanes, left to right (the same in the interpreter and in compiled code). */
    public static float sumLanes(FloatVector v) {
        float[] scratch = LANE_SCRATCH.get();
        v.intoArray(scratch, 0);
        float s = 0f;
        for (int i = 0; i < LANES; i++) {
            s += scratch[i];
        }
        return s;
    }

    /** a[aOff..aOff+n) . b[bOff..bOff+n), four interleaved accumulators combined in a fixed order. */
    public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        FloatVector acc2 = FloatVector.zero(F);
        FloatVector acc3 = FloatVector.zero(F);
        int i = 0;
        for (; i + 4 * LANES <= n; i += 4 * LANES) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
            acc1 = FloatVector.fromArray(F, a, aOff + i + LANES).fma(FloatVector.fromArray(F, b, bOff + i + LANES), acc1);
            acc2 = FloatVector.fromArray(F, a, aOff + i + 2 * LANES).fma(FloatVector.fromArray(F, b, bOff + i + 2 * LANES), acc2);
            acc3 = FloatVector.fromArray(F, a, aOff + i + 3 * LANES).fma(FloatVector.fromArray(F, b, bOff + i + 3 * LANES), acc3);
        }
        for (; i + LANES <= n; i += LANES) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
        }
        float s = sumLanes(acc0.add(acc1).add(acc2.add(acc3)));
        for (; i < n; i++) {
            s = Math.fma(a[aOff + i], b[bOff + i], s);
        }
        return s;
    }

    /** Sum of squares of x[off..off+n). */
    public static float sumOfSquares(float[] x, int off, int n) {
        return dot(x, off, x, off, n);
    }

    /** y[yOff..] += a * x[xOff..], n elements. */
    public static void axpy(float a, float[] x, int xOff, float[] y, int yOff, int n) {
        FloatVector av = FloatVector.broadcast(F, a);
        int i = 0;
        for (; i + LANES <= n; i += LANES) {
            av.fma(FloatVector.fromArray(F, x, xOff + i), FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] = Math.fma(a, x[xOff + i], y[yOff + i]);
        }
    }

    /** x[off..off+n) *= a. */
    public static void scale(float[] x, int off, int n, float a) {
        int i = 0;
        for (; i + LANES <= n; i += LANES) {
            FloatVector.fromArray(F, x, off + i).mul(a).intoArray(x, off + i);
        }
        for (; i < n; i++) {
            x[off + i] *= a;
        }
    }

    /** y[off..off+n) += x[off..off+n). */
    public static void add(float[] x, float[] y, int off, int n) {
        int i = 0;
        for (; i + LANES <= n; i += LANES) {
            FloatVector.fromArray(F, y, off + i).add(FloatVector.fromArray(F, x, off + i)).intoArray(y, off + i);
        }
        for (; i < n; i++) {
            y[off + i] += x[off + i];
        }
    }

    /** Maximum of x[off..off+n). */
    public static float max(float[] x, int off, int n) {
        FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (; i + LANES <= n; i += LANES) {
            m = m.max(FloatVector.fromArray(F, x, off + i));
        }
        float r = m.reduceLanes(VectorOperators.MAX); // max is exact in any order
        for (; i < n; i++) {
            r = Math.max(r, x[off + i]);
        }
        return r;
    }

    /** x[i] = exp(x[i] - shift) for i in [off, off+n); returns their sum (fixed order). */
    public static float expShiftedInPlace(float[] x, int off, int n, float shift) {
        FloatVector sum = FloatVector.zero(F);
        int i = 0;
        for (; i + LANES <= n; i += LANES) {
            FloatVector e = exp(FloatVector.fromArray(F, x, off + i).sub(shift));
            e.intoArray(x, off + i);
            sum = sum.add(e);
        }
        float s = sumLanes(sum);
        for (; i < n; i++) {
            float e = exp(x[off + i] - shift);
            x[off + i] = e;
            s += e;
        }
        return s;
    }

    /** gate[i] = silu(gate[i]) * up[i] = gate / (1 + exp(-gate)) * up. */
    public static void swiglu(float[] gate, float[] up, int off, int n) {
        int i = 0;
        for (; i + LANES <= n; i += LANES) {
            FloatVector g = FloatVector.fromArray(F, gate, off + i);
            FloatVector sig = exp(g.neg()).add(1f);
            g.div(sig).mul(FloatVector.fromArray(F, up, off + i)).intoArray(gate, off + i);
        }
        for (; i < n; i++) {
            float g = gate[off + i];
            gate[off + i] = g / (1f + exp(-g)) * up[off + i];
        }
    }

    // exp(x) = 2^k * e^r, k = round(x / ln2), r = x - k ln2 (Cody-Waite, two parts),
    // e^r by a degree-6 polynomial on |r| <= ln2/2: relative error ~1e-7.
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float ROUND = 12582912f; // 1.5 * 2^23: adding and subtracting it rounds to an integer
    private static final float EXP_MIN = -87.3f;
    private static final float EXP_MAX = 88.7f;
    private static final float P1 = 1.0f, P2 = 0.5f, P3 = 1.66666672e-1f, P4 = 4.16666567e-2f,
            P5 = 8.33338592e-3f, P6 = 1.38865414e-3f;

    /** e^x for every lane; 0 below -87.3, +inf above 88.7. */
    public static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(EXP_MIN).min(EXP_MAX);
        FloatVector k = xc.mul(LOG2E).add(ROUND).sub(ROUND); // round to nearest
        FloatVector r = k.fma(FloatVector.broadcast(F, -LN2_HI), xc);
        r = k.fma(FloatVector.broadcast(F, -LN2_LO), r);
        FloatVector p = FloatVector.broadcast(F, P6);
        p = p.fma(r, FloatVector.broadcast(F, P5));
        p = p.fma(r, FloatVector.broadcast(F, P4));
        p = p.fma(r, FloatVector.broadcast(F, P3));
        p = p.fma(r, FloatVector.broadcast(F, P2));
        p = p.fma(r, FloatVector.broadcast(F, P1));
        p = p.fma(r, FloatVector.broadcast(F, 1f));
        IntVector bits = ((IntVector) k.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        FloatVector twoK = bits.reinterpretAsFloats();
        FloatVector result = p.mul(twoK);
        return result.blend(0f, x.lt(EXP_MIN)).blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, EXP_MAX));
    }

    /** Scalar twin of {@link #exp(FloatVector)} with the same operations, for loop tails. */
    public static float exp(float x) {
        if (x < EXP_MIN) {
            return 0f;
        }
        if (x > EXP_MAX) {
            return Float.POSITIVE_INFINITY;
        }
        float k = (x * LOG2E + ROUND) - ROUND;
        float r = Math.fma(k, -LN2_HI, x);
        r = Math.fma(k, -LN2_LO, r);
        float p = P6;
        p = Math.fma(p, r, P5);
        p = Math.fma(p, r, P4);
        p = Math.fma(p, r, P3);
        p = Math.fma(p, r, P2);
        p = Math.fma(p, r, P1);
        p = Math.fma(p, r, 1f);
        return p * Float.intBitsToFloat(((int) k + 127) << 23);
    }
}
