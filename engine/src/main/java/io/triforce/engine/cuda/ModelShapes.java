package io.triforce.engine.cuda;

import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.model.RopeConfig;
import java.util.List;

/** Named model shapes for GPU benchmarks and tests (weights are random). */
public final class ModelShapes {

    public static final List<String> NAMES = List.of("llama2-7b", "llama31-8b", "llama32-3b", "tinyllama-1.1b",
            "llama-68m", "pycode-target", "pycode-draft");

    private ModelShapes() {
    }

    /** The shape {@code name} with its own layer count. */
    public static ModelConfig get(String name) {
        return get(name, -1);
    }

    /** The shape {@code name} cut to {@code layers} layers (all of them when negative). */
    public static ModelConfig get(String name, int layers) {
        return switch (name) {
            case "llama2-7b" -> config(4096, 11008, layers < 0 ? 32 : layers, 32, 32, 128, 32000,
                    RopeConfig.unscaled(10_000), false);
            case "llama31-8b" -> config(4096, 14336, layers < 0 ? 32 : layers, 32, 8, 128, 128256,
                    RopeConfig.llama3(500_000, 8, 1, 4, 8192), false);
            case "llama32-3b" -> config(3072, 8192, layers < 0 ? 28 : layers, 24, 8, 128, 128256,
                    RopeConfig.llama3(500_000, 32, 1, 4, 8192), true);
            case "tinyllama-1.1b" -> config(2048, 5632, layers < 0 ? 22 : layers, 32, 4, 64, 32000,
                    RopeConfig.unscaled(10_000), false);
            // the TriForce paper's level-1 draft for Llama-2-7B (JackFram/llama-68m)
            case "llama-68m" -> config(768, 3072, layers < 0 ? 2 : layers, 12, 12, 64, 32000,
                    RopeConfig.unscaled(10_000), false);
            case "pycode-target" -> config(512, 1536, layers < 0 ? 6 : layers, 8, 4, 64, 8192,
                    RopeConfig.unscaled(500_000), true);
            case "pycode-draft" -> config(256, 768, layers < 0 ? 2 : layers, 4, 2, 64, 8192,
                    RopeConfig.unscaled(500_000), true);
            default -> throw new IllegalArgumentException("unknown shape '" + name + "' (known: " + NAMES + ")");
        };
    }

    private static ModelConfig config(int dim, int hidden, int layers, int heads, int kvHeads, int headDim, int vocab,
                                      RopeConfig rope, boolean tied) {
        return new ModelConfig(dim, hidden, layers, heads, kvHeads, headDim, vocab, 1e-5f, 131072, tied, rope, 1,
                new int[] {2});
    }
}
