package io.triforce.engine.testing;

import io.triforce.engine.model.ModelConfig;
import java.util.HashMap;
import java.util.Map;

/**
 * A deliberately plain Llama forward pass — naive loops in double, written from Hugging Face's
 * {@code modeling_llama.py} formulas, not from the engine's kernels — that serves as the oracle
 * for the CPU backend and for the caches' attention semantics.
 *
 * <ul>
 *   <li>RMSNorm: {@code x / sqrt(mean(x^2) + eps) * weight};</li>
 *   <li>RoPE "rotate_half": {@code x * cos + rotate_half(x) * sin}, {@code rotate_half(x) =
 *       cat(-x2, x1)}, {@code cos = cos(cat(freqs, freqs)) * attention_scaling}, angles
 *       {@code inv_freq * position} taken in fp32 as transformers does, inv_freq from
 *       {@link io.triforce.engine.model.RopeConfig#inverseFrequencies};</li>
 *   <li>GQA ({@code repeat_kv}): KV head g serves query heads g*group .. g*group+group-1;</li>
 *   <li>softmax(q . k / sqrt(head_dim)) v; SwiGLU {@code down(silu(gate(x)) * up(x))}.</li>
 * </ul>
 *
 * <p>Each processed position keeps its keys (before RoPE) and values per layer. Which positions
 * a query attends, and at which RoPE positions the keys are seen, is a {@link Visibility}: the
 * full cache, a StreamingLLM window, a retrieval selection.
 */
public final class ScalarLlama {

    /** What query {@code position} sees in one (layer, KV head). */
    public interface Visibility {

        /** Positions attended, in the order the cache lays them out, the query's own included. */
        int[] attended(int layer, int kvHead, int position);

        /**
         * Whether keys are rotated to their index in {@link #attended} and the query to the last
         * index (StreamingLLM) instead of both to their absolute positions.
         */
        default boolean rerotate() {
            return false;
        }
    }

    /** Every position up to the query's own, at absolute positions: the full cache. */
    public static final Visibility FULL = (layer, kvHead, position) -> range(0, position + 1);

    private final ModelConfig c;
    private final double[] embedding;
    private final double[] lmHead;
    private final double[][] attentionNorm;
    private final double[][] wq;
    private final double[][] wk;
    private final double[][] wv;
    private final double[][] wo;
    private final double[][] ffnNorm;
    private final double[][] wGate;
    private final double[][] wUp;
    private final double[][] wDown;
    private final double[] finalNorm;
    private final float[] invFreq;
    private final float attentionScaling;
    private final Map<Integer, double[][]> keys = new HashMap<>();   // position -> [layer][kvDim], pre-RoPE
    private final Map<Integer, double[][]> values = new HashMap<>(); // position -> [layer][kvDim]
    private final Map<Integer, double[][]> ropeTables = new HashMap<>(); // position -> {cos, sin}

