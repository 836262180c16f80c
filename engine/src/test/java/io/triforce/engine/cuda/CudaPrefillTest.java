package io.triforce.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.model.LlamaWeights;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.testing.RequiresGpu;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The chunked prefill against the step kernels on random weights: a prompt of several chunks
 * (1024, then 256 and a tail through the step kernels) in one forward gives the same bits as
 * the same prompt fed 64 tokens at a time, which never reaches the chunked path — in the
 * logits and in the next greedy tokens; with the GEMMs on wgmma (Hopper) and on mma.sync, and
 * with a chunk's attention spread over several launches (at most {@code launchCap} sub-blocks
 * each, 0: as many as the partial buffers hold). Skipped where no CUDA GPU is present.
 */
@RequiresGpu
class CudaPrefillTest {

    @ParameterizedTest
    @CsvSource({"pycode-target, -1, 1400, true, 0", "llama2-7b, 2, 1300, true, 0", "llama31-8b, 2, 1337, true, 0",
                "pycode-target, -1, 1400, false, 0", "llama31-8b, 2, 1337, false, 0", "llama31-8b, 2, 1337, true, 3",
                "llama2-7b, 2, 1300, true, 5", "llama2-7b, 2, 1300, false, 0", "llama32-3b, 2, 1300, true, 0",
                "llama32-3b, 2, 1300, false, 0", "tinyllama-1.1b, 2, 1300, true, 0", "tinyllama-1.1b, 2, 1300, false, 0"})
    void chunksGiveTheStepKernelsBits(String shape, int layers, int promptLength, boolean wgmma, int launchCap) {
        ModelConfig config = ModelShapes.get(shape, layers);
        try (Arena arena = Arena.ofShared()) {
            LlamaWeights weights = RandomWeights.create(config, 5, arena);
            try (CudaTransformer gpu = new CudaBackend().load(weights);
                 CudaKvCache chunked = (CudaKvCache) gpu.newCache(new KvCacheSpec.Full(promptLength + 8));
                 CudaKvCache stepped = (CudaKvCache) gpu.newCache(new KvCacheSpec.Full(promptLength + 8))) {
                assertEquals(wgmma && CudaDevice.get().hopper, gpu.usePrefillWgmma(wgmma));
                if (launchCap > 0) {
                    gpu.capPrefillAttention(launchCap);
                }
                int[] prompt = new Random(3).ints(promptLength, 0, config.vocabSize()).toArray();
                int rows = 4;
                float[][] expected = null;   // the last block's rows (each test's last block has more than 4 tokens)
                for (int start = 0; start < promptLength; start += gpu.maxBlock()) {
                    int end = Math.min(promptLength, start + gpu.maxBlock());
                    expected = gpu.forward(Arrays.copyOfRange(prompt, start, end), stepped, end == promptLength ? rows : 0);
                }
                float[][] actual = gpu.forward(prompt, chunked, rows);
                assertEquals(promptLength, chunked.length());
                for (int r = 0; r < rows; r++) {
                    assertArrayEquals(expected[r], actual[r], shape + ": chunked and stepped logits differ at row " + r);
                }
                int token = prompt[promptLength - 1];
                for (int s = 0; s < 4; s++) {
                    int a = gpu.greedyNext(new int[] {token}, chunked, 1)[0];
                    int b = gpu.greedyNext(new int[] {token}, stepped, 1)[0];
                    assertEquals(b, a, shape + ": greedy step " + s + " after the prompt");
                    token = a;
                }
            }
        }
    }
}
