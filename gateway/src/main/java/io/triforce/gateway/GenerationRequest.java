package io.triforce.gateway;

import io.triforce.engine.sampling.SamplingParams;
import java.util.List;

/** A validated completion request: prompt tokens and how to continue them. */
public record GenerationRequest(boolean chat, String model, int[] prompt, int maxTokens, SamplingParams sampling,
                                List<String> stop, boolean stream) {
}
