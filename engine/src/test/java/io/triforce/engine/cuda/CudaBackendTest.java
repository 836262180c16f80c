package io.triforce.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.model.LlamaWeights;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.sampling.Sampler;
import io.triforce.engine.testing.RequiresGpu;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import java.util.function.BiConsumer;
import java.util.function.Predicate;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The CUDA backend against the CPU oracle on random bf16 weights: a prompt long enough to
 * cross attention splits and 64-key tiles (fed in blocks of up to 64), then greedy steps one token at
 * a time. Checks logit errors, greedy agreement, and that the GPU's block forward gives the
 * same bits as its token-by-token forward. Skipped where no CUDA GPU is present.
 */
@RequiresGpu
class CudaBackendTest {

    private static final int STEPS = 6;

    @ParameterizedTest
    @CsvSource({"pycode-target, -1, 300", "pycode-draft, -1, 300", "llama2-7b, 2, 150", "llama31-8b, 2, 530",
                "llama32-3b, 2, 400", "tinyllama-1.1b, 2, 300"})
    void matchesCpuBackend(String shape, int layers, int promptLength) {
        ModelConfig config = ModelShapes.get(shape, layers);
        try (Arena arena = Arena.ofShared()) {
            LlamaWeights weights = RandomWeights.create(config, 7, arena);
            try (Transformer cpu = new CpuBackend().load(weights);
                 CudaTransformer gpu = new CudaBackend().load(weights)) {
                compare(shape, config, cpu, gpu, promptLength);
            }
        }
    }

    /**
     * Each form of the 9-16-token GEMVs (plain, pipelined, rolling) gives a 16-token block the bits
     * of the token-by-token forward: two blocks of 16, so the second also reads keys the first
     * block's form wrote.
     */
    @ParameterizedTest
    @CsvSource({"pycode-target, -1", "llama2-7b, 2", "llama31-8b, 2", "tinyllama-1.1b, 2"})
    void everyGemvFormOf16TokenBlocksGivesTheSameBits(String shape, int layers) {
        onGpu(shape, layers, 5, (config, gpu) -> {
            int[] prompt = new Random(3).ints(32, 0, config.vocabSize()).toArray();
            float[][] byToken;
            try (CudaKvCache single = (CudaKvCache) gpu.newCache(new KvCacheSpec.Full(32))) {
                byToken = tokenByToken(gpu, prompt, single, 16);
            }
            assertEquals(3, CudaTransformer.forms16().size());
            for (String form : CudaTransformer.forms16()) {
                gpu.useForm16(form);
                try (CudaKvCache blocks = (CudaKvCache) gpu.newCache(new KvCacheSpec.Full(32))) {
                    gpu.forward(Arrays.copyOf(prompt, 16), blocks, 0);
                    float[][] rows = gpu.forward(Arrays.copyOfRange(prompt, 16, 32), blocks, 16);
                    for (int r = 0; r < 16; r++) {
                        assertArrayEquals(byToken[r], rows[r], shape + ", " + form + " form: row " + r);
                    }
                }
            }
        });
    }

    /**
     * One-token steps give the same bits with o_proj and down as gemv_resid1 (a block per row tile,
     * the slices added inside it) and the RMSNorm GEMVs after them as gemv_*8x (x's squares added
     * there) as with gemv_*8 throughout, over a context that crosses attention splits; a 16-token
     * block after them reads the keys they wrote.
     */
    @ParameterizedTest
    @CsvSource({"pycode-target, -1", "pycode-draft, -1", "llama2-7b, 2", "llama31-8b, 2"})
    void tileGemvsGiveTheBitsOfTheSlicedOnes(String shape, int layers) {
        onGpu(shape, layers, 9, (config, gpu) -> assertSameRows(
                oneTokenStepsBothWays(gpu, config, 300, 400, gpu::useTileGemvs, shape + ": gemv_resid1"),
                shape + ": tile and sliced GEMV steps"));
    }

