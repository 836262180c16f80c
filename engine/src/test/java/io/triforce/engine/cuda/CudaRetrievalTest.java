package io.triforce.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.kv.FullKvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.kv.RetrievalKvCache;
import io.triforce.engine.model.LlamaWeights;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.testing.RequiresGpu;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The GPU retrieval cache: its chunk selection against the CPU oracle's, and greedy
 * speculation with it (level 2 proposes, the full cache verifies, as TriForce's upper two
 * levels do) against plain greedy decoding on the GPU. Skipped where no CUDA GPU is present.
 */
@RequiresGpu
class CudaRetrievalTest {

    private static final int BUDGET = 64;
    private static final int CHUNK = 8;

    /**
     * Also with three and eight queries a KV head (Llama-3.2-3B, TinyLlama), whose group the chunk
     * scores sum over.
     */
    @ParameterizedTest
    @CsvSource({"pycode-target, -1", "llama32-3b, 2", "tinyllama-1.1b, 2"})
    void selectsTheChunksTheCpuSelects(String shape, int layers) {
        ModelConfig config = ModelShapes.get(shape, layers);
        try (Arena arena = Arena.ofShared()) {
            LlamaWeights weights = RandomWeights.create(config, 3, arena);
            try (Transformer cpu = new CpuBackend().load(weights);
                 CudaTransformer gpu = new CudaBackend().load(weights)) {
                int[] prompt = new Random(5).ints(403, 0, config.vocabSize()).toArray();
                FullKvCache cpuFull = (FullKvCache) cpu.newCache(new KvCacheSpec.Full(512));
                RetrievalKvCache cpuRetrieval = (RetrievalKvCache) cpu.newCache(new KvCacheSpec.Retrieval(BUDGET, CHUNK, 64));
                cpu.forward(prompt, cpuFull, 0);
                cpuRetrieval.rebuild(cpuFull);
                try (CudaKvCache gpuFull = (CudaKvCache) gpu.newCache(new KvCacheSpec.Full(512));
                     CudaRetrievalKvCache gpuRetrieval = (CudaRetrievalKvCache) gpu.newCache(
                             new KvCacheSpec.Retrieval(BUDGET, CHUNK, 64))) {
                    gpu.forward(prompt, gpuFull, 0);
                    gpuRetrieval.rebuild(gpuFull);
                    int heads = 0;
                    int identical = 0;
                    int shared = 0;
                    int kept = 0;
                    for (int l = 0; l < config.nLayers(); l++) {
                        for (int h = 0; h < config.nKvHeads(); h++) {
                            int[] expected = cpuRetrieval.selectedChunks(l, h);
                            int[] actual = gpuRetrieval.selectedChunks(l, h);
                            heads++;
                            identical += Arrays.equals(expected, actual) ? 1 : 0;
                            shared += (int) Arrays.stream(actual).filter(c -> Arrays.binarySearch(expected, c) >= 0).count();
                            kept += expected.length;
                            assertTrue(actual[0] == 0 && isAscending(actual), Arrays.toString(actual));
                        }
                    }
                    System.out.printf("retrieval selection: %d/%d (layer, KV head) sets identical to the CPU's, %d/%d"
                            + " chunks shared; tail from %d, length %d%n", identical, heads, shared, kept,
                            gpuRetrieval.tailStart(), gpuRetrieval.length());
                    assertTrue(shared >= 0.9 * kept, "GPU and CPU chunk selections differ too much");
                }
            }
        }
    }

    /** Budgets from a few chunks (low acceptance) to the whole context (level 2 = the target). */
    @ParameterizedTest
    @ValueSource(ints = {64, 256, 512})
    void greedySpeculationMatchesGreedyDecoding(int budget) {
        ModelConfig config = ModelShapes.get("pycode-target");
        int newTokens = 64;
        int gamma = 4;
        try (Arena arena = Arena.ofShared()) {
            LlamaWeights weights = RandomWeights.create(config, 9, arena);
            try (CudaTransformer gpu = new CudaBackend().load(weights)) {
                int[] prompt = new Random(13).ints(300, 0, config.vocabSize()).toArray();
                int capacity = prompt.length + newTokens + gamma + 2;
                int[] expected = new int[newTokens];
                try (CudaKvCache cache = (CudaKvCache) gpu.newCache(new KvCacheSpec.Full(capacity))) {
                    gpu.forward(Arrays.copyOf(prompt, prompt.length - 1), cache, 0);
                    int next = prompt[prompt.length - 1];
                    for (int i = 0; i < newTokens; i++) {
                        next = gpu.greedyNext(new int[] {next}, cache, 1)[0];
                        expected[i] = next;
                    }
                }
                int[] sequence = Arrays.copyOf(prompt, capacity);
                int length = prompt.length;
                int proposed = 0;
                int accepted = 0;
                try (CudaKvCache full = (CudaKvCache) gpu.newCache(new KvCacheSpec.Full(capacity));
                     CudaRetrievalKvCache retrieval = (CudaRetrievalKvCache) gpu.newCache(
                             new KvCacheSpec.Retrieval(budget, CHUNK, 8))) {  // a small tail: the store grows
                    gpu.forward(Arrays.copyOf(prompt, prompt.length - 1), full, 0);
                    retrieval.rebuild(full);
                    int builtAt = length;
                    while (length < prompt.length + newTokens) {
                        int[] proposal = new int[gamma];
                        int[] notInRetrieval = Arrays.copyOfRange(sequence, retrieval.length(), length);
                        int[] ids = gpu.greedyNext(notInRetrieval, retrieval, notInRetrieval.length);
                        proposal[0] = ids[ids.length - 1];
                        for (int i = 1; i < gamma; i++) {
                            proposal[i] = gpu.greedyNext(new int[] {proposal[i - 1]}, retrieval, 1)[0];
                        }
                        int[] unseen = Arrays.copyOfRange(sequence, full.length(), length);
                        int[] block = Arrays.copyOf(unseen, unseen.length + gamma);
                        System.arraycopy(proposal, 0, block, unseen.length, gamma);
                        int[] verdicts = gpu.greedyNext(block, full, block.length);
                        int base = length;
                        int k = 0;
                        while (k < gamma && proposal[k] == verdicts[unseen.length - 1 + k]) {
                            sequence[length++] = proposal[k++];
                        }
                        sequence[length++] = verdicts[unseen.length - 1 + k];
                        proposed += gamma;
                        accepted += k;
                        full.truncate(base + k);
                        retrieval.syncTail(full);
                        if (length - builtAt >= 16) {
                            retrieval.rebuild(full);
                            builtAt = length;
                        }
                    }
                }
                int[] actual = Arrays.copyOfRange(sequence, prompt.length, prompt.length + newTokens);
                System.out.printf("greedy speculation with the retrieval cache (budget %d): %d/%d proposals accepted%n",
                        budget, accepted, proposed);
                assertArrayEquals(expected, actual, "speculative and autoregressive greedy tokens differ");
            }
        }
    }

    private static boolean isAscending(int[] a) {
        for (int i = 1; i < a.length; i++) {
            if (a[i] <= a[i - 1]) {
                return false;
            }
        }
        return true;
    }
}
