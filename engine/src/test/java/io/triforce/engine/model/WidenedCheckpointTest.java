package io.triforce.engine.model;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.tensor.DType;
import io.triforce.engine.testing.RandomCheckpoint;
import io.triforce.engine.testing.WidenedCheckpoint;
import io.triforce.engine.testing.WidenedCheckpoint.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static io.triforce.engine.testing.ErrorMessages.assertMentions;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A widened checkpoint (the GPU's stand-in for a large trained model) computes its source's logits. */
class WidenedCheckpointTest {

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0} tied={1} -> kvHeads {2}, {3} shards")
    @CsvSource({"F32, true, 4, 2", "F32, false, 8, 1", "BF16, true, 4, 3"})
    void givesTheSourcesLogits(DType dtype, boolean tied, int wideKvHeads, int shards) throws Exception {
        Path source = dir.resolve("source");
        RandomCheckpoint.builder().dim(128).layers(2).heads(2).kvHeads(1).headDim(64).hiddenDim(96).vocab(50)
                .dtype(dtype).tied(tied).weightScale(4).seed(3).writeTo(source);
        Path wide = dir.resolve("wide");
        WidenedCheckpoint.write(source, wide, new Shape(512, 8, wideKvHeads, 160, 3), shards);
        assertEquals(shards > 1, Files.exists(wide.resolve("model.safetensors.index.json")));

        int[] tokens = new Random(5).ints(40, 0, 50).toArray();
        float[][] expected = logits(source, tokens);
        try (LlamaCheckpoint ckpt = CheckpointLoader.load(wide)) {
            ModelConfig c = ckpt.config();
            assertEquals(512, c.dim());
            assertEquals(8, c.nHeads());
            assertEquals(wideKvHeads, c.nKvHeads());
            assertEquals(160, c.hiddenDim());
            assertEquals(3, c.nLayers());
        }
        float[][] actual = logits(wide, tokens);
        double worst = 0;
        for (int t = 0; t < tokens.length; t++) {
            for (int v = 0; v < expected[t].length; v++) {
                worst = Math.max(worst, Math.abs(expected[t][v] - actual[t][v]));
            }
        }
        // the same function up to fp32 rounding (the norms' scale, their sums over the wider dim)
        assertTrue(worst < 2e-4, "max |logit difference| " + worst);
    }

    @Test
    void aYarnFactorStretchesThePositions() throws Exception {
        Path source = dir.resolve("source");
        RandomCheckpoint.builder().dim(128).layers(1).heads(2).kvHeads(1).headDim(64).vocab(20).maxPositions(1024)
                .writeTo(source);
        Path wide = dir.resolve("wide");
        WidenedCheckpoint.write(source, wide, new Shape(512, 8, 8, 128, 1, 4), 1);
        try (LlamaCheckpoint ckpt = CheckpointLoader.load(wide)) {
            assertEquals(4096, ckpt.config().maxPositions());
            assertEquals("yarn", ckpt.config().rope().type());
            assertEquals(4, ckpt.config().rope().factor());
        }
        Path twice = dir.resolve("twice");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> WidenedCheckpoint.write(wide, twice, new Shape(512, 8, 8, 128, 1, 2), 1));
        assertMentions(e, "without RoPE scaling");
    }

    @Test
    void aWiderGroupAcrossTwoSourceGroupsIsRefused() throws Exception {
        Path source = dir.resolve("source");
        RandomCheckpoint.builder().dim(128).layers(1).heads(2).kvHeads(1).headDim(64).vocab(20).writeTo(source);
        // 8 heads over 2 key/value heads: a wider group of 4 query heads, where the source's has 2
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> WidenedCheckpoint.write(source, dir.resolve("wide"), new Shape(512, 8, 2, 128, 1), 1));
        assertMentions(e, "must lie inside one source group");
    }

    private static float[][] logits(Path dir, int[] tokens) throws Exception {
        try (LlamaCheckpoint ckpt = CheckpointLoader.load(dir)) {
            Transformer model = new CpuBackend().load(ckpt.weights());
            return model.forward(tokens, model.newCache(new KvCacheSpec.Full(64)), tokens.length);
        }
    }
}
