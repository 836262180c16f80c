package io.triforce.engine.testing;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.cpu.Parallel;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.engine.model.ModelConfig;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * A {@link RandomCheckpoint} written, loaded through {@link CheckpointLoader} and put on the
 * CPU backend: what the forward-pass, cache and decoder tests run on.
 */
public final class RandomModel implements AutoCloseable {

    /** One worker: the tests stay deterministic and light on a shared machine. */
    public static final Parallel SINGLE_THREAD = new Parallel(1);

    private final RandomCheckpoint written;
    private final LlamaCheckpoint checkpoint;
    private final Transformer transformer;

    private RandomModel(RandomCheckpoint written, LlamaCheckpoint checkpoint, Transformer transformer) {
        this.written = written;
        this.checkpoint = checkpoint;
        this.transformer = transformer;
    }

    public static RandomModel load(RandomCheckpoint.Builder builder, Path dir) {
        return load(builder, dir, SINGLE_THREAD);
    }

    public static RandomModel load(RandomCheckpoint.Builder builder, Path dir, Parallel parallel) {
        RandomCheckpoint written = builder.writeTo(dir);
        LlamaCheckpoint checkpoint = CheckpointLoader.load(dir);
        return new RandomModel(written, checkpoint, new CpuBackend(parallel).load(checkpoint.weights()));
    }

    public RandomCheckpoint written() {
        return written;
    }

    public LlamaCheckpoint checkpoint() {
        return checkpoint;
    }

    public Transformer model() {
        return transformer;
    }

    public ModelConfig config() {
        return transformer.config();
    }

    /** A fresh scalar oracle over the same weights. */
    public ScalarLlama scalar() {
        return new ScalarLlama(written, config());
    }

    /** {@code n} seeded random token ids of this model's vocabulary. */
    public int[] randomTokens(int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] tokens = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = random.nextInt(config().vocabSize());
        }
        return tokens;
    }

    @Override
    public void close() throws Exception {
        transformer.close();
        checkpoint.close();
    }
}
