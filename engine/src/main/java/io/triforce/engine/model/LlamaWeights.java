package io.triforce.engine.model;

import io.triforce.engine.tensor.Tensor;

/**
 * All weights of a Llama-family checkpoint.
 *
 * @param tokenEmbedding [vocab][dim]   model.embed_tokens
 * @param layers         one per decoder layer
 * @param finalNorm      [dim]          model.norm
 * @param lmHead         [vocab][dim]   lm_head, or the embedding itself when tied
 */
public record LlamaWeights(ModelConfig config, Tensor tokenEmbedding, LayerWeights[] layers,
                           Tensor finalNorm, Tensor lmHead) {
}
