package io.triforce.engine.generate;

import io.triforce.engine.sampling.SamplingParams;

/** Turns a prompt into generated tokens. */
public interface Decoder {

    /**
     * Generates up to {@code maxNewTokens} tokens after {@code prompt}, stopping early at an
     * end-of-sequence token or when {@code sink} declines a token.
     */
    Generation generate(int[] prompt, int maxNewTokens, SamplingParams sampling, TokenSink sink);
}
