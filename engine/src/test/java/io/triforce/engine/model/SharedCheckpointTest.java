package io.triforce.engine.model;

import io.triforce.engine.tensor.DType;
import io.triforce.engine.tensor.Tensor;
import io.triforce.engine.testing.SharedData;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Loads the project's trained target model from ../shared (skipped when it is absent). */
class SharedCheckpointTest {

    @Test
    void loadsPycodeTarget() throws Exception {
        try (LlamaCheckpoint ckpt = CheckpointLoader.load(SharedData.require(SharedData.TARGET))) {
            ModelConfig c = ckpt.config();
            assertEquals(512, c.dim());
            assertEquals(1536, c.hiddenDim());
            assertEquals(6, c.nLayers());
            assertEquals(8, c.nHeads());
            assertEquals(4, c.nKvHeads());
            assertEquals(64, c.headDim());
            assertEquals(8192, c.vocabSize());
            assertEquals(8192, c.maxPositions());
            assertEquals(1e-5f, c.normEps());
            assertTrue(c.tiedEmbeddings());
            assertEquals(RopeConfig.unscaled(500_000), c.rope());
            assertEquals(0, c.bosTokenId());
            assertArrayEquals(new int[] {0}, c.eosTokenIds());

            LlamaWeights w = ckpt.weights();
            assertSame(w.tokenEmbedding(), w.lmHead());
            assertEquals(DType.BF16, w.layers()[5].wDown().dtype());
            assertTrue(w.layers()[5].wDown().data().isMapped());
            Tensor norm = w.finalNorm();
            // reference values read from the file with NumPy
            assertArrayEquals(new float[] {1.7734375f, 1.6953125f, 1.5859375f},
                    new float[] {norm.get(0), norm.get(1), norm.get(2)});
            double sum = 0;
            for (float v : norm.toFloatArray()) {
                sum += v;
            }
            assertEquals(877.359375, sum);
        }
    }
}
