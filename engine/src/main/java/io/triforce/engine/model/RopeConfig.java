package io.triforce.engine.model;

import java.util.Set;

/**
 * Rotary position embedding parameters (config.json {@code rope_theta} / {@code rope_parameters}
 * / {@code rope_scaling}), with the frequency formulas of Hugging Face transformers'
 * {@code modeling_rope_utils} for rope types {@value #DEFAULT}, {@value #LINEAR},
 * {@value #LLAMA3} and {@value #YARN}. Values are computed in double and rounded to float once.
 * Components a type does not use hold neutral values (factor 1, the rest 0; attentionFactor 1,
 * truncate true); the factories set them.
 *
 * @param type                 rope_type
 * @param theta                rope_theta, the base wavelength
 * @param factor               scaling factor (linear, llama3, yarn); 1 for default
 * @param lowFreqFactor        llama3 low_freq_factor
 * @param highFreqFactor       llama3 high_freq_factor
 * @param originalMaxPositions original_max_position_embeddings (llama3, yarn)
 * @param betaFast             yarn beta_fast (32 in the paper)
 * @param betaSlow             yarn beta_slow (1 in the paper)
 * @param truncate             yarn truncate: floor/ceil the correction range
 * @param attentionFactor      yarn attention_factor, resolved (see {@link #yarnAttentionFactor}); 1 otherwise
 */
