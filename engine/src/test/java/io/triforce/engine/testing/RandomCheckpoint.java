package io.triforce.engine.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.triforce.engine.model.RopeConfig;
import io.triforce.engine.tensor.DType;
import io.triforce.engine.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * A random Llama checkpoint directory, written as Hugging Face writes one, for tests of the
 * loader, the forward pass and speculative decoding.
 *
 * <pre>{@code
 * RandomCheckpoint ckpt = RandomCheckpoint.builder()
 *         .dim(64).layers(2).heads(4).kvHeads(2).vocab(256).hiddenDim(128)
 *         .dtype(DType.BF16).tied(true).sharded(2)
 *         .rope(RopeConfig.llama3(500_000, 8, 1, 4, 64))
 *         .seed(1)
 *         .writeTo(tempDir);
 * try (LlamaCheckpoint model = CheckpointLoader.load(ckpt.dir())) { ... }
 * }</pre>
 *
 * <p>What is written: {@code config.json} (in either {@link ConfigStyle}), the weights as one
 * {@code model.safetensors} or as {@code model-0000i-of-0000n.safetensors} shards plus
 * {@code model.safetensors.index.json}, and optionally a copy of a {@code tokenizer.json}.
 * Defaults: dim 64, 2 layers, 4 heads, kvHeads = heads, headDim = dim / heads, vocab 256,
 * hiddenDim 128, F32, untied, one file, unscaled RoPE with theta 10000, max positions 2048,
 * rms_norm_eps 1e-5, bos 1, eos 2, weightScale 1, seed 0.
 *
 * <p>Values: each tensor draws from its own {@link Random} seeded by (seed, tensor name), so the
 * same seed gives the same values (before dtype rounding) whatever the dtype, sharding or other
 * tensors. Norm weights are 1 + 0.1 N(0,1); every matrix [rows][cols] (embedding and lm_head
 * included) is N(0,1) * weightScale / sqrt(cols), which keeps activations O(1) and logits of
 * standard deviation about weightScale: raise it for peakier next-token distributions.
 * {@link #values} returns what was stored, already rounded to the tensor's dtype.
 *
 * <p>For error tests the builder can also corrupt the checkpoint: {@link Builder#configField}
 * and {@link Builder#omitConfigField} edit config.json, {@link Builder#omitTensor} and
 * {@link Builder#tensorShape} edit the weights.
 */
public final class RandomCheckpoint {

    /** Where config.json keeps its RoPE settings. */
    public enum ConfigStyle {
        /** transformers 5: {@code "rope_parameters": {"rope_theta": ..., "rope_type": ..., scaling params}}. */
        ROPE_PARAMETERS,
        /** transformers 4: top-level {@code "rope_theta"}, scaling in {@code "rope_scaling"} (null when unscaled). */
        TOP_LEVEL_ROPE_THETA
    }

    private final Path dir;
    private final Map<String, float[]> values;

    private RandomCheckpoint(Path dir, Map<String, float[]> values) {
        this.dir = dir;
        this.values = values;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The checkpoint directory. */
    public Path dir() {
        return dir;
    }

    /** Names of the tensors written (no lm_head.weight when tied). */
    public Set<String> tensorNames() {
        return values.keySet();
    }

    /** The row-major values written for tensor {@code name}, exactly as they read back. */
    public float[] values(String name) {
        float[] v = values.get(name);
        if (v == null) {
            throw new IllegalArgumentException("no tensor " + name + " in " + dir);
        }
        return v.clone();
    }

    public static final class Builder {
        private int dim = 64;
        private int layers = 2;
        private int heads = 4;
        private int kvHeads;
        private int headDim;
        private int vocab = 256;
        private int hiddenDim = 128;
        private int maxPositions = 2048;
        private double normEps = 1e-5;
        private DType dtype = DType.F32;
        private final Map<String, DType> dtypes = new HashMap<>();
        private boolean tied;
        private int shards = 1;
        private RopeConfig rope = RopeConfig.unscaled(10_000);
        private ConfigStyle configStyle = ConfigStyle.ROPE_PARAMETERS;
        private int bos = 1;
        private int[] eos = {2};
        private long seed;
        private double weightScale = 1;
        private Path tokenizerJson;
        private final Map<String, Object> configFields = new LinkedHashMap<>();
        private final Set<String> omittedConfigFields = new HashSet<>();
        private final Set<String> omittedTensors = new HashSet<>();
        private final Map<String, long[]> tensorShapes = new HashMap<>();

        private Builder() {
        }

        /** hidden_size. */
        public Builder dim(int dim) {
            this.dim = dim;
            return this;
        }

        /** num_hidden_layers. */
        public Builder layers(int layers) {
            this.layers = layers;
            return this;
        }

        /** num_attention_heads. */
        public Builder heads(int heads) {
            this.heads = heads;
            return this;
        }

        /** num_key_value_heads (defaults to heads). */
        public Builder kvHeads(int kvHeads) {
            this.kvHeads = kvHeads;
            return this;
        }

        /** head_dim (defaults to dim / heads; always written to config.json). */
        public Builder headDim(int headDim) {
            this.headDim = headDim;
            return this;
        }

        /** vocab_size. */
        public Builder vocab(int vocab) {
            this.vocab = vocab;
            return this;
        }

        /** intermediate_size. */
        public Builder hiddenDim(int hiddenDim) {
            this.hiddenDim = hiddenDim;
            return this;
        }

        /** max_position_embeddings. */
        public Builder maxPositions(int maxPositions) {
            this.maxPositions = maxPositions;
            return this;
        }

        /** rms_norm_eps. */
        public Builder normEps(double normEps) {
            this.normEps = normEps;
            return this;
        }

        /** Storage type of every tensor not given one by {@link #dtype(String, DType)}. */
        public Builder dtype(DType dtype) {
            this.dtype = dtype;
            return this;
        }

        /** Storage type of one tensor (Hugging Face name), for mixed-dtype checkpoints. */
        public Builder dtype(String tensorName, DType dtype) {
            dtypes.put(tensorName, dtype);
            return this;
        }

        /** tie_word_embeddings; when true no lm_head.weight is written. */
        public Builder tied(boolean tied) {
            this.tied = tied;
            return this;
        }

        /** Number of safetensors files; 1 writes model.safetensors without an index. */
        public Builder sharded(int shards) {
            this.shards = shards;
            return this;
        }

        public Builder rope(RopeConfig rope) {
            this.rope = rope;
            return this;
        }

        public Builder configStyle(ConfigStyle configStyle) {
            this.configStyle = configStyle;
            return this;
        }

        /** bos_token_id; -1 writes null. */
        public Builder bos(int bos) {
            this.bos = bos;
            return this;
        }

        /** eos_token_id: one id is written as a number, several as a list. */
        public Builder eos(int... eos) {
            this.eos = eos.clone();
            return this;
        }

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Scale of every matrix (about the standard deviation of the logits). */
        public Builder weightScale(double weightScale) {
            this.weightScale = weightScale;
            return this;
        }

        /** A tokenizer.json to copy into the checkpoint. */
        public Builder tokenizerJson(Path tokenizerJson) {
            this.tokenizerJson = tokenizerJson;
            return this;
        }

        /** Sets (or adds) a top-level config.json field; {@code value} is any Jackson-serializable value or null. */
        public Builder configField(String key, Object value) {
            configFields.put(key, value);
            omittedConfigFields.remove(key);
            return this;
        }

        /** Leaves a top-level field out of config.json. */
        public Builder omitConfigField(String key) {
            omittedConfigFields.add(key);
            configFields.remove(key);
            return this;
        }

        /** Leaves a tensor out of the weights. */
        public Builder omitTensor(String name) {
            omittedTensors.add(name);
            return this;
        }

        /** Writes a tensor with {@code shape} instead of the shape the config implies. */
        public Builder tensorShape(String name, long... shape) {
            tensorShapes.put(name, shape.clone());
            return this;
        }

        /** Writes the checkpoint into {@code dir} (created if needed). */
        public RandomCheckpoint writeTo(Path dir) {
            try {
                Files.createDirectories(dir);
                writeConfig(dir.resolve("config.json"));
                if (tokenizerJson != null) {
                    Files.copy(tokenizerJson, dir.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Map<String, float[]> values = new LinkedHashMap<>();
            Map<String, long[]> shapes = new LinkedHashMap<>();
            shapes().forEach((name, configShape) -> {
                if (!omittedTensors.contains(name) && !(tied && name.equals("lm_head.weight"))) {
                    long[] shape = tensorShapes.getOrDefault(name, configShape);
                    shapes.put(name, shape);
                    values.put(name, randomValues(name, shape));
                }
            });
            writeWeights(dir, shapes, values);
            return new RandomCheckpoint(dir, Collections.unmodifiableMap(values));
        }

        private int effectiveKvHeads() {
            return kvHeads > 0 ? kvHeads : heads;
        }

        private int effectiveHeadDim() {
            return headDim > 0 ? headDim : dim / heads;
        }

        /** Every tensor of the model with the shape its config implies, lm_head included. */
        private Map<String, long[]> shapes() {
            long q = (long) heads * effectiveHeadDim();
            long kv = (long) effectiveKvHeads() * effectiveHeadDim();
            Map<String, long[]> s = new LinkedHashMap<>();
            s.put("model.embed_tokens.weight", new long[] {vocab, dim});
            for (int l = 0; l < layers; l++) {
                String p = "model.layers." + l + ".";
                s.put(p + "input_layernorm.weight", new long[] {dim});
                s.put(p + "self_attn.q_proj.weight", new long[] {q, dim});
                s.put(p + "self_attn.k_proj.weight", new long[] {kv, dim});
                s.put(p + "self_attn.v_proj.weight", new long[] {kv, dim});
                s.put(p + "self_attn.o_proj.weight", new long[] {dim, q});
                s.put(p + "post_attention_layernorm.weight", new long[] {dim});
                s.put(p + "mlp.gate_proj.weight", new long[] {hiddenDim, dim});
                s.put(p + "mlp.up_proj.weight", new long[] {hiddenDim, dim});
                s.put(p + "mlp.down_proj.weight", new long[] {dim, hiddenDim});
            }
            s.put("model.norm.weight", new long[] {dim});
            s.put("lm_head.weight", new long[] {vocab, dim});
            return s;
        }

        private float[] randomValues(String name, long[] shape) {
            Random random = new Random(seed * 0x9E3779B97F4A7C15L + name.hashCode());
            DType type = dtypes.getOrDefault(name, dtype);
            float[] v = new float[Math.toIntExact(Tensor.elementCount(shape))];
            boolean norm = name.endsWith("norm.weight");
            double std = norm ? 0.1 : weightScale / Math.sqrt(shape[shape.length - 1]);
            for (int i = 0; i < v.length; i++) {
                v[i] = SafetensorsWriter.roundTo(type, (float) ((norm ? 1 : 0) + std * random.nextGaussian()));
            }
            return v;
        }

        private void writeWeights(Path dir, Map<String, long[]> shapes, Map<String, float[]> values) {
            List<String> names = new ArrayList<>(shapes.keySet());
            if (shards < 1 || shards > names.size()) {
                throw new IllegalArgumentException("cannot split " + names.size() + " tensors into " + shards
                        + " shards");
            }
            if (shards == 1) {
                shard(names, shapes, values).write(dir.resolve("model.safetensors"));
                return;
            }
            Map<String, String> weightMap = new LinkedHashMap<>();
            long total = 0;
            for (int i = 0; i < shards; i++) {
                String file = SafetensorsWriter.shardName(i, shards);
                List<String> part = names.subList(i * names.size() / shards, (i + 1) * names.size() / shards);
                SafetensorsWriter writer = shard(part, shapes, values);
                writer.write(dir.resolve(file));
                total += writer.dataBytes();
                for (String name : part) {
                    weightMap.put(name, file);
                }
            }
            SafetensorsWriter.writeIndex(dir, total, weightMap);
        }

        private SafetensorsWriter shard(List<String> names, Map<String, long[]> shapes, Map<String, float[]> values) {
            SafetensorsWriter writer = new SafetensorsWriter();
            for (String name : names) {
                writer.add(name, dtypes.getOrDefault(name, dtype), shapes.get(name), values.get(name));
            }
            return writer;
        }

        private void writeConfig(Path file) {
            ObjectMapper json = new ObjectMapper();
            ObjectNode c = json.createObjectNode();
            c.putArray("architectures").add("LlamaForCausalLM");
            c.put("attention_bias", false);
            if (bos >= 0) {
                c.put("bos_token_id", bos);
            } else {
                c.putNull("bos_token_id");
            }
            if (eos.length == 1) {
                c.put("eos_token_id", eos[0]);
            } else {
                c.set("eos_token_id", json.valueToTree(eos));
            }
            c.put("head_dim", effectiveHeadDim());
            c.put("hidden_act", "silu");
            c.put("hidden_size", dim);
            c.put("intermediate_size", hiddenDim);
            c.put("max_position_embeddings", maxPositions);
            c.put("mlp_bias", false);
            c.put("model_type", "llama");
            c.put("num_attention_heads", heads);
            c.put("num_hidden_layers", layers);
            c.put("num_key_value_heads", effectiveKvHeads());
            c.put("rms_norm_eps", normEps);
            if (configStyle == ConfigStyle.ROPE_PARAMETERS) {
                c.set("rope_parameters", ropeParameters(c, true));
            } else {
                c.put("rope_theta", rope.theta());
                c.set("rope_scaling", rope.type().equals(RopeConfig.DEFAULT) ? null : ropeParameters(c, false));
            }
            c.put("tie_word_embeddings", tied);
            c.put("vocab_size", vocab);
            configFields.forEach((k, v) -> c.set(k, json.valueToTree(v)));
            omittedConfigFields.forEach(c::remove);
            writeJson(json, c, file);
        }

        private ObjectNode ropeParameters(ObjectNode factory, boolean withTheta) {
            ObjectNode p = factory.objectNode();
            if (withTheta) {
                p.put("rope_theta", rope.theta());
            }
            p.put("rope_type", rope.type());
            switch (rope.type()) {
                case RopeConfig.LINEAR -> p.put("factor", rope.factor());
                case RopeConfig.LLAMA3 -> p.put("factor", rope.factor())
                        .put("low_freq_factor", rope.lowFreqFactor())
                        .put("high_freq_factor", rope.highFreqFactor())
                        .put("original_max_position_embeddings", rope.originalMaxPositions());
                case RopeConfig.YARN -> p.put("factor", rope.factor())
                        .put("original_max_position_embeddings", rope.originalMaxPositions())
                        .put("beta_fast", rope.betaFast())
                        .put("beta_slow", rope.betaSlow())
                        .put("truncate", rope.truncate())
                        .put("attention_factor", rope.attentionFactor());
                default -> {
                }
            }
            return p;
        }

        private static void writeJson(ObjectMapper json, ObjectNode node, Path file) {
            try {
                json.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), node);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
