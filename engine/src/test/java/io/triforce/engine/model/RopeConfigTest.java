package io.triforce.engine.model;

import org.junit.jupiter.api.Test;

import static io.triforce.engine.testing.ErrorMessages.assertMentions;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The RoPE formulas against independent computations: each expected value is derived here from
 * the published formula (transformers' modeling_rope_utils), and a few are pinned to numbers
 * computed by a NumPy transcription of that code.
 */
class RopeConfigTest {

    private static final int HEAD_DIM = 128;

    /** theta^(-2i/d), written as an exponential so it does not share the implementation's expression. */
    private static double unscaled(double theta, int i, int headDim) {
        return Math.exp(-Math.log(theta) * (2.0 * i) / headDim);
    }

    private static void assertClose(double expected, float actual, String what) {
        assertEquals(expected, actual, Math.abs(expected) * 1e-6, what);
    }

    @Test
    void defaultRope() {
        RopeConfig rope = RopeConfig.unscaled(10_000);
        float[] inv = rope.inverseFrequencies(64);
        assertEquals(32, inv.length);
        for (int i = 0; i < inv.length; i++) {
            assertClose(unscaled(10_000, i, 64), inv[i], "pair " + i);
        }
        assertEquals(1f, inv[0]);
        assertEquals(1f, rope.attentionScaling());
        assertEquals(rope, new RopeConfig("default", 10_000));
    }

    @Test
    void linearDividesEveryFrequencyByTheFactor() {
        float[] inv = RopeConfig.linear(10_000, 4).inverseFrequencies(HEAD_DIM);
        for (int i = 0; i < inv.length; i++) {
            assertClose(unscaled(10_000, i, HEAD_DIM) / 4, inv[i], "pair " + i);
        }
        assertEquals(1f, RopeConfig.linear(10_000, 4).attentionScaling());
    }

    @Test
    void llama3KeepsHighFrequenciesDividesLowOnesAndBlendsBetween() {
        double theta = 500_000;
        double factor = 8;
        double low = 1;
        double high = 4;
        int original = 8192;
        RopeConfig rope = RopeConfig.llama3(theta, factor, low, high, original);
        float[] inv = rope.inverseFrequencies(HEAD_DIM);
        int highFreq = 0;
        int lowFreq = 0;
        int medium = 0;
        for (int i = 0; i < inv.length; i++) {
            double f = unscaled(theta, i, HEAD_DIM);
            double wavelength = 2 * Math.PI / f;
            if (wavelength < original / high) {
                highFreq++;
                assertClose(f, inv[i], "high-frequency pair " + i + " unchanged");
            } else if (wavelength > original / low) {
                lowFreq++;
                assertClose(f / factor, inv[i], "low-frequency pair " + i + " divided by factor");
            } else {
                medium++;
                double smooth = (original / wavelength - low) / (high - low);
                assertTrue(smooth >= 0 && smooth <= 1);
                assertClose((1 - smooth) * f / factor + smooth * f, inv[i], "medium pair " + i + " blended");
            }
        }
        assertTrue(highFreq > 0 && lowFreq > 0 && medium > 0, highFreq + " / " + medium + " / " + lowFreq);
        assertClose(1.0, inv[0], "pinned");
        assertClose(0.0013718935661017895, inv[30], "pinned (medium)");
        assertClose(3.068925877869333e-07, inv[63], "pinned (low)");
        assertEquals(1f, rope.attentionScaling());
    }

    @Test
    void yarnRampsFromExtrapolationToInterpolation() {
        double theta = 10_000;
        double factor = 4;
        int original = 4096;
        RopeConfig rope = RopeConfig.yarn(theta, factor, original, 32, 1, true,
                RopeConfig.yarnAttentionFactor(factor, 0, 0));
        // correction dims: d ln(L / (2 pi beta)) / (2 ln theta) = 20.94 for beta 32, 45.03 for beta 1
        double lowDim = HEAD_DIM * Math.log(original / (32 * 2 * Math.PI)) / (2 * Math.log(theta));
        double highDim = HEAD_DIM * Math.log(original / (1 * 2 * Math.PI)) / (2 * Math.log(theta));
        assertEquals(20, Math.floor(lowDim));
        assertEquals(46, Math.ceil(highDim));
        float[] inv = rope.inverseFrequencies(HEAD_DIM);
        for (int i = 0; i < inv.length; i++) {
            double f = unscaled(theta, i, HEAD_DIM);
            double ramp = Math.min(1, Math.max(0, (i - 20) / 26.0));
            assertClose(f * (1 - ramp) + f / factor * ramp, inv[i], "pair " + i);
        }
        assertClose(unscaled(theta, 20, HEAD_DIM), inv[20], "last extrapolated pair unchanged");
        assertClose(unscaled(theta, 46, HEAD_DIM) / factor, inv[46], "first interpolated pair divided");
        assertClose(0.047292038798332214, inv[21], "pinned");
        assertClose(0.009488517418503761, inv[30], "pinned");
        assertClose(2.8869550078525208e-05, inv[63], "pinned");
        assertClose(0.1 * Math.log(4) + 1, rope.attentionScaling(), "0.1 ln(factor) + 1");
    }

    @Test
    void yarnWithoutTruncationUsesTheFractionalRange() {
        RopeConfig rope = RopeConfig.yarn(10_000, 4, 4096, 32, 1, false, 1);
        double lowDim = 20.94448162063605;
        double highDim = 45.02688127375455;
        float[] inv = rope.inverseFrequencies(HEAD_DIM);
        for (int i = 0; i < inv.length; i++) {
            double f = unscaled(10_000, i, HEAD_DIM);
            double ramp = Math.min(1, Math.max(0, (i - lowDim) / (highDim - lowDim)));
            assertClose(f * (1 - ramp) + f / 4 * ramp, inv[i], "pair " + i);
        }
        assertClose(0.048612553626298904, inv[21], "pinned");
        assertClose(0.0003862708108499646, inv[45], "pinned");
        assertEquals(1f, rope.attentionScaling());
    }

    @Test
    void yarnAttentionFactor() {
        assertEquals(0.1 * Math.log(40) + 1, RopeConfig.yarnAttentionFactor(40, 0, 0), 1e-15);
        assertEquals((0.1 * Math.log(40) + 1) / (0.05 * Math.log(40) + 1),
                RopeConfig.yarnAttentionFactor(40, 1, 0.5), 1e-15);
        assertEquals(1.0, RopeConfig.yarnAttentionFactor(40, 0.707, 0.707), 1e-15,
                "DeepSeek: mscale == mscale_all_dim");
        assertEquals(0.1 * Math.log(40) + 1, RopeConfig.yarnAttentionFactor(40, 1, 0), 1e-15,
                "mscale_all_dim 0 is absent");
        assertEquals(1.0, RopeConfig.yarnAttentionFactor(1, 0, 0), "no scaling at factor <= 1");
    }

    @Test
    void rejectsUnknownTypesAndMissingParameters() {
        assertMentions(assertThrows(IllegalArgumentException.class, () -> new RopeConfig("dynamic", 10_000)),
                "'dynamic'");
        assertMentions(assertThrows(IllegalArgumentException.class,
                () -> new RopeConfig("ntk", 1e4, 1, 0, 0, 0, 0, 0, true, 1)), "unsupported rope type 'ntk'",
                "default, linear, llama3, yarn");
        assertMentions(assertThrows(IllegalArgumentException.class, () -> RopeConfig.llama3(1e4, 8, 4, 1, 8192)),
                "low_freq_factor");
        assertMentions(assertThrows(IllegalArgumentException.class, () -> RopeConfig.linear(1e4, 0)), "factor");
    }
}
