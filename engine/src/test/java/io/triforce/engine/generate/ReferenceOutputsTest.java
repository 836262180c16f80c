package io.triforce.engine.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.testing.ReferenceOutputs;
import java.util.List;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The oracle ({@link ReferenceOutputs}): on the CPU backend both trained models give Hugging
 * Face's greedy continuations exactly and its top-5 logits within 2e-3.
 */
class ReferenceOutputsTest {

    private static final double LOGIT_TOLERANCE = 2e-3;

    @TestFactory
    List<DynamicTest> matchesHuggingFace() throws Exception {
        return ReferenceOutputs.tests(new CpuBackend(), c -> {
            assertEquals(-1, c.firstDivergence(), "greedy_48 differs from the reference at token " + c.firstDivergence());
            assertTrue(c.top5Error() <= LOGIT_TOLERANCE, "top-5 logits off by " + c.top5Error());
        });
    }
}
