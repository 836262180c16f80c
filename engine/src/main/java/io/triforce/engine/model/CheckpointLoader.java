package io.triforce.engine.model;

import io.triforce.engine.safetensors.SafetensorsException;
import io.triforce.engine.safetensors.SafetensorsStore;
import io.triforce.engine.tensor.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Opens a Hugging Face Llama checkpoint directory: {@code config.json} (see {@link ConfigReader})
 * and memory-mapped safetensors weights, bound to {@link LlamaWeights} by their Hugging Face
 * names and checked against the config's shapes. Tensor dtypes may differ from tensor to tensor.
 * Tensors the model does not use are ignored; so is {@code lm_head.weight} when the embeddings are
 * tied.
 */
public final class CheckpointLoader {

    private static final int MAX_REPORTED_PROBLEMS = 20;

    private CheckpointLoader() {
    }

    /**
     * @return the opened checkpoint; closing it unmaps the weights
     * @throws CheckpointException  if the directory, its config.json or a tensor is missing, the
     *                              config is unsupported or a tensor has the wrong shape
     * @throws SafetensorsException if a weights file is unreadable, truncated or malformed
     */
    public static LlamaCheckpoint load(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException("checkpoint directory " + dir + " does not exist or is not a directory");
        }
        Path configJson = dir.resolve("config.json");
        if (!Files.isRegularFile(configJson)) {
            throw new CheckpointException("no config.json in checkpoint directory " + dir
                    + " (expected " + configJson + ")");
        }
        ModelConfig config = ConfigReader.read(configJson);
        SafetensorsStore store = SafetensorsStore.open(dir);
        try {
            return new LlamaCheckpoint(dir, config, new Binder(config, store).weights(dir), store);
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
    }

    /** Looks tensors up by name, collecting every missing or misshapen one before failing. */
    private static final class Binder {
        private final ModelConfig c;
        private final SafetensorsStore store;
        private final List<String> problems = new ArrayList<>();

        Binder(ModelConfig config, SafetensorsStore store) {
            this.c = config;
            this.store = store;
        }

        LlamaWeights weights(Path dir) {
            Tensor embedding = tensor("model.embed_tokens.weight", c.vocabSize(), c.dim());
            LayerWeights[] layers = new LayerWeights[c.nLayers()];
            for (int l = 0; l < layers.length; l++) {
                String p = "model.layers." + l + ".";
                layers[l] = new LayerWeights(
                        tensor(p + "input_layernorm.weight", c.dim()),
                        tensor(p + "self_attn.q_proj.weight", c.qDim(), c.dim()),
                        tensor(p + "self_attn.k_proj.weight", c.kvDim(), c.dim()),
                        tensor(p + "self_attn.v_proj.weight", c.kvDim(), c.dim()),
                        tensor(p + "self_attn.o_proj.weight", c.dim(), c.qDim()),
                        tensor(p + "post_attention_layernorm.weight", c.dim()),
                        tensor(p + "mlp.gate_proj.weight", c.hiddenDim(), c.dim()),
                        tensor(p + "mlp.up_proj.weight", c.hiddenDim(), c.dim()),
                        tensor(p + "mlp.down_proj.weight", c.dim(), c.hiddenDim()));
            }
            Tensor finalNorm = tensor("model.norm.weight", c.dim());
            Tensor lmHead = c.tiedEmbeddings() ? embedding : tensor("lm_head.weight", c.vocabSize(), c.dim());
            if (!problems.isEmpty()) {
                throw new CheckpointException(report(dir));
            }
            return new LlamaWeights(c, embedding, layers, finalNorm, lmHead);
        }

        private Tensor tensor(String name, long... shape) {
            Tensor t = store.find(name).orElse(null);
            if (t == null) {
                problems.add("missing tensor " + name);
            } else if (!Arrays.equals(t.shape(), shape)) {
                problems.add("tensor " + name + " has shape " + Arrays.toString(t.shape()) + ", expected "
                        + Arrays.toString(shape));
            }
            return t;
        }

        private String report(Path dir) {
            StringBuilder sb = new StringBuilder("checkpoint " + dir + " does not match its config.json ("
                    + problems.size() + " problem" + (problems.size() == 1 ? "" : "s") + "):");
            problems.stream().limit(MAX_REPORTED_PROBLEMS).forEach(p -> sb.append("\n  ").append(p));
            if (problems.size() > MAX_REPORTED_PROBLEMS) {
                sb.append("\n  ... and ").append(problems.size() - MAX_REPORTED_PROBLEMS).append(" more");
            }
            if (!c.tiedEmbeddings() && store.find("lm_head.weight").isEmpty()) {
                sb.append("\n  (tie_word_embeddings is false, so lm_head.weight is required)");
            }
            return sb.toString();
        }
    }
}
