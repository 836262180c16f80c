package io.triforce.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.testing.ReferenceOutputs;
import io.triforce.engine.testing.RequiresGpu;
import io.triforce.engine.testing.TrainedPair;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The trained pair (the shared directory's checkpoints, {@code $TRIFORCE_SHARED}) on the GPU: the
 * CUDA backend computes Hugging Face's function (see {@link #matchesHuggingFace}), and greedy
 * TriForce with the target and the draft on the GPU commits greedy AR's tokens on 4K- and
 * 8K-token prompts of real documents. Skipped without a GPU or without the shared directory.
 */
@RequiresGpu
class CudaTrainedPairTest {

    /**
     * How far a logit may be from the reference's fp32 forward. The GPU keeps keys and values in
     * bf16 (8 significant bits), where the CPU backend, within 2e-3 of the reference, keeps them in
     * fp32; on an H100 the 8 reference prompts' top-5 logits (up to 12.6) came within 0.044.
     */
    private static final double LOGIT_TOLERANCE = 0.1;

    private static TrainedPair pair;

    @BeforeAll
    static void load() {
        pair = TrainedPair.load(new CudaBackend(), new CudaBackend());
    }

    @AfterAll
    static void close() throws Exception {
        if (pair != null) { // without ../shared, load() was skipped and nothing was opened
            pair.close();
        }
    }

    /**
     * The reference's 5 largest logits within {@link #LOGIT_TOLERANCE}, and its 48 greedy tokens:
     * fed back along the reference's path, each step's best logit exceeds the reference token's by
     * at most the tolerance. So where greedy decoding on the GPU leaves the reference's path, it is
     * at a near-tie the two computations may break either way.
     */
    @TestFactory
    List<DynamicTest> matchesHuggingFace() throws Exception {
        return ReferenceOutputs.tests(new CudaBackend(), c -> {
            assertTrue(c.top5Error() <= LOGIT_TOLERANCE, "top-5 logits off by " + c.top5Error());
            assertTrue(c.largestPathGap() <= LOGIT_TOLERANCE, "the reference's greedy token trails the best by "
                    + c.largestPathGap());
        });
    }

    @ParameterizedTest(name = "doc {0}, context {1}, budget {2}")
    @CsvSource({"0, 8000, 512", "1, 8000, 1024", "2, 4096, 256"})
    void greedyTriForceOnTheGpuEqualsAutoregressive(int doc, int context, int budget) {
        pair.assertTriForceEqualsAutoregressive(doc, context, budget, 128);
    }
}