public record RopeConfig(String type, double theta, double factor, double lowFreqFactor, double highFreqFactor,
                         int originalMaxPositions, double betaFast, double betaSlow, boolean truncate,
                         double attentionFactor) {

    public static final String DEFAULT = "default";
    public static final String LINEAR = "linear";
    public static final String LLAMA3 = "llama3";
    public static final String YARN = "yarn";
    public static final Set<String> TYPES = Set.of(DEFAULT, LINEAR, LLAMA3, YARN);

    public RopeConfig {
        if (!TYPES.contains(type)) {
            throw new IllegalArgumentException("unsupported rope type '" + type
                    + "' (supported: default, linear, llama3, yarn)");
        }
        require(theta > 0, "rope_theta must be positive, got " + theta);
        require(factor > 0, type + " rope: factor must be positive, got " + factor);
        require(attentionFactor > 0, type + " rope: attention_factor must be positive, got " + attentionFactor);
        if (type.equals(LLAMA3) || type.equals(YARN)) {
            require(originalMaxPositions > 0,
                    type + " rope: original_max_position_embeddings must be positive, got " + originalMaxPositions);
        }
        if (type.equals(LLAMA3)) {
            require(lowFreqFactor > 0 && highFreqFactor > lowFreqFactor, "llama3 rope: need 0 < low_freq_factor"
                    + " < high_freq_factor, got " + lowFreqFactor + " and " + highFreqFactor);
        }
        if (type.equals(YARN)) {
            require(betaFast > 0 && betaSlow > 0, "yarn rope: beta_fast and beta_slow must be positive, got "
                    + betaFast + " and " + betaSlow);
        }
    }

    /** Unscaled RoPE; {@code type} must be {@value #DEFAULT} (the other types need their parameters). */
    public RopeConfig(String type, double theta) {
        this(requireDefault(type), theta, 1, 0, 0, 0, 0, 0, true, 1);
    }

    public static RopeConfig unscaled(double theta) {
        return new RopeConfig(DEFAULT, theta);
    }

    /** Position interpolation: every inverse frequency divided by {@code factor}. */
    public static RopeConfig linear(double theta, double factor) {
        return new RopeConfig(LINEAR, theta, factor, 0, 0, 0, 0, 0, true, 1);
    }

    /** Llama 3.1 scaling (e.g. factor 8, low 1, high 4, original 8192). */
    public static RopeConfig llama3(double theta, double factor, double lowFreqFactor, double highFreqFactor,
                                    int originalMaxPositions) {
        return new RopeConfig(LLAMA3, theta, factor, lowFreqFactor, highFreqFactor, originalMaxPositions,
                0, 0, true, 1);
    }

    /** YaRN scaling; {@code attentionFactor} as resolved by {@link #yarnAttentionFactor} unless given. */
    public static RopeConfig yarn(double theta, double factor, int originalMaxPositions, double betaFast,
                                  double betaSlow, boolean truncate, double attentionFactor) {
        return new RopeConfig(YARN, theta, factor, 0, 0, originalMaxPositions, betaFast, betaSlow, truncate,
                attentionFactor);
    }

    /**
     * YaRN's default attention factor: {@code mscale(factor, mscale) / mscale(factor, mscaleAllDim)}
     * when both are non-zero, else {@code mscale(factor, 1) = 0.1 ln(factor) + 1}, where
     * {@code mscale(s, m) = s <= 1 ? 1 : 0.1 m ln(s) + 1}. Pass 0 for an absent mscale.
     */
    public static double yarnAttentionFactor(double factor, double mscale, double mscaleAllDim) {
        if (mscale != 0 && mscaleAllDim != 0) {
            return mscale(factor, mscale) / mscale(factor, mscaleAllDim);
        }
        return mscale(factor, 1);
    }

    private static double mscale(double scale, double m) {
        return scale <= 1 ? 1.0 : 0.1 * m * Math.log(scale) + 1.0;
    }

    /**
     * Inverse frequency of each rotated pair (i, i + headDim/2), i in [0, headDim/2): the default
     * {@code 1 / theta^(2i / headDim)}, scaled as the rope type says.
     */
    public float[] inverseFrequencies(int headDim) {
        int half = headDim / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++) {
            inv[i] = 1.0 / Math.pow(theta, (2.0 * i) / headDim);
        }
        switch (type) {
            case LINEAR -> {
                for (int i = 0; i < half; i++) {
                    inv[i] /= factor;
                }
            }
            case LLAMA3 -> llama3Scale(inv);
            case YARN -> yarnScale(inv, headDim);
            default -> {
            }
        }
        float[] out = new float[half];
        for (int i = 0; i < half; i++) {
            out[i] = (float) inv[i];
        }
        return out;
    }

    /** Factor applied to cos and sin: yarn's attention factor, 1 for every other type. */
    public float attentionScaling() {
        return (float) attentionFactor;
    }

    /**
     * Wavelengths shorter than original/high_freq_factor keep their frequency, longer than
     * original/low_freq_factor are divided by factor, and those between blend the two with
     * {@code smooth = (original / wavelength - low) / (high - low)}.
     */
    private void llama3Scale(double[] inv) {
        double lowFreqWavelength = originalMaxPositions / lowFreqFactor;
        double highFreqWavelength = originalMaxPositions / highFreqFactor;
        for (int i = 0; i < inv.length; i++) {
            double wavelength = 2 * Math.PI / inv[i];
            if (wavelength > lowFreqWavelength) {
                inv[i] /= factor;
            } else if (wavelength >= highFreqWavelength) {
                double smooth = (originalMaxPositions / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                inv[i] = (1 - smooth) * inv[i] / factor + smooth * inv[i];
            }
        }
    }

    /**
     * Pairs below the correction range [low, high] (fast rotations) keep their frequency
     * (extrapolation), pairs above it are divided by factor (interpolation), with a linear ramp
     * between.
     */
    private void yarnScale(double[] inv, int headDim) {
        double low = correctionDim(betaFast, headDim);
        double high = correctionDim(betaSlow, headDim);
        if (truncate) {
            low = Math.floor(low);
            high = Math.ceil(high);
        }
        low = Math.max(low, 0);
        high = Math.min(high, headDim - 1);
        if (low == high) {
            high += 0.001;
        }
        for (int i = 0; i < inv.length; i++) {
            double ramp = Math.clamp((i - low) / (high - low), 0.0, 1.0);
            double extrapolation = 1 - ramp;
            double posFreq = Math.pow(theta, (2.0 * i) / headDim);
            inv[i] = 1.0 / (factor * posFreq) * (1 - extrapolation) + 1.0 / posFreq * extrapolation;
        }
    }

    /** The dimension whose wavelength fits {@code rotations} times into the original context. */
    private double correctionDim(double rotations, int headDim) {
        return headDim * Math.log(originalMaxPositions / (rotations * 2 * Math.PI)) / (2 * Math.log(theta));
    }

    private static String requireDefault(String type) {
        require(DEFAULT.equals(type), "rope type '" + type + "' needs its scaling parameters");
        return type;
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
