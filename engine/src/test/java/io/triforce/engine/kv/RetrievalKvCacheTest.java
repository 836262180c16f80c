package io.triforce.engine.kv;

import static io.triforce.engine.testing.ErrorMessages.assertMentions;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.model.RopeConfig;
import io.triforce.engine.tensor.DType;
import io.triforce.engine.testing.RandomCheckpoint;
import io.triforce.engine.testing.RandomModel;
import io.triforce.engine.testing.ScalarLlama;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The retrieval cache: which chunks it keeps (highest q . mean(chunk keys) summed over the GQA
 * group, chunk 0 always), that the kept chunks and the tail are attended at their original
 * positions (against {@link ScalarLlama}), that a budget covering the context is the full
 * cache, rollback, and that {@link RetrievalKvCache#syncTail} puts the target's own keys and
 * values in place of speculative ones.
 */
class RetrievalKvCacheTest {

    @TempDir
    static Path dir;
    private static RandomModel m;

    @BeforeAll
    static void load() {
        m = RandomModel.load(RandomCheckpoint.builder().dim(64).layers(2).heads(4).kvHeads(2).headDim(64)
                .hiddenDim(96).vocab(64).dtype(DType.F16).rope(RopeConfig.unscaled(10_000)).weightScale(2)
                .maxPositions(512).seed(41), dir);
    }

    @AfterAll
    static void close() throws Exception {
        m.close();
    }

    private static Transformer model() {
        return m.model();
    }

    private static FullKvCache full() {
        return (FullKvCache) model().newCache(new KvCacheSpec.Full(512));
    }

    private static RetrievalKvCache retrieval(int budget, int chunk) {
        return (RetrievalKvCache) model().newCache(new KvCacheSpec.Retrieval(budget, chunk, 16));
    }

    // ---- chunk selection --------------------------------------------------------------------

    /** A cache-only config: 4 query heads over 2 KV heads, head_dim 8, one layer. */
    private static final ModelConfig SMALL = new ModelConfig(16, 16, 1, 4, 2, 8, 10, 1e-5f, 64, false,
            RopeConfig.unscaled(10_000), 1, new int[] {2});

    private static float[] vec(double... v) {
        float[] f = new float[SMALL.headDim()];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }

    /** Fills chunk c of (layer 0, kvHead) with keys whose mean is {@code mean}, alternating +-spread on dim 0. */
    private static void putChunk(FullKvCache full, int kvHead, int c, int chunk, float[] mean, double spread) {
        for (int j = 0; j < chunk; j++) {
            float[] key = mean.clone();
            key[0] += (float) (j % 2 == 0 ? spread : -spread);
            full.slots(0, kvHead).put(c * chunk + j, key, 0, new float[SMALL.headDim()], 0);
        }
    }

    @Test
    void selectsByScoreSummedOverTheQueryHeadsOfEachKvHeadAndAlwaysKeepsChunkZero() {
        int chunk = 4;
        FullKvCache full = new FullKvCache(SMALL, 64);
        // KV head 0 serves query heads 0 and 1: q0 = e0, q1 = 3 e1. Chunk means and scores
        // (head 0 alone / head 1 alone / sum / max):
        //   chunk 0: -(e0 + e1)        -1    / -3    / -4    / -1   (worst, but the sink)
        //   chunk 1: 1.0 e0            1.0   / 0     / 1.0   / 1.0  (head 0's choice; its first key scores 4)
        //   chunk 2: 0.8 e1            0     / 2.4   / 2.4   / 2.4  (head 1's and max's choice)
        //   chunk 3: 0.9 e0 + 0.75 e1  0.9   / 2.25  / 3.15  / 2.25 (the sum's choice)
        //   chunk 4: 0.1 e2            0     / 0     / 0     / 0
        putChunk(full, 0, 0, chunk, vec(-1, -1), 0);
        putChunk(full, 0, 1, chunk, vec(1.0), 3);
        putChunk(full, 0, 2, chunk, vec(0, 0.8), 0);
        putChunk(full, 0, 3, chunk, vec(0.9, 0.75), 0.5);
        putChunk(full, 0, 4, chunk, vec(0, 0, 0.1), 0);
        // KV head 1 serves query heads 2 and 3, both e2: only chunk 4 points that way
        for (int c = 0; c < 5; c++) {
            putChunk(full, 1, c, chunk, c == 4 ? vec(0, 0, 1) : vec(0.5, 0.5), 0);
        }
        float[] q = new float[SMALL.qDim()];
        q[0] = 1;                       // head 0: e0
        q[SMALL.headDim() + 1] = 3;     // head 1: 3 e1
        q[2 * SMALL.headDim() + 2] = 1; // head 2: e2
        q[3 * SMALL.headDim() + 2] = 1; // head 3: e2
        full.recordLastQuery(0, q, 0);
        full.advance(5 * chunk + 2);    // 5 whole chunks and 2 tail tokens

        RetrievalKvCache two = new RetrievalKvCache(SMALL, 2 * chunk, chunk);
        two.rebuild(full);
        assertArrayEquals(new int[] {0, 3}, two.selectedChunks(0, 0), "summed over query heads 0 and 1");
        assertArrayEquals(new int[] {0, 4}, two.selectedChunks(0, 1), "per KV head");
        assertEquals(20, two.tailStart());
        assertEquals(22, two.length());

        RetrievalKvCache three = new RetrievalKvCache(SMALL, 3 * chunk + 3, chunk); // a partial chunk of budget is unused
        three.rebuild(full);
        assertArrayEquals(new int[] {0, 2, 3}, three.selectedChunks(0, 0));

        RetrievalKvCache one = new RetrievalKvCache(SMALL, chunk, chunk);
        one.rebuild(full);
        assertArrayEquals(new int[] {0}, one.selectedChunks(0, 0), "a one-chunk budget is the sink alone");
    }

    /** The chunks a correct retrieval cache keeps, by the rule written out in double. */
    private static int[] expectedSelection(FullKvCache full, int layer, int kvHead, int chunk, int budget) {
        ModelConfig c = full.config();
        int hd = c.headDim();
        int group = c.groupSize();
        int chunks = full.length() / chunk;
        int keep = Math.min(chunks, budget / chunk);
        float[] q = full.lastQuery(layer);
        double[] score = new double[chunks];
        float[] key = new float[hd];
        for (int ch = 0; ch < chunks; ch++) {
            double[] mean = new double[hd];
            for (int p = ch * chunk; p < (ch + 1) * chunk; p++) {
                full.slots(layer, kvHead).key(p, key, 0);
                for (int d = 0; d < hd; d++) {
                    mean[d] += key[d] / (double) chunk;
                }
            }
            for (int h = kvHead * group; h < (kvHead + 1) * group; h++) {
                for (int d = 0; d < hd; d++) {
                    score[ch] += q[h * hd + d] * mean[d];
                }
            }
        }
        Integer[] others = IntStream.range(1, chunks).boxed().toArray(Integer[]::new);
        Arrays.sort(others, Comparator.comparingDouble(ch -> -score[ch]));
        if (keep < chunks) {
            double gap = score[others[keep - 2]] - score[others[keep - 1]];
            assertTrue(gap > 1e-4 * Math.abs(score[others[keep - 2]]), "test data has a near tie; pick another seed");
        }
        int[] kept = new int[keep];
        for (int i = 1; i < keep; i++) {
            kept[i] = others[i - 1];
        }
        Arrays.sort(kept);
        return kept;
    }

    private static void assertSelection(FullKvCache full, RetrievalKvCache r) {
        for (int l = 0; l < m.config().nLayers(); l++) {
            for (int g = 0; g < m.config().nKvHeads(); g++) {
                assertArrayEquals(expectedSelection(full, l, g, r.chunk(), r.budget()), r.selectedChunks(l, g),
                        "layer " + l + " kv head " + g);
            }
        }
    }

    /** What a query of the retrieval cache sees: its kept chunks, then the tail, at their positions. */
    private static ScalarLlama.Visibility visibility(RetrievalKvCache r) {
        int layers = m.config().nLayers();
        int heads = m.config().nKvHeads();
        int[][][] kept = new int[layers][heads][];
        for (int l = 0; l < layers; l++) {
            for (int g = 0; g < heads; g++) {
                kept[l][g] = r.selectedChunks(l, g);
            }
        }
        int chunk = r.chunk();
        int tailStart = r.tailStart();
        return (layer, g, p) -> IntStream.concat(
                Arrays.stream(kept[layer][g]).flatMap(c -> IntStream.range(c * chunk, (c + 1) * chunk)),
                IntStream.rangeClosed(tailStart, p)).toArray();
    }

    // ---- attention over kept chunks and tail ----------------------------------------------------

    @Test
    void keptChunksAndTailAreAttendedAtTheirPositionsAndRebuildFollowsTheNewQuery() {
        int[] tokens = m.randomTokens(160, 1);
        ScalarLlama oracle = m.scalar();
        FullKvCache full = full();
        model().forward(Arrays.copyOf(tokens, 100), full, 0);
        for (int p = 0; p < 100; p++) {
            oracle.forward(tokens[p], p, ScalarLlama.FULL);
        }
        RetrievalKvCache r = retrieval(32, 8);
        r.rebuild(full);
        assertEquals(96, r.tailStart());
        assertEquals(100, r.length());
        assertSelection(full, r);
        ScalarLlama.Visibility first = visibility(r);
        long distinct = IntStream.range(0, 4).mapToObj(i -> Arrays.toString(r.selectedChunks(i / 2, i % 2)))
                .distinct().count();
        assertTrue(distinct > 1, "selections should differ between layers or heads for this test to mean something");

        // tail append: 20 tokens in blocks; each matches the oracle told the kept chunks + tail
        ScalarLlama unpruned = m.scalar();
        for (int p = 0; p < 100; p++) {
            unpruned.forward(tokens[p], p, ScalarLlama.FULL);
        }
        double pruningEffect = 0;
        int at = 100;
        for (int size : new int[] {1, 4, 7, 8}) {
            float[][] logits = model().forward(Arrays.copyOfRange(tokens, at, at + size), r, size);
            for (int i = 0; i < size; i++) {
                int p = at + i;
                double[] expected = oracle.forward(tokens[p], p, first);
                ScalarLlama.assertClose(expected, logits[i], 1e-4, "tail position " + p);
                double[] all = unpruned.forward(tokens[p], p, ScalarLlama.FULL);
                for (int v = 0; v < all.length; v++) {
                    pruningEffect = Math.max(pruningEffect, Math.abs(all[v] - expected[v]));
                }
            }
            at += size;
        }
        assertEquals(120, r.length());
        assertTrue(pruningEffect > 1e-2, "a budget of 32 of 100 tokens should change the logits: " + pruningEffect);

        // the target catches up (30 tokens over its full cache), the retrieval cache re-selects
        model().forward(Arrays.copyOfRange(tokens, 100, 130), full, 0);
        for (int p = 100; p < 130; p++) {
            oracle.forward(tokens[p], p, ScalarLlama.FULL);
        }
        r.rebuild(full);
        assertEquals(128, r.tailStart());
        assertEquals(130, r.length());
        assertSelection(full, r);
        ScalarLlama.Visibility second = visibility(r);
        float[][] logits = model().forward(Arrays.copyOfRange(tokens, 130, 150), r, 20);
        for (int p = 130; p < 150; p++) {
            ScalarLlama.assertClose(oracle.forward(tokens[p], p, second), logits[p - 130], 1e-4, "after rebuild " + p);
        }
    }

    @Test
    void aBudgetCoveringTheContextIsExactlyTheFullCache() {
        int[] tokens = m.randomTokens(90, 2);
        for (int budget : new int[] {56, 64, 1000}) {
            FullKvCache full = full();
            model().forward(Arrays.copyOf(tokens, 60), full, 0);
            RetrievalKvCache r = retrieval(budget, 8);
            r.rebuild(full);
            assertArrayEquals(IntStream.range(0, 7).toArray(), r.selectedChunks(1, 1));
            float[][] expected = model().forward(Arrays.copyOfRange(tokens, 60, 90), full, 30);
            float[][] actual = model().forward(Arrays.copyOfRange(tokens, 60, 90), r, 30);
            for (int t = 0; t < 30; t++) {
                assertArrayEquals(expected[t], actual[t], "budget " + budget + " position " + (60 + t));
            }
        }
        // one chunk short of the context and the logits differ
        FullKvCache full = full();
        model().forward(Arrays.copyOf(tokens, 60), full, 0);
        RetrievalKvCache r = retrieval(48, 8);
        r.rebuild(full);
        float[] expected = model().forward(new int[] {tokens[60]}, full, 1)[0];
        float[] actual = model().forward(new int[] {tokens[60]}, r, 1)[0];
        assertTrue(ScalarLlama.maxRelativeDifference(expected, actual) > 1e-4);
    }

    // ---- rollback and sync ----------------------------------------------------------------------

    @Test
    void rollsBackWithinTheTailOnly() {
        int[] tokens = m.randomTokens(110, 3);
        FullKvCache full = full();
        model().forward(Arrays.copyOf(tokens, 100), full, 0);
        RetrievalKvCache r = retrieval(32, 8);
        r.rebuild(full);
        float[][] first = model().forward(Arrays.copyOfRange(tokens, 100, 105), r, 5);
        model().forward(m.randomTokens(3, 4), r, 3); // a rejected speculation
        assertEquals(108, r.length());
        r.truncate(102);
        float[][] again = model().forward(Arrays.copyOfRange(tokens, 102, 105), r, 3);
        for (int i = 0; i < 3; i++) {
            assertArrayEquals(first[2 + i], again[i], "position " + (102 + i));
        }
        r.truncate(96); // the tail's start is the earliest point
        assertEquals(96, r.length());
        IllegalArgumentException below = assertThrows(IllegalArgumentException.class, () -> r.truncate(95));
        assertMentions(below, "tail from 96", "95");
        IllegalArgumentException ahead = assertThrows(IllegalArgumentException.class, () -> r.truncate(97));
        assertMentions(ahead, "97");
        assertEquals(96, r.length());
    }

    @Test
    void syncTailReplacesSpeculativeEntriesWithTheTargetsOwn() {
        int[] tokens = m.randomTokens(120, 5);
        ScalarLlama oracle = m.scalar();
        FullKvCache full = full();
        model().forward(Arrays.copyOf(tokens, 100), full, 0);
        for (int p = 0; p < 100; p++) {
            oracle.forward(tokens[p], p, ScalarLlama.FULL);
        }
        RetrievalKvCache synced = retrieval(32, 8);
        RetrievalKvCache unsynced = retrieval(32, 8);
        synced.rebuild(full);
        unsynced.rebuild(full);
        ScalarLlama.Visibility seen = visibility(synced);
        // level 2 runs ahead on its own: 6 speculative tokens with keys/values of its own making
        model().forward(Arrays.copyOfRange(tokens, 100, 106), synced, 0);
        model().forward(Arrays.copyOfRange(tokens, 100, 106), unsynced, 0);
        // the target verifies and keeps 4 of them
        model().forward(Arrays.copyOfRange(tokens, 100, 104), full, 0);
        for (int p = 100; p < 104; p++) {
            oracle.forward(tokens[p], p, ScalarLlama.FULL);
        }
        synced.syncTail(full);
        assertEquals(104, synced.length(), "rolled back to the target's length");
        unsynced.truncate(104);

        double[] expected = oracle.forward(tokens[104], 104, seen);
        float[] withSync = model().forward(new int[] {tokens[104]}, synced, 1)[0];
        float[] withoutSync = model().forward(new int[] {tokens[104]}, unsynced, 1)[0];
        ScalarLlama.assertClose(expected, withSync, 1e-4, "synced tail");
        float[] expectedF = new float[expected.length];
        for (int i = 0; i < expected.length; i++) {
            expectedF[i] = (float) expected[i];
        }
        assertTrue(ScalarLlama.maxRelativeDifference(expectedF, withoutSync) > 1e-3,
                "the retrieval cache's own tail entries differ from the target's (else the test proves nothing)");

        // the target ran further than level 2 (all accepted + bonus): sync copies what it lacks
        model().forward(Arrays.copyOfRange(tokens, 104, 110), full, 0);
        for (int p = 104; p < 110; p++) {
            oracle.forward(tokens[p], p, ScalarLlama.FULL);
        }
        synced.syncTail(full);
        assertEquals(110, synced.length());
        ScalarLlama.assertClose(oracle.forward(tokens[110], 110, seen),
                model().forward(new int[] {tokens[110]}, synced, 1)[0], 1e-4, "after catching up");
    }

    @Test
    void syncTailRefusesAFullCacheBehindTheTailAndBadBudgetsAreRefused() {
        int[] tokens = m.randomTokens(60, 6);
        FullKvCache full = full();
        model().forward(tokens, full, 0);
        RetrievalKvCache r = retrieval(16, 8);
        r.rebuild(full);
        full.truncate(50);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> r.syncTail(full));
        assertMentions(e, "50", "56", "rebuild");
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> retrieval(4, 8));
        assertMentions(bad, "budget >= chunk");
    }
}
