package io.triforce.engine.model;

import java.nio.file.Path;

/**
 * A checkpoint directory as downloaded from Hugging Face, opened: its config, its weights
 * (memory-mapped, valid until {@link #close}) and where its tokenizer lives.
 */
public record LlamaCheckpoint(Path directory, ModelConfig config, LlamaWeights weights, AutoCloseable mapping)
        implements AutoCloseable {

    public Path tokenizerJson() {
        return directory.resolve("tokenizer.json");
    }

    @Override
    public void close() throws Exception {
        mapping.close();
    }
}
