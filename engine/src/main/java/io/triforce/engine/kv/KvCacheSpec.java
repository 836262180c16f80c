package io.triforce.engine.kv;

/** What kind of cache a {@link io.triforce.engine.backend.Transformer} should create. */
public sealed interface KvCacheSpec {

    /** Every token's keys and values, up to {@code capacity} tokens. */
    record Full(int capacity) implements KvCacheSpec {

        /**
         * Room for a generation: the prompt, {@code maxNewTokens} and {@code speculation} more
         * positions a verify block may hold past them, never more than the model's positions.
         */
        public static int capacityFor(io.triforce.engine.model.ModelConfig config, int promptLength, int maxNewTokens,
                                      int speculation) {
            return (int) Math.min(config.maxPositions(), (long) promptLength + maxNewTokens + speculation);
        }
    }

    /**
     * StreamingLLM: the first {@code sinks} tokens plus the most recent {@code window};
     * {@code slack} more recent tokens are kept so a rejected speculation of up to that many
     * tokens can be rolled back.
     */
    record Streaming(int sinks, int window, int slack) implements KvCacheSpec {
    }

    /**
     * Retrieval cache over a full cache: {@code budget} tokens in chunks of {@code chunk},
     * selected per layer and KV head, plus a tail of up to {@code tailCapacity} newer tokens.
     */
    record Retrieval(int budget, int chunk, int tailCapacity) implements KvCacheSpec {
    }
}
