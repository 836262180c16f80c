package io.triforce.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a Hugging Face {@code config.json} of a Llama-family model into a {@link ModelConfig}.
 * Accepts {@code LlamaForCausalLM}, and {@code MistralForCausalLM} when no sliding window is
 * set (it is then the same network). Rejects at load, naming the field, everything the engine
 * does not compute: other architectures, sliding windows, {@code hidden_act} other than silu,
 * attention or MLP biases, partial rotary embeddings and rope types other than default, linear,
 * llama3 and yarn (see {@link RopeConfigReader}).
 *
 * <p>Defaults for absent (or null) fields follow transformers' LlamaConfig: head_dim =
 * hidden_size / num_attention_heads, num_key_value_heads = num_attention_heads, rms_norm_eps =
 * 1e-6, max_position_embeddings = 2048, hidden_act = silu, tie_word_embeddings = false; an
 * absent bos_token_id is -1 and an absent eos_token_id an empty list.
 */
public final class ConfigReader {

    private static final List<String> ARCHITECTURES = List.of("LlamaForCausalLM", "MistralForCausalLM");

    private ConfigReader() {
    }

    /**
     * @throws CheckpointException if the file is missing, not JSON, lacks a required field or
     *                             asks for something unsupported (the message names file and field)
     */
    public static ModelConfig read(Path configJson) {
        ConfigFields f = new ConfigFields(configJson, "", parse(configJson));
        checkArchitecture(f);
        checkSupported(f);
        int dim = positive(f, "hidden_size", f.requiredInt("hidden_size"));
        int nHeads = positive(f, "num_attention_heads", f.requiredInt("num_attention_heads"));
        int nKvHeads = positive(f, "num_key_value_heads", f.optionalInt("num_key_value_heads", nHeads));
        if (nHeads % nKvHeads != 0) {
            throw f.error("num_key_value_heads", "(" + nKvHeads + ") must divide num_attention_heads (" + nHeads + ")");
        }
        if (!f.has("head_dim") && dim % nHeads != 0) {
            throw f.error("hidden_size", "(" + dim + ") is not a multiple of num_attention_heads (" + nHeads
                    + ") and no head_dim is given");
        }
        int headDim = positive(f, "head_dim", f.optionalInt("head_dim", dim / nHeads));
        if (headDim % 2 != 0) {
            throw f.error("head_dim", "must be even for rotary embeddings, got " + headDim);
        }
        int maxPositions = positive(f, "max_position_embeddings", f.optionalInt("max_position_embeddings", 2048));
        double normEps = f.optionalDouble("rms_norm_eps", 1e-6);
        if (!(normEps > 0)) {
            throw f.error("rms_norm_eps", "must be positive, got " + normEps);
        }
        return new ModelConfig(dim,
                positive(f, "intermediate_size", f.requiredInt("intermediate_size")),
                positive(f, "num_hidden_layers", f.requiredInt("num_hidden_layers")),
                nHeads, nKvHeads, headDim,
                positive(f, "vocab_size", f.requiredInt("vocab_size")),
                (float) normEps, maxPositions,
                f.optionalBoolean("tie_word_embeddings", false),
                RopeConfigReader.read(f, maxPositions),
                f.optionalInt("bos_token_id", -1),
                eosTokenIds(f));
    }

    private static JsonNode parse(Path configJson) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readAllBytes(configJson));
        } catch (NoSuchFileException e) {
            throw new CheckpointException(configJson + ": no such file", e);
        } catch (IOException e) {
            throw new CheckpointException(configJson + ": cannot read config: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new CheckpointException(configJson + ": not a JSON object");
        }
        return root;
    }

    private static void checkArchitecture(ConfigFields f) {
        List<String> architectures = new ArrayList<>();
        JsonNode list = f.get("architectures");
        if (list != null) {
            list.forEach(a -> architectures.add(a.asText()));
        } else {
            switch (f.optionalString("model_type", "")) {
                case "llama" -> architectures.add("LlamaForCausalLM");
                case "mistral" -> architectures.add("MistralForCausalLM");
                default -> throw new CheckpointException(f.file() + ": unsupported model: no \"architectures\" and"
                        + " model_type " + f.get("model_type") + " (supported: " + ARCHITECTURES + ")");
            }
        }
        if (architectures.isEmpty() || !ARCHITECTURES.containsAll(architectures)) {
            throw new CheckpointException(f.file() + ": unsupported architecture " + architectures
                    + " (supported: " + ARCHITECTURES + ")");
        }
        if (f.has("sliding_window")) {
            throw f.error("sliding_window", "= " + f.get("sliding_window")
                    + ": sliding-window attention is unsupported");
        }
    }

    private static void checkSupported(ConfigFields f) {
        String act = f.optionalString("hidden_act", "silu");
        if (!act.equals("silu")) {
            throw f.error("hidden_act", "= \"" + act + "\" is unsupported (only silu)");
        }
        for (String bias : List.of("attention_bias", "mlp_bias")) {
            if (f.optionalBoolean(bias, false)) {
                throw f.error(bias, "= true is unsupported (no bias tensors)");
            }
        }
    }

    private static int[] eosTokenIds(ConfigFields f) {
        JsonNode eos = f.get("eos_token_id");
        if (eos == null) {
            return new int[0];
        }
        if (!eos.isArray()) {
            return new int[] {f.toInt("eos_token_id", eos)};
        }
        int[] ids = new int[eos.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = f.toInt("eos_token_id", eos.get(i));
        }
        return ids;
    }

    private static int positive(ConfigFields f, String key, int value) {
        if (value <= 0) {
            throw f.error(key, "must be positive, got " + value);
        }
        return value;
    }
}
