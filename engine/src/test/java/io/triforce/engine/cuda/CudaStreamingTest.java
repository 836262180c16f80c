package io.triforce.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.kv.StreamingCache;
import io.triforce.engine.model.LlamaWeights;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.sampling.Sampler;
import io.triforce.engine.testing.RequiresGpu;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The StreamingLLM cache on the GPU against the CPU's, on random weights, along a draft's path in a
 * TriForce generation: the sinks, a skipped middle, the prompt's last window in blocks, tokens a
 * step past a full window, catch-up blocks that move the window, and rollbacks within the slack.
 * Skipped where no CUDA GPU is present.
 */
@RequiresGpu
class CudaStreamingTest {

    private static final int SINKS = 4;
    private static final int WINDOW = 48;
    private static final int SLACK = 6;

    /**
     * Llama-3.1-8B's shape brings llama3's scaled RoPE frequencies, which keys are rotated on by;
     * Llama-68M (the paper's draft) a query head per KV head.
     */
    @ParameterizedTest
    @CsvSource({"pycode-draft, -1", "llama31-8b, 2", "llama-68m, -1"})
    void followsTheCpuStreamingCache(String shape, int layers) {
        ModelConfig config = ModelShapes.get(shape, layers);
        try (Arena arena = Arena.ofShared()) {
            LlamaWeights weights = RandomWeights.create(config, 13, arena);
            KvCacheSpec spec = new KvCacheSpec.Streaming(SINKS, WINDOW, SLACK);
            try (Transformer cpu = new CpuBackend().load(weights);
                 CudaTransformer gpu = new CudaBackend().load(weights);
                 StreamingCache gpuCache = (StreamingCache) gpu.newCache(spec)) {
                Both both = new Both(cpu, (StreamingCache) cpu.newCache(spec), gpu, gpuCache);
                Random random = new Random(5);
                int[] prompt = random.ints(300, 0, config.vocabSize()).toArray();
                both.forward(Arrays.copyOf(prompt, SINKS), 0);
                both.skipTo(prompt.length - WINDOW);
                int next = both.forward(Arrays.copyOfRange(prompt, prompt.length - WINDOW, prompt.length), WINDOW);
                for (int step = 0; step < WINDOW + 8; step++) {   // past the window: it moves every token
                    next = both.forward(new int[] {next}, 1);
                }
                int[] catchUp = random.ints(SLACK, 0, config.vocabSize()).toArray();
                both.forward(catchUp, catchUp.length);
                both.truncate(both.length() - SLACK + 1);        // a rejected speculation, within the slack
                both.forward(random.ints(3, 0, config.vocabSize()).toArray(), 3);
                for (int step = 0; step < 4; step++) {
                    next = both.forward(new int[] {next}, 1);
                }
                System.out.printf("%s (%d layers), sinks %d, window %d: %s%n", shape, config.nLayers(), SINKS, WINDOW,
                        both.errors);
                assertEquals(both.cpuCache.length(), gpuCache.length());
                assertTrue(both.errors.relativeL2 < 1e-2, shape + ": " + both.errors);
                assertEquals(0, both.errors.disagreements, shape + ": greedy tokens differ where the CPU's margin"
                        + " is clear: " + both.errors);
            }
        }
    }

    /**
     * Until the window fills, no key has moved from the index it was written at: the streaming cache
     * gives the bits of a full cache of the same size (the same attention splits), in blocks or a
     * token at a time.
     */
    @ParameterizedTest
    @CsvSource({"pycode-draft, -1", "llama31-8b, 2"})
    void givesAFullCachesBitsUntilTheWindowFills(String shape, int layers) {
        ModelConfig config = ModelShapes.get(shape, layers);
        try (Arena arena = Arena.ofShared()) {
            LlamaWeights weights = RandomWeights.create(config, 17, arena);
            try (CudaTransformer gpu = new CudaBackend().load(weights);
                 CudaKvCache full = (CudaKvCache) gpu.newCache(new KvCacheSpec.Full(SINKS + WINDOW));
                 StreamingCache streaming = (StreamingCache) gpu.newCache(
                         new KvCacheSpec.Streaming(SINKS, WINDOW, SLACK))) {
                int[] tokens = new Random(7).ints(SINKS + WINDOW, 0, config.vocabSize()).toArray();
                float[][] expected = gpu.forward(tokens, full, tokens.length);
                float[][] blocks = gpu.forward(Arrays.copyOf(tokens, 30), streaming, 30);
                for (int i = 0; i < 30; i++) {
                    assertArrayEquals(expected[i], blocks[i], shape + ": row " + i + " of a block");
                }
                for (int i = 30; i < tokens.length; i++) {
                    assertArrayEquals(expected[i], gpu.forward(new int[] {tokens[i]}, streaming, 1)[0],
                            shape + ": token " + i + " fed alone");
                }
            }
        }
    }

    /** A CPU and a GPU model fed the same tokens over their streaming caches, their logits compared. */
    private static final class Both {
        final Transformer cpu;
        final StreamingCache cpuCache;
        final CudaTransformer gpu;
        final StreamingCache gpuCache;
        final CudaBackendTest.Errors errors = new CudaBackendTest.Errors();

        Both(Transformer cpu, StreamingCache cpuCache, CudaTransformer gpu, StreamingCache gpuCache) {
            this.cpu = cpu;
            this.cpuCache = cpuCache;
            this.gpu = gpu;
            this.gpuCache = gpuCache;
        }

        /** Feeds {@code tokens}, compares the last {@code rows} rows; returns the CPU's greedy next token. */
        int forward(int[] tokens, int rows) {
            float[][] expected = cpu.forward(tokens, cpuCache, rows);
            float[][] actual = gpu.forward(tokens, gpuCache, rows);
            for (int r = 0; r < rows; r++) {
                errors.add(expected[r], actual[r]);
            }
            return rows == 0 ? -1 : Sampler.argmax(expected[rows - 1]);
        }

        void skipTo(int position) {
            cpuCache.skipTo(position);
            gpuCache.skipTo(position);
        }

        void truncate(int length) {
            cpuCache.truncate(length);
            gpuCache.truncate(length);
        }

        int length() {
            return cpuCache.length();
        }
    }
}
