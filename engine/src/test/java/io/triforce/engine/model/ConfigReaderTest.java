package io.triforce.engine.model;

import io.triforce.engine.testing.RandomCheckpoint;
import io.triforce.engine.testing.RandomCheckpoint.ConfigStyle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static io.triforce.engine.testing.ErrorMessages.assertMentions;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConfigReaderTest {

    @TempDir
    Path dir;

    private ModelConfig read(RandomCheckpoint.Builder builder) {
        return ConfigReader.read(builder.writeTo(dir).dir().resolve("config.json"));
    }

    private CheckpointException fails(RandomCheckpoint.Builder builder) {
        Path config = builder.writeTo(dir).dir().resolve("config.json");
        return assertThrows(CheckpointException.class, () -> ConfigReader.read(config));
    }

    /** A config built from the defaults, with one field changed. */
    private static RandomCheckpoint.Builder with(String key, Object value) {
        return RandomCheckpoint.builder().configField(key, value);
    }

    static Stream<Arguments> ropesAndStyles() {
        List<RopeConfig> ropes = List.of(
                RopeConfig.unscaled(500_000),
                RopeConfig.linear(10_000, 2.5),
                RopeConfig.llama3(500_000, 8, 1, 4, 512),
                RopeConfig.yarn(1_000_000, 4, 512, 32, 1, true, 1.1386),
                RopeConfig.yarn(10_000, 16, 256, 24, 2, false, 0.9));
        return ropes.stream().flatMap(r -> Stream.of(ConfigStyle.values()).map(s -> Arguments.of(r, s)));
    }

    @ParameterizedTest
    @MethodSource("ropesAndStyles")
    void readsEveryRopeTypeInBothStyles(RopeConfig rope, ConfigStyle style) {
        ModelConfig c = read(RandomCheckpoint.builder().rope(rope).configStyle(style));
        assertEquals(rope, c.rope());
    }

    @Test
    void readsEveryField() {
        ModelConfig c = read(RandomCheckpoint.builder().dim(96).layers(3).heads(6).kvHeads(2).headDim(32).vocab(300)
                .hiddenDim(200).maxPositions(4096).normEps(1e-5).tied(true).bos(5).eos(6, 7));
        assertEquals(96, c.dim());
        assertEquals(200, c.hiddenDim());
        assertEquals(3, c.nLayers());
        assertEquals(6, c.nHeads());
        assertEquals(2, c.nKvHeads());
        assertEquals(32, c.headDim());
        assertEquals(300, c.vocabSize());
        assertEquals(1e-5f, c.normEps());
        assertEquals(4096, c.maxPositions());
        assertTrue(c.tiedEmbeddings());
        assertEquals(5, c.bosTokenId());
        assertArrayEquals(new int[] {6, 7}, c.eosTokenIds());
    }

    @Test
    void defaultsForAbsentFields() {
        ModelConfig c = read(RandomCheckpoint.builder().dim(64).heads(4).kvHeads(2)
                .omitConfigField("head_dim").omitConfigField("num_key_value_heads")
                .omitConfigField("tie_word_embeddings").omitConfigField("rms_norm_eps")
                .omitConfigField("max_position_embeddings").omitConfigField("hidden_act")
                .omitConfigField("rope_parameters").omitConfigField("eos_token_id").bos(-1));
        assertEquals(16, c.headDim());
        assertEquals(4, c.nKvHeads());
        assertFalse(c.tiedEmbeddings());
        assertEquals(1e-6f, c.normEps());
        assertEquals(2048, c.maxPositions());
        assertEquals(RopeConfig.unscaled(10_000), c.rope());
        assertEquals(-1, c.bosTokenId());
        assertArrayEquals(new int[0], c.eosTokenIds());
    }

    @Test
    void eosAsSingleNumber() {
        assertArrayEquals(new int[] {9}, read(RandomCheckpoint.builder().eos(9)).eosTokenIds());
    }

    @Test
    void pycodeStyleConfig() throws IOException {
        Path config = dir.resolve("config.json");
        Files.writeString(config, """
                {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
                 "bos_token_id": 0, "dtype": "bfloat16", "eos_token_id": 0, "head_dim": 64, "hidden_act": "silu",
                 "hidden_size": 512, "initializer_range": 0.02, "intermediate_size": 1536,
                 "max_position_embeddings": 8192, "mlp_bias": false, "model_type": "llama",
                 "num_attention_heads": 8, "num_hidden_layers": 6, "num_key_value_heads": 4, "pad_token_id": null,
                 "pretraining_tp": 1, "rms_norm_eps": 1e-05,
                 "rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"},
                 "tie_word_embeddings": true, "transformers_version": "5.17.0", "use_cache": true, "vocab_size": 8192}
                """);
        ModelConfig c = ConfigReader.read(config);
        assertEquals(RopeConfig.unscaled(500_000), c.rope());
        assertEquals(4, c.nKvHeads());
        assertEquals(0, c.bosTokenId());
        assertTrue(c.isEos(0));
    }

    @Test
    void legacyRopeScalingWithTypeKeyAndTopLevelTheta() {
        ModelConfig c = read(RandomCheckpoint.builder().configStyle(ConfigStyle.TOP_LEVEL_ROPE_THETA)
                .configField("rope_theta", 250_000.0)
                .configField("rope_scaling", Map.of("type", "linear", "factor", 2.0)));
        assertEquals(RopeConfig.linear(250_000, 2), c.rope());
    }

    @Test
    void ropeScalingReplacesRopeParametersLikeInTransformers() {
        ModelConfig c = read(RandomCheckpoint.builder().rope(RopeConfig.unscaled(1e6))
                .configField("rope_scaling", Map.of("rope_type", "linear", "factor", 3.0)));
        assertEquals(RopeConfig.linear(10_000, 3), c.rope(), "rope_parameters (and its theta) ignored");
    }

    @Test
    void llama3OriginalPositionsDefaultToMaxPositions() {
        ModelConfig c = read(RandomCheckpoint.builder().maxPositions(1024).configField("rope_parameters",
                Map.of("rope_type", "llama3", "rope_theta", 5e5, "factor", 8, "low_freq_factor", 1,
                        "high_freq_factor", 4)));
        assertEquals(RopeConfig.llama3(5e5, 8, 1, 4, 1024), c.rope());
    }

    @Test
    void yarnDefaultsAsInTransformers() {
        ModelConfig c = read(RandomCheckpoint.builder().maxPositions(16384).configField("rope_parameters",
                Map.of("rope_type", "yarn", "rope_theta", 1e4, "original_max_position_embeddings", 4096,
                        "beta_fast", 0)));
        double factor = 16384 / 4096.0;
        assertEquals(RopeConfig.yarn(1e4, factor, 4096, 32, 1, true, 0.1 * Math.log(factor) + 1), c.rope(),
                "factor = max / original, beta_fast 0 means 32, attention factor 0.1 ln(factor) + 1");
    }

    @Test
    void yarnMscaleRatio() {
        ModelConfig c = read(RandomCheckpoint.builder().configField("rope_parameters",
                Map.of("rope_type", "yarn", "rope_theta", 1e4, "factor", 40, "original_max_position_embeddings", 4096,
                        "mscale", 1.0, "mscale_all_dim", 0.5)));
        assertEquals(RopeConfig.yarnAttentionFactor(40, 1, 0.5), c.rope().attentionFactor());
        assertEquals((0.1 * Math.log(40) + 1) / (0.05 * Math.log(40) + 1), c.rope().attentionFactor(), 1e-15);
    }

    @Test
    void mistralWithoutSlidingWindowIsLlama() {
        ModelConfig c = read(with("architectures", List.of("MistralForCausalLM")).configField("model_type", "mistral")
                .configField("sliding_window", null));
        assertEquals(64, c.dim());
    }

    @Test
    void modelTypeWhenArchitecturesIsAbsent() {
        assertEquals(64, read(RandomCheckpoint.builder().omitConfigField("architectures")).dim());
    }

    @Test
    void unsupportedArchitecture() {
        assertMentions(fails(with("architectures", List.of("Qwen2ForCausalLM"))), "config.json",
                "unsupported architecture [Qwen2ForCausalLM]", "LlamaForCausalLM");
    }

    @Test
    void unsupportedModelTypeWithoutArchitectures() {
        assertMentions(fails(with("model_type", "gpt2").omitConfigField("architectures")), "config.json",
                "unsupported model", "gpt2");
    }

    @Test
    void slidingWindow() {
        assertMentions(fails(with("architectures", List.of("MistralForCausalLM")).configField("sliding_window", 4096)),
                "config.json", "\"sliding_window\" = 4096", "unsupported");
    }

    @Test
    void unsupportedActivation() {
        assertMentions(fails(with("hidden_act", "gelu")), "config.json", "\"hidden_act\" = \"gelu\" is unsupported");
    }

    @Test
    void biases() {
        assertMentions(fails(with("attention_bias", true)), "config.json", "\"attention_bias\" = true is unsupported");
        assertMentions(fails(with("mlp_bias", true)), "config.json", "\"mlp_bias\" = true is unsupported");
    }

    @Test
    void unsupportedRopeType() {
        assertMentions(fails(with("rope_parameters", Map.of("rope_type", "dynamic", "factor", 2.0))), "config.json",
                "\"rope_parameters.rope_type\" = \"dynamic\" is unsupported", "default, linear, llama3, yarn");
        assertMentions(fails(with("rope_scaling", Map.of("type", "longrope"))), "config.json",
                "\"rope_scaling.rope_type\" = \"longrope\" is unsupported");
    }

    @Test
    void partialRotaryEmbeddings() {
        assertMentions(fails(with("partial_rotary_factor", 0.5)), "config.json", "partial_rotary_factor",
                "unsupported");
    }

    @Test
    void missingRopeParameter() {
        assertMentions(fails(with("rope_parameters", Map.of("rope_type", "llama3", "factor", 8.0))), "config.json",
                "missing required field \"rope_parameters.low_freq_factor\"");
    }

    @Test
    void invalidRopeParameter() {
        assertMentions(fails(with("rope_parameters", Map.of("rope_type", "linear", "factor", -1.0))), "config.json",
                "linear rope: factor must be positive");
    }

    @Test
    void missingRequiredField() {
        assertMentions(fails(RandomCheckpoint.builder().omitConfigField("vocab_size")), "config.json",
                "missing required field \"vocab_size\"");
    }

    @Test
    void wrongFieldType() {
        assertMentions(fails(with("hidden_size", "64")), "config.json", "\"hidden_size\" must be an integer");
        assertMentions(fails(with("num_hidden_layers", 2.5)), "\"num_hidden_layers\" must be an integer");
    }

    @Test
    void kvHeadsThatDoNotDivideHeads() {
        assertMentions(fails(with("num_key_value_heads", 3)), "config.json",
                "\"num_key_value_heads\" (3) must divide num_attention_heads (4)");
    }

    @Test
    void notJson() throws IOException {
        Path config = dir.resolve("config.json");
        Files.writeString(config, "{\"hidden_size\": ");
        assertMentions(assertThrows(CheckpointException.class, () -> ConfigReader.read(config)), config.toString(),
                "cannot read config");
    }

    @Test
    void missingFile() {
        Path config = dir.resolve("config.json");
        assertMentions(assertThrows(CheckpointException.class, () -> ConfigReader.read(config)), config.toString(),
                "no such file");
    }
}
