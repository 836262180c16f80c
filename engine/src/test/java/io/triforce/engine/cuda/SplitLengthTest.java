package io.triforce.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.model.RopeConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The attention split rule of {@link CudaKvCache} (no GPU needed: it is arithmetic on the shape). */
class SplitLengthTest {

    /**
     * Every split is whole 64-key tiles, at every capacity, for any number of query heads a KV head
     * (Llama-3.2-3B has three). From 256 keys a query head, it is shortened only while fewer than 256
     * (split, KV head) blocks remain and a half split is still whole tiles, and lengthened only while
     * the longer split still leaves the rule's minimum (512 blocks, 256 with grouped queries).
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 8})
    void splitsAreWholeTilesAndFollowTheBlockCounts(int group) {
        ModelConfig c = shape(group);
        int start = 256 * group;
        int minBlocks = group > 1 ? 256 : 512;
        for (int capacity = 1; capacity <= 300_000; capacity += capacity < 10_000 ? 37 : 4_099) {
            int split = CudaKvCache.splitLength(capacity, c);
            long slotsTimesHeads = (long) capacity * c.nKvHeads();
            String at = "group " + group + ", capacity " + capacity + ": split " + split;
            assertTrue(split >= 64 && split % 64 == 0, at + " is not whole tiles");
            if (split <= start) {
                assertTrue(slotsTimesHeads / split >= 256 || split % 128 != 0, at + " could be shorter");
                assertTrue(2L * split * minBlocks > slotsTimesHeads, at + " could be longer");
            }
            if (split < start) {
                assertTrue(slotsTimesHeads / (2L * split) < 256, at + " is shorter than needed");
            }
            if (split > start) {
                assertTrue(slotsTimesHeads >= (long) split * minBlocks, at + " leaves too few blocks");
                assertTrue(2L * split * minBlocks > slotsTimesHeads, at + " could be longer");
            }
        }
    }

    /** The figures PERFORMANCE.md measured the rule at. */
    @Test
    void benchmarkCachesSplitAsMeasured() {
        assertEquals(256, CudaKvCache.splitLength(4096 + 64, ModelShapes.get("llama2-7b")));
        assertEquals(4096, CudaKvCache.splitLength(65536 + 64, ModelShapes.get("llama2-7b")));
        assertEquals(1024, CudaKvCache.splitLength(32768 + 64, ModelShapes.get("llama31-8b")));
        assertEquals(4096, CudaKvCache.splitLength(131072 + 64, ModelShapes.get("llama31-8b")));
        assertEquals(192, CudaKvCache.splitLength(4608, ModelShapes.get("llama32-3b")));
    }

    private static ModelConfig shape(int group) {
        return new ModelConfig(64 * 8 * group, 1024, 2, 8 * group, 8, 64, 1000, 1e-5f, 1 << 20, false,
                RopeConfig.unscaled(10_000), 1, new int[] {2});
    }
}
