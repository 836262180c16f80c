package io.triforce.engine.model;

/**
 * The shape of a Llama-family model, read from a Hugging Face {@code config.json}.
 *
 * @param dim             hidden_size
 * @param hiddenDim       intermediate_size (SwiGLU width)
 * @param nLayers         num_hidden_layers
 * @param nHeads          num_attention_heads
 * @param nKvHeads        num_key_value_heads (GQA when smaller than nHeads)
 * @param headDim         head_dim (hidden_size / num_attention_heads when absent)
 * @param vocabSize       vocab_size
 * @param normEps         rms_norm_eps
 * @param maxPositions    max_position_embeddings
 * @param tiedEmbeddings  tie_word_embeddings
 * @param rope            rotary embedding parameters
 * @param bosTokenId      bos_token_id, -1 when absent
 * @param eosTokenIds     eos_token_id (a number or a list)
 */
public record ModelConfig(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int headDim,
                          int vocabSize, float normEps, int maxPositions, boolean tiedEmbeddings,
                          RopeConfig rope, int bosTokenId, int[] eosTokenIds) {

    /** Query heads that share one key/value head. */
    public int groupSize() {
        return nHeads / nKvHeads;
    }

    public int qDim() {
        return nHeads * headDim;
    }

    public int kvDim() {
        return nKvHeads * headDim;
    }

    public boolean isEos(int token) {
        for (int e : eosTokenIds) {
            if (e == token) {
                return true;
            }
        }
        return false;
    }
}
