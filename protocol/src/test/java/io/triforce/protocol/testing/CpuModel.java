package io.triforce.protocol.testing;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.engine.sampling.SamplingParams;
import java.nio.file.Path;

/** A checkpoint of the shared pycode pair on the CPU backend, held by a test class; {@link #close} frees it. */
public final class CpuModel implements AutoCloseable {

    private final LlamaCheckpoint checkpoint;
    private final Transformer model;

    private CpuModel(Path dir) {
        this.checkpoint = CheckpointLoader.load(dir);
        this.model = new CpuBackend().load(checkpoint.weights());
    }

    public static CpuModel target() {
        return new CpuModel(SharedModels.target());
    }

    public static CpuModel draft() {
        return new CpuModel(SharedModels.draft());
    }

    public Transformer model() {
        return model;
    }

    public LlamaCheckpoint checkpoint() {
        return checkpoint;
    }

    /** The model's own greedy continuation of {@code prompt}: {@code tokens} tokens. */
    public int[] greedy(int[] prompt, int tokens) {
        return new AutoregressiveDecoder(model).generate(prompt, tokens, SamplingParams.GREEDY, TokenSink.IGNORE).tokens();
    }

    @Override
    public void close() throws Exception {
        checkpoint.close();
    }
}
