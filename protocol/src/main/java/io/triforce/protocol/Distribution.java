package io.triforce.protocol;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A probability vector on the wire, as little-endian binary (base64 in JSON): sparse
 * ({@code ids} int32 + {@code probs} float32 of the support, exact) when the support is at most
 * {@link #SPARSE_LIMIT} tokens, dense ({@code ids} null, all {@code vocab} floats) otherwise.
 */
public record Distribution(int vocab, byte[] ids, byte[] probs) {

    public static final int SPARSE_LIMIT = 1024;

    public static Distribution of(float[] p) {
        int support = 0;
        for (float x : p) {
            if (x > 0) {
                support++;
            }
        }
        if (support > SPARSE_LIMIT) {
            ByteBuffer probs = buffer(p.length);
            probs.asFloatBuffer().put(p);
            return new Distribution(p.length, null, probs.array());
        }
        ByteBuffer ids = buffer(support);
        ByteBuffer probs = buffer(support);
        for (int i = 0; i < p.length; i++) {
            if (p[i] > 0) {
                ids.putInt(i);
                probs.putFloat(p[i]);
            }
        }
        return new Distribution(p.length, ids.array(), probs.array());
    }

    public float[] dense() {
        float[] p = new float[vocab];
        var probs = ByteBuffer.wrap(this.probs).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        if (ids == null) {
            probs.get(p);
            return p;
        }
        var ids = ByteBuffer.wrap(this.ids).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer();
        while (ids.hasRemaining()) {
            p[ids.get()] = probs.get();
        }
        return p;
    }

    private static ByteBuffer buffer(int values) {
        return ByteBuffer.allocate(4 * values).order(ByteOrder.LITTLE_ENDIAN);
    }
}
