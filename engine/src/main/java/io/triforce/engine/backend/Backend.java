package io.triforce.engine.backend;

import io.triforce.engine.model.LlamaWeights;

/**
 * A place where a Llama forward pass runs. The CPU backend is the oracle every other backend
 * is tested against.
 */
public interface Backend {

    String name();

    /** Prepares the weights (upload, layout) once and returns a model that runs forward passes. */
    Transformer load(LlamaWeights weights);
}
