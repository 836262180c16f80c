package io.triforce.engine.model;

import io.triforce.engine.tensor.Tensor;

/**
 * One decoder layer's weights, in Hugging Face's [out][in] row-major layout.
 *
 * @param attentionNorm [dim]                      input_layernorm
 * @param wq            [nHeads*headDim][dim]      self_attn.q_proj
 * @param wk            [nKvHeads*headDim][dim]    self_attn.k_proj
 * @param wv            [nKvHeads*headDim][dim]    self_attn.v_proj
 * @param wo            [dim][nHeads*headDim]      self_attn.o_proj
 * @param ffnNorm       [dim]                      post_attention_layernorm
 * @param wGate         [hiddenDim][dim]           mlp.gate_proj (w1)
 * @param wUp           [hiddenDim][dim]           mlp.up_proj   (w3)
 * @param wDown         [dim][hiddenDim]           mlp.down_proj (w2)
 */
public record LayerWeights(Tensor attentionNorm, Tensor wq, Tensor wk, Tensor wv, Tensor wo,
                           Tensor ffnNorm, Tensor wGate, Tensor wUp, Tensor wDown) {
}
