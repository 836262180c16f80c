package io.triforce.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.kv.FullKvCache;
import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.kv.RetrievalKvCache;
import io.triforce.engine.model.RopeConfig;
import io.triforce.engine.tensor.DType;
import io.triforce.engine.testing.RandomCheckpoint;
import io.triforce.engine.testing.RandomModel;
import io.triforce.engine.testing.ScalarLlama;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CPU forward pass: the right function (against {@link ScalarLlama}, a plain double
 * implementation of Hugging Face's formulas) and the same bits however the tokens are fed
 * (one by one, in blocks of any size, in blocks longer than {@link CpuTransformer#BLOCK}, on
 * one thread or two).
 */
class ForwardPassTest {

    private static final Parallel TWO_THREADS = new Parallel(2);

    @TempDir
    Path dir;

    static Stream<RopeConfig> ropes() {
        return Stream.of(
                RopeConfig.unscaled(10_000),
                RopeConfig.linear(10_000, 4),
                RopeConfig.llama3(500_000, 8, 1, 4, 64),
                RopeConfig.yarn(10_000, 4, 64, 32, 1, true, RopeConfig.yarnAttentionFactor(4, 0, 0)));
    }

    static Stream<Arguments> layouts() {
        List<Arguments> all = new ArrayList<>();
        for (DType dtype : DType.values()) {
            for (int kvHeads : new int[] {4, 2, 1}) {
                for (RopeConfig rope : ropes().toList()) {
                    all.add(Arguments.of(dtype, kvHeads, rope));
                }
            }
        }
        return all.stream();
    }

    private static RandomCheckpoint.Builder tiny(DType dtype, int kvHeads, RopeConfig rope, long seed) {
        return RandomCheckpoint.builder().dim(64).layers(2).heads(4).kvHeads(kvHeads).headDim(64).hiddenDim(96)
                .vocab(48).dtype(dtype).rope(rope).tied(kvHeads == 2).maxPositions(1024).seed(seed);
    }

    /** Logits of every token, fed one forward pass at a time. */
    static float[][] oneByOne(Transformer model, KvCache cache, int[] tokens) {
        float[][] rows = new float[tokens.length][];
        for (int t = 0; t < tokens.length; t++) {
            rows[t] = model.forward(new int[] {tokens[t]}, cache, 1)[0];
        }
        return rows;
    }

    /** Logits of every token, fed in consecutive blocks of the given sizes. */
    static float[][] inBlocks(Transformer model, KvCache cache, int[] tokens, int... sizes) {
        float[][] rows = new float[tokens.length][];
        int at = 0;
        for (int size : sizes) {
            float[][] part = model.forward(Arrays.copyOfRange(tokens, at, at + size), cache, size);
            assertEquals(size, part.length);
            System.arraycopy(part, 0, rows, at, size);
            at += size;
        }
        assertEquals(tokens.length, at, "block sizes must cover the tokens");
        return rows;
    }

    private static void assertSameBits(float[][] expected, float[][] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int t = 0; t < expected.length; t++) {
            assertArrayEquals(expected[t], actual[t], what + ": row " + t);
        }
    }

    @ParameterizedTest(name = "{0} kvHeads={1} {2}")
    @MethodSource("layouts")
    void blockForwardGivesTheBitsOfTokenByToken(DType dtype, int kvHeads, RopeConfig rope) throws Exception {
        try (RandomModel m = RandomModel.load(tiny(dtype, kvHeads, rope, 11), dir)) {
            Transformer model = m.model();
            int n = CpuTransformer.BLOCK + 44; // one call spans two internal blocks
            int[] tokens = m.randomTokens(n, 5);
            float[][] reference = oneByOne(model, newFull(model), tokens);
            assertSameBits(reference, inBlocks(model, newFull(model), tokens, n), "one block of " + n);
            assertSameBits(reference, inBlocks(model, newFull(model), tokens, 1, 2, 3, 4, 5, 15, 16, 17, 33, 204),
                    "mixed blocks");
            assertSameBits(reference, inBlocks(model, newFull(model), tokens, CpuTransformer.BLOCK + 1, 43),
                    "BLOCK+1 then the rest");
            // fewer logit rows than tokens: the last rows, and the cache still absorbs them all
            KvCache cache = newFull(model);
            float[][] last = model.forward(Arrays.copyOf(tokens, 200), cache, 3);
            assertSameBits(Arrays.copyOfRange(reference, 197, 200), last, "last 3 rows");
            assertEquals(0, model.forward(Arrays.copyOfRange(tokens, 200, 210), cache, 0).length);
            assertSameBits(Arrays.copyOfRange(reference, 210, n),
                    inBlocks(model, cache, Arrays.copyOfRange(tokens, 210, n), n - 210), "after a logit-less block");
        }
    }

    @ParameterizedTest(name = "{0} kvHeads={1} {2}")
    @MethodSource("layouts")
    void cpuBackendComputesHuggingFacesLlama(DType dtype, int kvHeads, RopeConfig rope) throws Exception {
        try (RandomModel m = RandomModel.load(tiny(dtype, kvHeads, rope, 3), dir)) {
            ScalarLlama oracle = m.scalar();
            int[] tokens = m.randomTokens(40, 9);
            float[][] logits = inBlocks(m.model(), newFull(m.model()), tokens, 7, 33);
            for (int t = 0; t < tokens.length; t++) {
                double[] expected = oracle.forward(tokens[t], t, ScalarLlama.FULL);
                ScalarLlama.assertClose(expected, logits[t], 1e-4, "token " + t);
            }
        }
    }

    @Test
    void oracleAgreesAtPositionsBeyondTheOriginalContext() throws Exception {
        // long positions: slow rotations (the ones llama3/yarn rescale) turn noticeably, and a
        // long block spans CpuTransformer.BLOCK
        for (RopeConfig rope : ropes().toList()) {
            Path d = dir.resolve(rope.type());
            try (RandomModel m = RandomModel.load(tiny(DType.BF16, 2, rope, 21), d)) {
                ScalarLlama oracle = m.scalar();
                int[] tokens = m.randomTokens(300, 2);
                float[][] logits = inBlocks(m.model(), newFull(m.model()), tokens, 300);
                for (int t = 0; t < tokens.length; t++) {
                    double[] expected = oracle.forward(tokens[t], t, ScalarLlama.FULL);
                    if (t % 37 == 0 || t == tokens.length - 1) {
                        ScalarLlama.assertClose(expected, logits[t], 1e-4, rope.type() + " token " + t);
                    }
                }
            }
        }
    }

    @Test
    void oracleDetectsAWrongModel() throws Exception {
        // the oracle comparison is not vacuous: a different rope theta is caught
        try (RandomModel m = RandomModel.load(tiny(DType.F32, 2, RopeConfig.unscaled(10_000), 3), dir.resolve("a"));
             RandomModel other = RandomModel.load(tiny(DType.F32, 2, RopeConfig.unscaled(500_000), 3),
                     dir.resolve("b"))) {
            ScalarLlama oracle = other.scalar();
            int[] tokens = m.randomTokens(24, 9);
            float[][] logits = inBlocks(m.model(), newFull(m.model()), tokens, 24);
            double worst = 0;
            for (int t = 0; t < tokens.length; t++) {
                double[] expected = oracle.forward(tokens[t], t, ScalarLlama.FULL);
                float[] e = new float[expected.length];
                for (int i = 0; i < e.length; i++) {
                    e[i] = (float) expected[i];
                }
                worst = Math.max(worst, ScalarLlama.maxRelativeDifference(e, logits[t]));
            }
            assertTrue(worst > 1e-2, "a different theta should change the logits; max difference " + worst);
        }
    }

    @Test
    void oneAndTwoThreadsGiveTheSameBits() throws Exception {
        RandomCheckpoint.Builder builder = tiny(DType.BF16, 2, RopeConfig.llama3(500_000, 8, 1, 4, 64), 17)
                .hiddenDim(200).vocab(101);
        try (RandomModel one = RandomModel.load(builder, dir.resolve("one"), new Parallel(1));
             RandomModel two = RandomModel.load(builder, dir.resolve("two"), TWO_THREADS)) {
            int[] tokens = one.randomTokens(CpuTransformer.BLOCK + 30, 4);
            assertSameBits(inBlocks(one.model(), newFull(one.model()), tokens, tokens.length),
                    inBlocks(two.model(), newFull(two.model()), tokens, tokens.length), "one block");
            assertSameBits(oneByOne(one.model(), newFull(one.model()), tokens),
                    inBlocks(two.model(), newFull(two.model()), tokens, 9, 7, tokens.length - 16), "blocks");
        }
    }

    /** Every dtype, GQA and MHA, the rope types but linear (a plain rescale of default): fewer, for speed. */
    static Stream<Arguments> tailLayouts() {
        return layouts().filter(a -> (int) a.get()[1] != 1 && !((RopeConfig) a.get()[2]).type().equals(RopeConfig.LINEAR));
    }

    @ParameterizedTest(name = "{0} kvHeads={1} {2}")
    @MethodSource("tailLayouts")
    void retrievalTailBlockGivesTheBitsOfTokenByToken(DType dtype, int kvHeads, RopeConfig rope) throws Exception {
        try (RandomModel m = RandomModel.load(tiny(dtype, kvHeads, rope, 8), dir)) {
            Transformer model = m.model();
            int[] prompt = m.randomTokens(83, 1);
            int[] more = m.randomTokens(CpuTransformer.BLOCK + 20, 2);
            FullKvCache full = newFull(model);
            model.forward(prompt, full, 0);
            RetrievalKvCache a = (RetrievalKvCache) model.newCache(new KvCacheSpec.Retrieval(24, 8, 16));
            RetrievalKvCache b = (RetrievalKvCache) model.newCache(new KvCacheSpec.Retrieval(24, 8, 16));
            a.rebuild(full);
            b.rebuild(full);
            assertEquals(80, a.tailStart());
            assertEquals(83, a.length());
            float[][] reference = oneByOne(model, a, more);
            assertSameBits(reference, inBlocks(model, b, more, more.length), "tail block");
            RetrievalKvCache c = (RetrievalKvCache) model.newCache(new KvCacheSpec.Retrieval(24, 8, 16));
            c.rebuild(full);
            assertSameBits(reference, inBlocks(model, c, more, 1, 5, 16, 17, more.length - 39), "tail blocks");
        }
    }

    static FullKvCache newFull(Transformer model) {
        return (FullKvCache) model.newCache(new KvCacheSpec.Full(model.config().maxPositions()));
    }
}
