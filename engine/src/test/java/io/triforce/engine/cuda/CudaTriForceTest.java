package io.triforce.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.Generation;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.model.LlamaWeights;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.spec.RebuildPolicy;
import io.triforce.engine.spec.TriForceConfig;
import io.triforce.engine.spec.TriForceDecoder;
import io.triforce.engine.testing.RequiresGpu;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The whole TriForce decoder with the target on the GPU (levels 2 and 3: retrieval and full
 * caches on the device) and the draft on the CPU or the GPU (its StreamingLLM cache there): greedy
 * output equals greedy autoregressive decoding on the GPU. Skipped where no CUDA GPU is present.
 */
@RequiresGpu
class CudaTriForceTest {

    /**
     * A budget of a few chunks (level 2 often wrong) and one covering the prompt (level 2 = target);
     * also with three and eight queries a KV head (Llama-3.2-3B, TinyLlama). The draft's window of
     * 64 fills during the prompt, so on the GPU it moves a token a step.
     */
    @ParameterizedTest
    @CsvSource({"pycode-target, -1, 64, false", "pycode-target, -1, 64, true", "pycode-target, -1, 512, false",
                "pycode-target, -1, 512, true", "llama32-3b, 2, 512, true", "tinyllama-1.1b, 2, 512, false"})
    void greedyTriForceOnTheGpuEqualsGreedyAutoregressive(String shape, int layers, int budget, boolean draftOnGpu) {
        Generation triforce = assertTriForceEqualsAutoregressive(ModelShapes.get(shape, layers), 300, 48,
                new TriForceConfig(2, 6, budget, 8, 4, 64, new RebuildPolicy.AtPrefill()), draftOnGpu);
        if (budget >= 300) {
            assertTrue(triforce.stats().targetForwardPasses() < triforce.tokens().length,
                    "speculation saved target passes: " + triforce.stats().targetForwardPasses());
        }
    }

    /**
     * An 8K-token prompt, so the full cache's attention splits hold two 64-key tiles (a row's running
     * maximum moves inside a split), verified 16 tokens at a time (32 query rows a KV head: on Hopper
     * the wgmma attention) against decoding one token at a time. The budget covers the prompt, so
     * level 2 proposes what the target would and the verify blocks are long.
     */
    @Test
    void greedyTriForceOnTheGpuEqualsGreedyAutoregressiveOverALongPrompt() {
        ModelConfig config = ModelShapes.get("pycode-target", 2);
        int promptLength = 8150;
        int newTokens = 64;
        TriForceConfig settings = new TriForceConfig(2, 15, 8192, 8, 4, 64, new RebuildPolicy.AtPrefill());
        int split = CudaKvCache.splitLength(
                KvCacheSpec.Full.capacityFor(config, promptLength, newTokens, settings.gamma2() + 1), config);
        assertTrue(split >= 128, "splits of " + split + " keys");
        Generation triforce = assertTriForceEqualsAutoregressive(config, promptLength, newTokens, settings, true);
        assertTrue(triforce.stats().targetForwardPasses() * 4 <= triforce.tokens().length,
                "verify blocks of several tokens: " + triforce.stats().targetForwardPasses() + " target passes");
    }

    /**
     * Greedy TriForce (target on the GPU, the draft, same random weights, on the GPU or the CPU)
     * against greedy AR on the GPU.
     */
    private static Generation assertTriForceEqualsAutoregressive(ModelConfig config, int promptLength, int newTokens,
                                                                 TriForceConfig settings, boolean draftOnGpu) {
        try (Arena arena = Arena.ofShared()) {
            LlamaWeights weights = RandomWeights.create(config, 9, arena);
            try (CudaTransformer gpu = new CudaBackend().load(weights);
                 Transformer draft = (draftOnGpu ? new CudaBackend() : new CpuBackend()).load(weights)) {
                int[] prompt = new Random(13).ints(promptLength, 1, config.vocabSize()).toArray();
                Generation ar = new AutoregressiveDecoder(gpu).generate(prompt, newTokens, SamplingParams.GREEDY,
                        TokenSink.IGNORE);
                Generation triforce = new TriForceDecoder(gpu, draft, settings).generate(prompt, newTokens,
                        SamplingParams.GREEDY, TokenSink.IGNORE);
                assertArrayEquals(ar.tokens(), triforce.tokens());
                System.out.printf("prompt %d, budget %d, draft on the %s: %d tokens, %d target passes, level-1"
                        + " acceptance %.2f, level-2 %.2f%n", promptLength, settings.budget(), draftOnGpu ? "GPU" : "CPU",
                        triforce.tokens().length, triforce.stats().targetForwardPasses(),
                        triforce.stats().level1().acceptance(), triforce.stats().level2().acceptance());
                return triforce;
            }
        }
    }
}
