package io.triforce.engine.tensor;

/** Element types a checkpoint may store weights in. Compute is always fp32. */
public enum DType {
    BF16(2), F16(2), F32(4);

    public final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /** Maps a safetensors dtype string ("BF16", "F16", "F32"); anything else is unsupported. */
    public static DType fromSafetensors(String name) {
        return switch (name) {
            case "BF16" -> BF16;
            case "F16" -> F16;
            case "F32" -> F32;
            default -> throw new IllegalArgumentException(
                    "unsupported tensor dtype '" + name + "' (supported: BF16, F16, F32)");
        };
    }
}