    /**
     * One-token steps as one persistent kernel ({@link CudaRingStep}) give the bits of the graph of
     * kernels: 16 steps after a prompt long enough for several attention splits, then a 16-token
     * block that reads the keys and values they wrote. (TinyLlama's down_proj takes 22 slices on an
     * H100, more than gemv_resid1 and the ring step hold: its one-token steps stay a graph of kernels.)
     */
    @ParameterizedTest
    @CsvSource({"pycode-target, -1", "pycode-draft, -1", "llama2-7b, 2", "llama31-8b, 2", "llama32-3b, 2"})
    void ringStepGivesTheBitsOfTheGraphOfKernels(String shape, int layers) {
        onGpu(shape, layers, 21, (config, gpu) -> assertSameRows(
                oneTokenStepsBothWays(gpu, config, 1000, 1100, gpu::useRingStep, shape + ": the persistent step"),
                shape + ": persistent and graph one-token steps"));
    }

    /**
     * The logits of 16 one-token steps after a random prompt of {@code promptLength} tokens, then of a
     * 16-token block that reads the keys they wrote, on a cache of {@code capacity} slots: [0] with
     * {@code use} switched on (asserted to fit), [1] with it off.
     */
    private static float[][][] oneTokenStepsBothWays(CudaTransformer gpu, ModelConfig config, int promptLength,
                                                     int capacity, Predicate<Boolean> use, String what) {
        int[] tokens = new Random(promptLength).ints(promptLength + 32, 0, config.vocabSize()).toArray();
        float[][][] rows = new float[2][32][];
        for (int way = 0; way < 2; way++) {
            assertEquals(way == 0, use.test(way == 0), what + " fits");
            try (CudaKvCache cache = (CudaKvCache) gpu.newCache(new KvCacheSpec.Full(capacity))) {
                gpu.forward(Arrays.copyOf(tokens, promptLength), cache, 0);
                for (int i = 0; i < 16; i++) {
                    rows[way][i] = gpu.forward(new int[] {tokens[promptLength + i]}, cache, 1)[0];
                }
                System.arraycopy(gpu.forward(Arrays.copyOfRange(tokens, promptLength + 16, promptLength + 32), cache,
                        16), 0, rows[way], 16, 16);
            }
        }
        return rows;
    }

    /**
     * Blocks of 2-16 tokens give the same bits with their GEMVs in clusters (the slices' sums added
     * in shared memory, the "c" kernels; for 2-8 tokens o_proj and down where their slices make a
     * portable cluster) as sliced (partial sums through L2, the last block's epilogue), in every
     * form of the 9-16-token GEMVs, over a context that crosses attention splits; each block reads
     * the keys the blocks before it wrote.
     */
    @ParameterizedTest
    @CsvSource({"pycode-target, -1", "pycode-draft, -1", "llama2-7b, 2", "llama31-8b, 2"})
    void clusterGemvsGiveTheBitsOfTheSlicedOnes(String shape, int layers) {
        onGpu(shape, layers, 13, (config, gpu) -> {
            for (String form : CudaTransformer.forms16()) {
                gpu.useForm16(form);
                float[][][] rows = new float[2][][];
                for (int way = 0; way < 2; way++) {
                    assertEquals(way == 0, gpu.useClusterGemvs(way == 0), shape + ": clusters fit");
                    rows[way] = blockRows(gpu, config, 16, 9, 2, 16, 5, 8, 12);
                }
                assertSameRows(rows, shape + ", " + form + " form: cluster and sliced GEMVs");
            }
        });
    }

