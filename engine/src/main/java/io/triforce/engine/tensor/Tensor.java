package io.triforce.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A named, row-major weight tensor living in (usually memory-mapped) native memory.
 * Never copied onto the heap: kernels read {@link #data} directly.
 */
public record Tensor(String name, DType dtype, long[] shape, MemorySegment data) {

    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public Tensor {
        long expected = elementCount(shape) * dtype.bytes;
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException("tensor '" + name + "' has " + data.byteSize() + " bytes, but shape "
                    + Arrays.toString(shape) + " of " + dtype + " needs " + expected);
        }
    }

    public static long elementCount(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    public long size() {
        return elementCount(shape);
    }

    /** Number of rows of a matrix ([rows][cols]); 1 for a vector. */
    public int rows() {
        return shape.length == 1 ? 1 : (int) shape[0];
    }

    /** Number of columns of a matrix, or the length of a vector. */
    public int cols() {
        return (int) shape[shape.length - 1];
    }

    /** Element {@code i} (flat index) widened to fp32. Scalar path: loaders and tests, not kernels. */
    public float get(long i) {
        return switch (dtype) {
            case F32 -> data.get(FLOAT, i * 4);
            case BF16 -> Float.intBitsToFloat((data.get(SHORT, i * 2) & 0xffff) << 16);
            case F16 -> Float.float16ToFloat(data.get(SHORT, i * 2));
        };
    }

    /** The whole tensor widened to fp32 (small tensors only: norms, test fixtures). */
    public float[] toFloatArray() {
        float[] out = new float[Math.toIntExact(size())];
        for (int i = 0; i < out.length; i++) {
            out[i] = get(i);
        }
        return out;
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape);
    }
}
