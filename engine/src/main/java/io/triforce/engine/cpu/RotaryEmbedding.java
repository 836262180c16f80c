package io.triforce.engine.cpu;

import io.triforce.engine.model.ModelConfig;

/**
 * RoPE as Hugging Face applies it ("rotate_half"): head dimension i pairs with i + headDim/2,
 * angle = position * inv_freq[i] in fp32, cos/sin scaled by the rope type's attention factor.
 * cos/sin rows are computed once per position, in pages, on first use.
 */
public final class RotaryEmbedding {

    private static final int PAGE = 1024;

    private final int half;
    private final float[] invFreq;   // [headDim/2]
    private final float attentionScaling;
    private volatile float[][][] pages = new float[0][][]; // [page][2 * PAGE][half]: cos rows then sin rows

    public RotaryEmbedding(ModelConfig config) {
        this.half = config.headDim() / 2;
        this.invFreq = config.rope().inverseFrequencies(config.headDim());
        this.attentionScaling = config.rope().attentionScaling();
    }

    /** Rotates {@code heads} consecutive heads of x, starting at x[off], to {@code position}. */
    public void rotate(float[] x, int off, int heads, int position) {
        float[][] page = page(position / PAGE);
        float[] cos = page[position % PAGE];
        float[] sin = page[PAGE + position % PAGE];
        int headDim = 2 * half;
        for (int h = 0; h < heads; h++) {
            int b = off + h * headDim;
            for (int i = 0; i < half; i++) {
                float x1 = x[b + i];
                float x2 = x[b + i + half];
                x[b + i] = x1 * cos[i] - x2 * sin[i];
                x[b + i + half] = x2 * cos[i] + x1 * sin[i];
            }
        }
    }

    private float[][] page(int index) {
        float[][][] p = pages;
        if (index < p.length && p[index] != null) {
            return p[index];
        }
        synchronized (this) {
            p = pages;
            if (index >= p.length) {
                p = java.util.Arrays.copyOf(p, index + 1);
            }
            if (p[index] == null) {
                p[index] = computePage(index);
            }
            pages = p;
            return p[index];
        }
    }

    private float[][] computePage(int index) {
        float[][] rows = new float[2 * PAGE][half];
        for (int r = 0; r < PAGE; r++) {
            float pos = (float) (index * PAGE + r);
            for (int i = 0; i < half; i++) {
                float angle = invFreq[i] * pos;
                rows[r][i] = (float) StrictMath.cos(angle) * attentionScaling;
                rows[PAGE + r][i] = (float) StrictMath.sin(angle) * attentionScaling;
            }
        }
        return rows;
    }
}