    /**
     * A block of 64 query rows (on Hopper its attention runs on wgmma) after a prompt, against the same
     * tokens fed one at a time, over a cache long enough that an attention split holds several 64-key
     * tiles, so a row's running maximum moves inside a split: the same bits. (With one tile a split, as
     * in the shorter caches above, the rows' sums cannot tell how a tile's rescale is rounded.) Blocks of
     * 24 rows (Llama-2-7B 24 tokens, Llama-3.1-8B 6) take the mma.sync path for 17-31 rows; Llama-3.2-3B
     * (three queries a KV head, splits of three tiles) blocks of 16 and 5 tokens the wgmma and
     * all-warps paths; TinyLlama (eight queries a KV head, head size 64, a cache of 8192 for splits of
     * two tiles) blocks of 16 tokens (128 rows: two wgmma passes over the split), 3 (24 rows) and 2.
     */
    @ParameterizedTest
    @CsvSource({"llama2-7b, 2, 64, 4608", "llama31-8b, 2, 16, 4608", "llama2-7b, 2, 24, 4608", "llama31-8b, 2, 6, 4608",
                "llama32-3b, 2, 16, 4608", "llama32-3b, 2, 5, 4608", "tinyllama-1.1b, 2, 16, 8192",
                "tinyllama-1.1b, 2, 3, 8192", "tinyllama-1.1b, 2, 2, 8192"})
    void blocksGiveTokenByTokenBitsOverSplitsOfSeveralTiles(String shape, int layers, int block, int capacity) {
        onGpu(shape, layers, 23, (config, gpu) -> {
            int length = 448;
            int[] tokens = new Random(29).ints(length, 0, config.vocabSize()).toArray();
            try (CudaKvCache blocks = (CudaKvCache) gpu.newCache(new KvCacheSpec.Full(capacity));
                 CudaKvCache single = (CudaKvCache) gpu.newCache(new KvCacheSpec.Full(capacity))) {
                assertTrue(blocks.splitLength >= 128, shape + ": splits of " + blocks.splitLength + " keys");
                gpu.forward(Arrays.copyOf(tokens, length - block), blocks, 0);
                float[][] rows = gpu.forward(Arrays.copyOfRange(tokens, length - block, length), blocks, block);
                float[][] byToken = tokenByToken(gpu, tokens, single, block);
                for (int r = 0; r < block; r++) {
                    assertArrayEquals(byToken[r], rows[r], shape + ": block and token-by-token logits differ at row " + r);
                }
            }
        });
    }

    /** The logits of the last {@code rows} of {@code tokens}, fed into {@code cache} one token at a time. */
    private static float[][] tokenByToken(CudaTransformer gpu, int[] tokens, CudaKvCache cache, int rows) {
        float[][] out = new float[rows][];
        for (int i = 0; i < tokens.length; i++) {
            int r = i - (tokens.length - rows);
            float[][] logits = gpu.forward(new int[] {tokens[i]}, cache, r >= 0 ? 1 : 0);
            if (r >= 0) {
                out[r] = logits[0];
            }
        }
        return out;
    }

    /** Runs {@code test} on the CUDA backend loaded with random weights of the shape (seeded). */
    private static void onGpu(String shape, int layers, long seed, BiConsumer<ModelConfig, CudaTransformer> test) {
        ModelConfig config = ModelShapes.get(shape, layers);
        try (Arena arena = Arena.ofShared()) {
            LlamaWeights weights = RandomWeights.create(config, seed, arena);
            try (CudaTransformer gpu = new CudaBackend().load(weights)) {
                test.accept(config, gpu);
            }
        }
    }

    /** The logits of blocks of the sizes given, fed after a 300-token prompt (random tokens, a fixed seed). */
    private static float[][] blockRows(CudaTransformer gpu, ModelConfig config, int... blocks) {
        int total = Arrays.stream(blocks).sum();
        int[] tokens = new Random(17).ints(300 + total, 0, config.vocabSize()).toArray();
        float[][] rows = new float[total][];
        try (CudaKvCache cache = (CudaKvCache) gpu.newCache(new KvCacheSpec.Full(300 + total))) {
            gpu.forward(Arrays.copyOf(tokens, 300), cache, 0);
            int at = 300;
            for (int n : blocks) {
                System.arraycopy(gpu.forward(Arrays.copyOfRange(tokens, at, at + n), cache, n), 0, rows, at - 300, n);
                at += n;
            }
        }
        return rows;
    }

    private static void assertSameRows(float[][][] rows, String what) {
        assertEquals(rows[0].length, rows[1].length, what);
        for (int r = 0; r < rows[0].length; r++) {
            assertArrayEquals(rows[1][r], rows[0][r], what + " differ at row " + r);
        }
    }

