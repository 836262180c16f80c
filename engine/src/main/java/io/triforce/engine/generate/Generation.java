package io.triforce.engine.generate;

import io.triforce.engine.spec.SpeculationStats;

/**
 * The outcome of one generation.
 *
 * @param tokens        generated tokens (no prompt, no end-of-sequence token)
 * @param prefillNanos  time to absorb the prompt
 * @param decodeNanos   time from the end of the prefill to the last token
 * @param stats         speculation counters; all zero for autoregressive decoding
 */
public record Generation(int[] tokens, FinishReason finishReason, long prefillNanos, long decodeNanos,
                         SpeculationStats stats) {

    /** Decode tokens per second, prefill excluded. */
    public double decodeTokensPerSecond() {
        return decodeNanos == 0 ? 0 : tokens.length / (decodeNanos / 1e9);
    }
}
