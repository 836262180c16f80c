package io.triforce.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;

import java.util.Map;

/**
 * Reads the RoPE settings of a config.json the way transformers 5 standardizes them: the
 * parameters are the legacy {@code rope_scaling} object when it is non-empty, else
 * {@code rope_parameters}; the type is their {@code rope_type}, else legacy {@code type}, else
 * "default"; theta is their {@code rope_theta}, else the top-level {@code rope_theta}, else
 * 10000. {@code original_max_position_embeddings} comes from the top level if present there, else
 * from the parameters, else is max_position_embeddings.
 */
final class RopeConfigReader {

    private static final double DEFAULT_THETA = 10_000;

    private RopeConfigReader() {
    }

    static RopeConfig read(ConfigFields config, int maxPositions) {
        ConfigFields p = config.object("rope_scaling");
        if (p == null || p.node().isEmpty()) {
            p = config.object("rope_parameters");
        }
        if (p == null) {
            p = new ConfigFields(config.file(), "rope_parameters.", JsonNodeFactory.instance.objectNode());
        }
        for (Map.Entry<String, JsonNode> e : p.node().properties()) {
            if (e.getValue().isObject()) {
                throw p.error(e.getKey(), "is a nested object: per-layer-type rope parameters are unsupported");
            }
        }
        double partial = p.optionalDouble("partial_rotary_factor", config.optionalDouble("partial_rotary_factor", 1));
        if (partial != 1) {
            throw config.error("partial_rotary_factor", "= " + partial
                    + " is unsupported (only full rotary embeddings)");
        }
        String type = p.optionalString("rope_type", p.optionalString("type", RopeConfig.DEFAULT));
        double theta = p.optionalDouble("rope_theta", config.optionalDouble("rope_theta", DEFAULT_THETA));
        int original = config.optionalInt("original_max_position_embeddings",
                p.optionalInt("original_max_position_embeddings", maxPositions));
        try {
            return switch (type) {
                case RopeConfig.DEFAULT -> RopeConfig.unscaled(theta);
                case RopeConfig.LINEAR -> RopeConfig.linear(theta, p.requiredDouble("factor"));
                case RopeConfig.LLAMA3 -> RopeConfig.llama3(theta, p.requiredDouble("factor"),
                        p.requiredDouble("low_freq_factor"), p.requiredDouble("high_freq_factor"), original);
                case RopeConfig.YARN -> yarn(p, theta, original, maxPositions);
                default -> throw p.error("rope_type", "= \"" + type
                        + "\" is unsupported (supported: default, linear, llama3, yarn)");
            };
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(config.file() + ": " + e.getMessage(), e);
        }
    }

    /**
     * transformers' yarn: an absent factor is max_position_embeddings / original; beta_fast and
     * beta_slow default (also when 0) to 32 and 1; truncate defaults to true.
     */
    private static RopeConfig yarn(ConfigFields p, double theta, int original, int maxPositions) {
        double factor = p.optionalDouble("factor", (double) maxPositions / original);
        double attentionFactor = p.has("attention_factor")
                ? p.optionalDouble("attention_factor", 1)
                : RopeConfig.yarnAttentionFactor(factor, p.optionalDouble("mscale", 0),
                        p.optionalDouble("mscale_all_dim", 0));
        double betaFast = p.optionalDouble("beta_fast", 0);
        double betaSlow = p.optionalDouble("beta_slow", 0);
        return RopeConfig.yarn(theta, factor, original, betaFast == 0 ? 32 : betaFast, betaSlow == 0 ? 1 : betaSlow,
                p.optionalBoolean("truncate", true), attentionFactor);
    }
}