    private static void compare(String shape, ModelConfig config, Transformer cpu, CudaTransformer gpu, int promptLength) {
        int capacity = promptLength + STEPS + 1;
        KvCache cpuCache = cpu.newCache(new KvCacheSpec.Full(capacity));
        try (CudaKvCache gpuCache = (CudaKvCache) gpu.newCache(new KvCacheSpec.Full(capacity));
             CudaKvCache single = (CudaKvCache) gpu.newCache(new KvCacheSpec.Full(capacity))) {
            Random random = new Random(11);
            int[] prompt = random.ints(promptLength, 0, config.vocabSize()).toArray();
            int rows = 16;
            float[][] expected = cpu.forward(prompt, cpuCache, rows);
            float[][] actual = gpu.forward(prompt, gpuCache, rows);
            Errors errors = new Errors();
            for (int r = 0; r < rows; r++) {
                errors.add(expected[r], actual[r]);
            }
            // Token by token on a second GPU cache: the same bits as the block.
            float[][] byToken = tokenByToken(gpu, prompt, single, rows);
            for (int r = 0; r < rows; r++) {
                assertArrayEquals(actual[r], byToken[r], shape + ": block and token-by-token logits differ at row " + r);
            }
            // Greedy steps, both models fed the CPU's token; the GPU's argmax is computed on the device.
            int next = Sampler.argmax(expected[rows - 1]);
            for (int s = 0; s < STEPS; s++) {
                float[] e = cpu.forward(new int[] {next}, cpuCache, 1)[0];
                int[] greedy = gpu.greedyNext(new int[] {next}, gpuCache, 1);
                float[] a = gpu.forward(new int[] {next}, single, 1)[0];
                errors.add(e, a);
                assertEquals(Sampler.argmax(a), greedy[0], shape + ": device argmax");
                next = Sampler.argmax(e);
            }
            System.out.printf("%s (%d layers, prompt %d): %s%n", shape, config.nLayers(), promptLength, errors);
            assertTrue(errors.relativeL2 < 1e-2, shape + ": " + errors);
            assertEquals(0, errors.disagreements, shape + ": greedy tokens differ where the CPU's margin is clear: "
                    + errors);
        }
    }

    /** Logit errors over rows; greedy disagreements where the CPU's top-2 margin exceeds the error. */
    static final class Errors {
        double maxAbs;
        double maxRelative;   // max |gpu - cpu| / max |cpu|, per row
        double relativeL2;    // ||gpu - cpu|| / ||cpu||, worst row
        int rows;
        int agreements;
        int disagreements;
        int nearTies;

        void add(float[] cpu, float[] gpu) {
            double abs = 0, scale = 0, diff2 = 0, norm2 = 0;
            for (int i = 0; i < cpu.length; i++) {
                double d = Math.abs((double) gpu[i] - cpu[i]);
                abs = Math.max(abs, d);
                scale = Math.max(scale, Math.abs(cpu[i]));
                diff2 += d * d;
                norm2 += (double) cpu[i] * cpu[i];
            }
            maxAbs = Math.max(maxAbs, abs);
            maxRelative = Math.max(maxRelative, abs / scale);
            relativeL2 = Math.max(relativeL2, Math.sqrt(diff2 / norm2));
            rows++;
            int c = Sampler.argmax(cpu);
            if (c == Sampler.argmax(gpu)) {
                agreements++;
            } else if (margin(cpu, c) > 2 * abs) {
                disagreements++;
            } else {
                nearTies++;
            }
        }

        private static double margin(float[] logits, int best) {
            double second = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < logits.length; i++) {
                if (i != best) {
                    second = Math.max(second, logits[i]);
                }
            }
            return logits[best] - second;
        }

        @Override
        public String toString() {
            return String.format("max abs error %.3g, max rel error %.3g (of max |logit|), rel L2 %.3g; greedy agrees"
                    + " %d/%d rows (%d near-ties, %d clear disagreements)", maxAbs, maxRelative, relativeL2, agreements,
                    rows, nearTies, disagreements);
        }
    }
}
