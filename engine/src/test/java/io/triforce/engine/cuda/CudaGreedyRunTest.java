package io.triforce.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.triforce.engine.backend.GreedyRun;
import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.model.LlamaWeights;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.testing.RequiresGpu;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A greedy run on the GPU (each step's pick fed to the next step on the device, a step queued
 * ahead of the host) against greedyNext token by token: the same picks, and a cache left as the
 * token-by-token loop leaves it, full or StreamingLLM. Skipped where no CUDA GPU is present.
 */
@RequiresGpu
class CudaGreedyRunTest {

    /** A full cache (the target's), and a StreamingLLM cache (the draft's) whose window fills during the runs. */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void picksAndCacheAreThoseOfGreedyNextTokenByToken(boolean streaming) {
        KvCacheSpec spec = streaming ? new KvCacheSpec.Streaming(4, 48, 6) : new KvCacheSpec.Full(512);
        ModelConfig config = ModelShapes.get("pycode-target", 2);
        try (Arena arena = Arena.ofShared()) {
            LlamaWeights weights = RandomWeights.create(config, 21, arena);
            try (CudaTransformer gpu = new CudaBackend().load(weights);
                 KvCache run = gpu.newCache(spec);
                 KvCache loop = gpu.newCache(spec)) {
                int[] prompt = new Random(4).ints(streaming ? 20 : 200, 0, config.vocabSize()).toArray();
                int[] head = Arrays.copyOf(prompt, prompt.length - 1);
                gpu.forward(head, run, 0);
                gpu.forward(head, loop, 0);
                int last = prompt[prompt.length - 1];
                assertThrows(IllegalArgumentException.class, () -> gpu.greedyRun(config.vocabSize(), run, 3),
                        "a token outside the vocabulary");
                for (int[] lengths : new int[][] {{30, 40}, {12, 12}, {1, 5}}) {   // picks taken, the run's limit
                    int[] picks = new int[lengths[0]];
                    try (GreedyRun r = gpu.greedyRun(last, run, lengths[1])) {
                        for (int i = 0; i < picks.length; i++) {
                            picks[i] = r.next();
                        }
                        if (lengths[0] == lengths[1]) {
                            assertThrows(IllegalStateException.class, r::next, "past the limit");
                        }
                        assertThrows(IllegalStateException.class, () -> gpu.greedyNext(new int[] {1}, loop, 1),
                                "no other step while a run steps on from the device's parameters");
                    }
                    for (int i = 0; i < picks.length; i++) {
                        last = gpu.greedyNext(new int[] {last}, loop, 1)[0];
                        assertEquals(last, picks[i], "pick " + i + " of " + Arrays.toString(lengths));
                    }
                    assertEquals(loop.length(), run.length(), "the cache holds the tokens fed, not the step run ahead");
                }
                // what the caches hold gives the same bits from here on
                assertArrayEquals(gpu.forward(new int[] {last}, loop, 1)[0], gpu.forward(new int[] {last}, run, 1)[0]);
            }
        }
    }
}
