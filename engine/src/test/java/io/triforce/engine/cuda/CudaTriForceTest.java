package io.triforce.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.Generation;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.model.LlamaWeights;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.spec.RebuildPolicy;
import io.triforce.engine.spec.TriForceConfig;
import io.triforce.engine.spec.TriForceDecoder;
import io.triforce.engine.testing.RequiresGpu;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The whole TriForce decoder with the target on the GPU (levels 2 and 3: retrieval and full
 * caches on the device) and the draft on the CPU: greedy output equals greedy autoregressive
 * decoding on the GPU. Skipped where no CUDA GPU is present.
 */
@RequiresGpu
class CudaTriForceTest {

    /** A budget of a few chunks (level 2 often wrong) and one covering the prompt (level 2 = target). */
    @ParameterizedTest
    @ValueSource(ints = {64, 512})
    void greedyTriForceOnTheGpuEqualsGreedyAutoregressive(int budget) {
        ModelConfig config = ModelShapes.get("pycode-target");
        int newTokens = 48;
        try (Arena arena = Arena.ofShared()) {
            LlamaWeights weights = RandomWeights.create(config, 9, arena);
            try (CudaTransformer gpu = new CudaBackend().load(weights);
                 Transformer draft = new CpuBackend().load(weights)) {
                int[] prompt = new Random(13).ints(300, 1, config.vocabSize()).toArray();
                Generation ar = new AutoregressiveDecoder(gpu).generate(prompt, newTokens, SamplingParams.GREEDY,
                        TokenSink.IGNORE);
                TriForceConfig settings = new TriForceConfig(2, 6, budget, 8, 4, 64, new RebuildPolicy.AtPrefill());
                Generation triforce = new TriForceDecoder(gpu, draft, settings).generate(prompt, newTokens,
                        SamplingParams.GREEDY, TokenSink.IGNORE);
                assertArrayEquals(ar.tokens(), triforce.tokens());
                if (budget >= prompt.length) {
                    assertTrue(triforce.stats().targetForwardPasses() < triforce.tokens().length,
                            "speculation saved target passes: " + triforce.stats().targetForwardPasses());
                }
                System.out.printf("budget %d: %d tokens, %d target passes, level-2 acceptance %.2f%n", budget,
                        triforce.tokens().length, triforce.stats().targetForwardPasses(),
                        triforce.stats().level2().acceptance());
            }
        }
    }
}
