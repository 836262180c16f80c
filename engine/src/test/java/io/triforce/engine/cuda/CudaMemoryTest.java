package io.triforce.engine.cuda;

import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.model.LlamaWeights;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.spec.TriForceConfig;
import io.triforce.engine.spec.TriForceDecoder;
import io.triforce.engine.testing.RequiresGpu;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A serving process runs generation after generation: every cache a generation creates on the
 * device (TriForce's three: full, retrieval, and the draft's StreamingLLM cache with its graphs)
 * is freed when it ends, so free device memory comes back to where it was. Skipped where no CUDA
 * GPU is present.
 */
@RequiresGpu
class CudaMemoryTest {

    private static final long SLACK = 8L << 20; // allocation granularity and the driver's own bookkeeping

    private static long freeBytes() {
        CudaDevice.get().use();
        long[] free = new long[1];
        long[] total = new long[1];
        cuMemGetInfo(free, total);
        return free[0];
    }

    @Test
    void generationsGiveTheirDeviceMemoryBack() {
        ModelConfig config = ModelShapes.get("pycode-target");
        try (Arena arena = Arena.ofShared()) {
            LlamaWeights weights = RandomWeights.create(config, 3, arena);
            try (CudaTransformer gpu = new CudaBackend().load(weights)) {
                int[] prompt = new Random(2).ints(2000, 1, config.vocabSize()).toArray();
                new AutoregressiveDecoder(gpu).generate(prompt, 4, SamplingParams.GREEDY, TokenSink.IGNORE); // warm-up
                long before = freeBytes();
                try (KvCache big = gpu.newCache(new KvCacheSpec.Full(60_000))) {
                    assertTrue(before - freeBytes() > 100L << 20, "a 60K-token cache takes device memory");
                }
                for (int i = 0; i < 8; i++) {
                    new AutoregressiveDecoder(gpu).generate(prompt, 8, SamplingParams.GREEDY, TokenSink.IGNORE);
                    // the target drafting for itself over a StreamingLLM cache on the GPU
                    new TriForceDecoder(gpu, gpu, TriForceConfig.DEFAULTS).generate(prompt, 8, SamplingParams.GREEDY,
                            TokenSink.IGNORE);
                }
                long after = freeBytes();
                assertTrue(before - after < SLACK, "device memory leaked: " + ((before - after) >> 20) + " MiB after "
                        + "a 60K cache, 8 autoregressive and 8 TriForce generations");
            }
        }
    }
}
