package io.triforce.engine.spec;

import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.testing.TrainedPair;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Greedy TriForce on the trained pair commits exactly the target's own greedy tokens. */
class TriForceGreedyTest {

    private static TrainedPair pair;

    @BeforeAll
    static void load() {
        pair = TrainedPair.load(new CpuBackend(), new CpuBackend());
    }

    @AfterAll
    static void close() throws Exception {
        if (pair != null) { // without ../shared, load() was skipped and nothing was opened
            pair.close();
        }
    }

    @ParameterizedTest(name = "doc {0}, context {1}, budget {2}")
    @CsvSource({"0, 1024, 256", "1, 1024, 2048", "2, 2048, 512"})
    void greedyTriForceEqualsAutoregressive(int doc, int context, int budget) {
        pair.assertTriForceEqualsAutoregressive(doc, context, budget, 64);
    }
}