    public ScalarLlama(RandomCheckpoint checkpoint, ModelConfig config) {
        this.c = config;
        int layers = config.nLayers();
        embedding = read(checkpoint, "model.embed_tokens.weight");
        lmHead = config.tiedEmbeddings() ? embedding : read(checkpoint, "lm_head.weight");
        attentionNorm = new double[layers][];
        wq = new double[layers][];
        wk = new double[layers][];
        wv = new double[layers][];
        wo = new double[layers][];
        ffnNorm = new double[layers][];
        wGate = new double[layers][];
        wUp = new double[layers][];
        wDown = new double[layers][];
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            attentionNorm[l] = read(checkpoint, p + "input_layernorm.weight");
            wq[l] = read(checkpoint, p + "self_attn.q_proj.weight");
            wk[l] = read(checkpoint, p + "self_attn.k_proj.weight");
            wv[l] = read(checkpoint, p + "self_attn.v_proj.weight");
            wo[l] = read(checkpoint, p + "self_attn.o_proj.weight");
            ffnNorm[l] = read(checkpoint, p + "post_attention_layernorm.weight");
            wGate[l] = read(checkpoint, p + "mlp.gate_proj.weight");
            wUp[l] = read(checkpoint, p + "mlp.up_proj.weight");
            wDown[l] = read(checkpoint, p + "mlp.down_proj.weight");
        }
        finalNorm = read(checkpoint, "model.norm.weight");
        invFreq = config.rope().inverseFrequencies(config.headDim());
        attentionScaling = config.rope().attentionScaling();
    }

    public static int[] range(int from, int to) {
        int[] r = new int[Math.max(0, to - from)];
        for (int i = 0; i < r.length; i++) {
            r[i] = from + i;
        }
        return r;
    }

    /** Runs {@code token} at {@code position} (replacing whatever was stored there) and returns its logits. */
    public double[] forward(int token, int position, Visibility visibility) {
        int dim = c.dim();
        int hd = c.headDim();
        int group = c.nHeads() / c.nKvHeads();
        double[] x = new double[dim];
        System.arraycopy(embedding, token * dim, x, 0, dim);
        double[][] myKeys = new double[c.nLayers()][];
        double[][] myValues = new double[c.nLayers()][];
        keys.put(position, myKeys);
        values.put(position, myValues);
        for (int l = 0; l < c.nLayers(); l++) {
            double[] h = rmsNorm(x, attentionNorm[l]);
            double[] q = matVec(wq[l], h, c.nHeads() * hd);
            myKeys[l] = matVec(wk[l], h, c.nKvHeads() * hd);
            myValues[l] = matVec(wv[l], h, c.nKvHeads() * hd);
            double[] att = new double[c.nHeads() * hd];
            for (int g = 0; g < c.nKvHeads(); g++) {
                int[] seen = visibility.attended(l, g, position);
                double[][] k = new double[seen.length][];
                double[][] v = new double[seen.length][];
                for (int j = 0; j < seen.length; j++) {
                    double[][] stored = keys.get(seen[j]);
                    if (stored == null || stored[l] == null) {
                        throw new IllegalStateException("position " + seen[j] + " was never processed");
                    }
                    double[] key = new double[hd];
                    System.arraycopy(stored[l], g * hd, key, 0, hd);
                    k[j] = rope(key, visibility.rerotate() ? j : seen[j]);
                    v[j] = new double[hd];
                    System.arraycopy(values.get(seen[j])[l], g * hd, v[j], 0, hd);
                }
                for (int head = g * group; head < (g + 1) * group; head++) {
                    double[] qh = new double[hd];
                    System.arraycopy(q, head * hd, qh, 0, hd);
                    qh = rope(qh, visibility.rerotate() ? seen.length - 1 : position);
                    double[] scores = new double[seen.length];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < seen.length; j++) {
                        double s = 0;
                        for (int d = 0; d < hd; d++) {
                            s += qh[d] * k[j][d];
                        }
                        scores[j] = s / Math.sqrt(hd);
                        max = Math.max(max, scores[j]);
                    }
                    double total = 0;
                    for (int j = 0; j < seen.length; j++) {
                        scores[j] = Math.exp(scores[j] - max);
                        total += scores[j];
                    }
                    for (int j = 0; j < seen.length; j++) {
                        for (int d = 0; d < hd; d++) {
                            att[head * hd + d] += scores[j] / total * v[j][d];
                        }
                    }
                }
            }
            add(x, matVec(wo[l], att, dim));
            h = rmsNorm(x, ffnNorm[l]);
            double[] gate = matVec(wGate[l], h, c.hiddenDim());
            double[] up = matVec(wUp[l], h, c.hiddenDim());
            double[] act = new double[c.hiddenDim()];
            for (int i = 0; i < act.length; i++) {
                act[i] = gate[i] / (1 + Math.exp(-gate[i])) * up[i];
            }
            add(x, matVec(wDown[l], act, dim));
        }
        return matVec(lmHead, rmsNorm(x, finalNorm), c.vocabSize());
    }

    /** HF apply_rotary_pos_emb for one head: x * cos + rotate_half(x) * sin. */
    private double[] rope(double[] x, int position) {
        int hd = x.length;
        int half = hd / 2;
        double[][] table = ropeTables.computeIfAbsent(position, p -> {
            double[] cos = new double[hd];
            double[] sin = new double[hd];
            for (int i = 0; i < hd; i++) {
                float angle = invFreq[i % half] * (float) p; // emb = cat(freqs, freqs), fp32
                cos[i] = Math.cos(angle) * attentionScaling;
                sin[i] = Math.sin(angle) * attentionScaling;
            }
            return new double[][] {cos, sin};
        });
        double[] cos = table[0];
        double[] sin = table[1];
        double[] rotated = new double[hd];
        for (int i = 0; i < hd; i++) {
            rotated[i] = i < half ? -x[i + half] : x[i - half];
        }
        double[] out = new double[hd];
        for (int i = 0; i < hd; i++) {
            out[i] = x[i] * cos[i] + rotated[i] * sin[i];
        }
        return out;
    }

    private double[] rmsNorm(double[] x, double[] weight) {
        double meanSquare = 0;
        for (double v : x) {
            meanSquare += v * v;
        }
        meanSquare /= x.length;
        double inv = 1 / Math.sqrt(meanSquare + c.normEps());
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * inv * weight[i];
        }
        return out;
    }

    /** W [rows][x.length] times x. */
    private static double[] matVec(double[] w, double[] x, int rows) {
        double[] out = new double[rows];
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int j = 0; j < x.length; j++) {
                s += w[r * x.length + j] * x[j];
            }
            out[r] = s;
        }
        return out;
    }

    private static void add(double[] x, double[] y) {
        for (int i = 0; i < x.length; i++) {
            x[i] += y[i];
        }
    }

    private static double[] read(RandomCheckpoint checkpoint, String name) {
        float[] f = checkpoint.values(name);
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    /**
     * Asserts {@code actual} is within {@code relative} of {@code expected}, relative to the
     * largest magnitude of {@code expected} (at least 1).
     */
    public static void assertClose(double[] expected, float[] actual, double relative, String what) {
        if (expected.length != actual.length) {
            throw new AssertionError(what + ": length " + actual.length + " != " + expected.length);
        }
        double scale = 1;
        for (double e : expected) {
            scale = Math.max(scale, Math.abs(e));
        }
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(expected[i] - actual[i]);
            if (!(err <= relative * scale)) {
                throw new AssertionError(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i]
                        + " (error " + err + " > " + relative * scale + ")");
            }
        }
    }

    /** Largest |a - b| / max(1, max |a|). */
    public static double maxRelativeDifference(float[] a, float[] b) {
        double scale = 1;
        double worst = 0;
        for (float v : a) {
            scale = Math.max(scale, Math.abs(v));
        }
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        return worst / scale;
    }
}
