package io.triforce.protocol;

import io.triforce.engine.sampling.SamplingParams;

/** A request's sampling parameters on the wire (see {@link SamplingParams}). */
public record Sampling(double temperature, int topK, double topP, long seed) {

    public static Sampling of(SamplingParams params) {
        return new Sampling(params.temperature(), params.topK(), params.topP(), params.seed());
    }

    public SamplingParams params() {
        return new SamplingParams(temperature, topK, topP, seed);
    }
}
