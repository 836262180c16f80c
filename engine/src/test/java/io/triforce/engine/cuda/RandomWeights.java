package io.triforce.engine.cuda;

import io.triforce.engine.model.LayerWeights;
import io.triforce.engine.model.LlamaWeights;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.tensor.DType;
import io.triforce.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.stream.IntStream;

/**
 * Random bf16 weights of any shape, in memory and filled in parallel (billions of values in
 * seconds, where a checkpoint on disk would take minutes): matrices uniform with variance
 * 1/cols, norms 1 +- 0.1. Tied embeddings when the config says so.
 */
public final class RandomWeights {

    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private RandomWeights() {
    }

    public static LlamaWeights create(ModelConfig c, long seed, Arena arena) {
        long[] s = {seed * 1_000_003L};
        LayerWeights[] layers = new LayerWeights[c.nLayers()];
        for (int l = 0; l < layers.length; l++) {
            String p = "model.layers." + l + ".";
            layers[l] = new LayerWeights(
                    norm(p + "input_layernorm.weight", c.dim(), ++s[0], arena),
                    matrix(p + "self_attn.q_proj.weight", c.qDim(), c.dim(), ++s[0], arena),
                    matrix(p + "self_attn.k_proj.weight", c.kvDim(), c.dim(), ++s[0], arena),
                    matrix(p + "self_attn.v_proj.weight", c.kvDim(), c.dim(), ++s[0], arena),
                    matrix(p + "self_attn.o_proj.weight", c.dim(), c.qDim(), ++s[0], arena),
                    norm(p + "post_attention_layernorm.weight", c.dim(), ++s[0], arena),
                    matrix(p + "mlp.gate_proj.weight", c.hiddenDim(), c.dim(), ++s[0], arena),
                    matrix(p + "mlp.up_proj.weight", c.hiddenDim(), c.dim(), ++s[0], arena),
                    matrix(p + "mlp.down_proj.weight", c.dim(), c.hiddenDim(), ++s[0], arena));
        }
        Tensor embedding = matrix("model.embed_tokens.weight", c.vocabSize(), c.dim(), ++s[0], arena);
        Tensor head = c.tiedEmbeddings() ? embedding : matrix("lm_head.weight", c.vocabSize(), c.dim(), ++s[0], arena);
        return new LlamaWeights(c, embedding, layers, norm("model.norm.weight", c.dim(), ++s[0], arena), head);
    }

    private static Tensor matrix(String name, int rows, int cols, long seed, Arena arena) {
        MemorySegment data = arena.allocate(2L * rows * cols, 16);
        float scale = (float) Math.sqrt(3.0 / cols);
        IntStream.range(0, rows).parallel().forEach(r -> {
            for (int j = 0; j < cols; j++) {
                long i = (long) r * cols + j;
                data.set(BF16, 2 * i, DeviceModel.toBf16(uniform(seed, i) * scale));
            }
        });
        return new Tensor(name, DType.BF16, new long[] {rows, cols}, data);
    }

    private static Tensor norm(String name, int n, long seed, Arena arena) {
        MemorySegment data = arena.allocate(2L * n, 16);
        for (int i = 0; i < n; i++) {
            data.set(BF16, 2L * i, DeviceModel.toBf16(1f + 0.1f * uniform(seed, i)));
        }
        return new Tensor(name, DType.BF16, new long[] {n}, data);
    }

    /** Uniform in [-1, 1) from (seed, index): splitmix64. */
    private static float uniform(long seed, long i) {
        long z = seed * 0x9E3779B97F4A7C15L + i * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z ^= z >>> 31;
        return (int) (z >>> 32) * 0x1p-31f;
    }
}
