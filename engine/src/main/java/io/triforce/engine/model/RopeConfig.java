package io.triforce.engine.model;

/**
 * Rotary position embedding parameters (rope_theta / rope_parameters / rope_scaling).
 * Only "default" is implemented so far.
 */
public record RopeConfig(String type, double theta) {

    /** inv_freq[i] = 1 / theta^(2i / headDim), i in [0, headDim/2). */
    public float[] inverseFrequencies(int headDim) {
        float[] inv = new float[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            inv[i] = (float) (1.0 / Math.pow(theta, (2.0 * i) / headDim));
        }
        return inv;
    }

    /** Factor applied to cos and sin (yarn's attention_factor); 1 otherwise. */
    public float attentionScaling() {
        return 1f;
    }
}
