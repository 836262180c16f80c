package io.triforce.engine.cpu;

import io.triforce.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/** Widens rows of a bf16 / f16 / f32 weight matrix (native memory) to fp32 scratch rows. */
final class WeightRows {

    private static final VectorSpecies<Float> F = VectorMath.F;
    private static final int LANES = F.length();
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(LANES * 16));
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private WeightRows() {
    }

    /** out[outOff .. outOff+cols) = row r of w as fp32. */
    static void widen(Tensor w, int r, float[] out, int outOff) {
        int cols = w.cols();
        MemorySegment seg = w.data();
        long base = (long) r * cols;
        switch (w.dtype()) {
            case BF16 -> widenBf16(seg, base * 2, out, outOff, cols);
            case F32 -> widenF32(seg, base * 4, out, outOff, cols);
            case F16 -> {
                for (int j = 0; j < cols; j++) {
                    out[outOff + j] = Float.float16ToFloat(seg.get(SHORT, (base + j) * 2));
                }
            }
        }
    }

    private static void widenBf16(MemorySegment seg, long byteOff, float[] out, int outOff, int cols) {
        int j = 0;
        for (; j + LANES <= cols; j += LANES) {
            ShortVector s = ShortVector.fromMemorySegment(S, seg, byteOff + 2L * j, ByteOrder.LITTLE_ENDIAN);
            IntVector wide = (IntVector) s.convertShape(VectorOperators.S2I, I, 0);
            wide.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(out, outOff + j);
        }
        for (; j < cols; j++) {
            out[outOff + j] = Float.intBitsToFloat((seg.get(SHORT, byteOff + 2L * j) & 0xffff) << 16);
        }
    }

    private static void widenF32(MemorySegment seg, long byteOff, float[] out, int outOff, int cols) {
        int j = 0;
        for (; j + LANES <= cols; j += LANES) {
            FloatVector.fromMemorySegment(F, seg, byteOff + 4L * j, ByteOrder.LITTLE_ENDIAN).intoArray(out, outOff + j);
        }
        for (; j < cols; j++) {
            out[outOff + j] = seg.get(FLOAT, byteOff + 4L * j);
        }
    }
}
