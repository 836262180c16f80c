package io.triforce.engine.kv;

import static io.triforce.engine.testing.ErrorMessages.assertMentions;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.model.RopeConfig;
import io.triforce.engine.tensor.DType;
import io.triforce.engine.testing.RandomCheckpoint;
import io.triforce.engine.testing.RandomModel;
import io.triforce.engine.testing.ScalarLlama;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The StreamingLLM cache attends exactly the sinks plus the recent window, with keys rotated to
 * their index in that list (checked against {@link ScalarLlama} told the same rule), and rolls
 * back within its slack.
 */
class StreamingKvCacheTest {

    @TempDir
    static Path dir;
    private static RandomModel m;

    @BeforeAll
    static void load() {
        m = RandomModel.load(RandomCheckpoint.builder().dim(64).layers(2).heads(4).kvHeads(2).headDim(64)
                .hiddenDim(96).vocab(64).dtype(DType.BF16).rope(RopeConfig.llama3(500_000, 8, 1, 4, 16))
                .weightScale(2).maxPositions(512).seed(31), dir);
    }

    @AfterAll
    static void close() throws Exception {
        m.close();
    }

    private static StreamingKvCache streaming(int sinks, int window, int slack) {
        return (StreamingKvCache) m.model().newCache(new KvCacheSpec.Streaming(sinks, window, slack));
    }

    /**
     * StreamingLLM written from its definition: the first {@code sinks} positions plus the
     * {@code window} most recent ones (the query's own included), minus positions never stored.
     */
    private static ScalarLlama.Visibility streamingRule(int sinks, int window, int skippedFrom, int skippedTo) {
        return new ScalarLlama.Visibility() {
            @Override
            public int[] attended(int layer, int kvHead, int p) {
                return IntStream.rangeClosed(0, p)
                        .filter(i -> i < sinks || i > p - window)
                        .filter(i -> i < skippedFrom || i >= skippedTo)
                        .toArray();
            }

            @Override
            public boolean rerotate() {
                return true;
            }
        };
    }

    private static float[] row(Transformer model, int token, KvCache cache) {
        return model.forward(new int[] {token}, cache, 1)[0];
    }

    /** Feeds tokens one by one (a streaming cache takes at most slack + 1 per block once full). */
    private static void feed(KvCache cache, int[] tokens) {
        for (int token : tokens) {
            m.model().forward(new int[] {token}, cache, 0);
        }
    }

    @ParameterizedTest(name = "sinks={0} window={1} slack={2}, blocks of {3}")
    @CsvSource({"2, 8, 3, 1", "2, 8, 3, 4", "0, 5, 0, 1", "4, 1, 2, 3", "1, 16, 6, 7"})
    void attendsSinksAndWindowWithKeysAtTheirInCacheIndex(int sinks, int window, int slack, int block) {
        int n = 60;
        int[] tokens = m.randomTokens(n, 1);
        StreamingKvCache cache = streaming(sinks, window, slack);
        ScalarLlama oracle = m.scalar();
        ScalarLlama.Visibility rule = streamingRule(sinks, window, 0, 0);
        ScalarLlama full = m.scalar();
        double evictionEffect = 0;
        for (int at = 0; at < n; at += block) {
            int size = Math.min(block, n - at);
            float[][] logits = m.model().forward(Arrays.copyOfRange(tokens, at, at + size), cache, size);
            for (int i = 0; i < size; i++) {
                int p = at + i;
                double[] expected = oracle.forward(tokens[p], p, rule);
                ScalarLlama.assertClose(expected, logits[i], 1e-4, "position " + p);
                double[] unevicted = full.forward(tokens[p], p, ScalarLlama.FULL);
                if (p >= sinks + window) {
                    double diff = 0;
                    for (int v = 0; v < expected.length; v++) {
                        diff = Math.max(diff, Math.abs(expected[v] - unevicted[v]));
                    }
                    evictionEffect = Math.max(evictionEffect, diff);
                }
            }
        }
        assertEquals(n, cache.length());
        assertTrue(evictionEffect > 1e-2, "eviction should change the logits, max effect " + evictionEffect);
    }

    @Test
    void blockForwardGivesTheBitsOfTokenByToken() {
        int[] tokens = m.randomTokens(50, 2);
        StreamingKvCache one = streaming(2, 8, 5);
        StreamingKvCache blocks = streaming(2, 8, 5);
        float[][] expected = new float[tokens.length][];
        for (int t = 0; t < tokens.length; t++) {
            expected[t] = row(m.model(), tokens[t], one);
        }
        int at = 0;
        for (int size : new int[] {6, 1, 6, 3, 6, 6, 2, 6, 5, 6, 3}) {
            float[][] part = m.model().forward(Arrays.copyOfRange(tokens, at, at + size), blocks, size);
            for (int i = 0; i < size; i++) {
                assertArrayEquals(expected[at + i], part[i], "position " + (at + i));
            }
            at += size;
        }
        assertEquals(tokens.length, at);
    }

    @Test
    void aBlockThatWouldOverwriteKeysItsOwnQueriesAttendIsRefused() {
        // a block stores all its keys before any of its queries attends. With sinks 2, window 8
        // and slack 1 the ring holds 9 slots: a 3-token block at 30 would put position 32 into
        // the slot of 23, which position 30 attends (its window is 23..30). Silently attending
        // the wrong key was the behaviour before the guard.
        int[] tokens = m.randomTokens(36, 3);
        StreamingKvCache one = streaming(2, 8, 1);
        float[][] expected = new float[tokens.length][];
        for (int t = 0; t < tokens.length; t++) {
            expected[t] = row(m.model(), tokens[t], one);
        }
        StreamingKvCache blocks = streaming(2, 8, 1);
        // from an empty cache a block may fill the sinks and the whole ring: 2 + 9 tokens
        float[][] first = m.model().forward(Arrays.copyOf(tokens, 11), blocks, 11);
        for (int t = 0; t < 11; t++) {
            assertArrayEquals(expected[t], first[t], "position " + t);
        }
        feed(blocks, Arrays.copyOfRange(tokens, 11, 30));
        IllegalStateException refused = assertThrows(IllegalStateException.class,
                () -> m.model().forward(Arrays.copyOfRange(tokens, 30, 33), blocks, 3));
        assertMentions(refused, "block", "at most slack + 1 = 2 tokens");
        // slack + 1 tokens at a time is fine
        blocks.truncate(30);
        for (int at = 30; at < 36; at += 2) {
            float[][] part = m.model().forward(Arrays.copyOfRange(tokens, at, at + 2), blocks, 2);
            assertArrayEquals(expected[at], part[0], "position " + at);
            assertArrayEquals(expected[at + 1], part[1], "position " + (at + 1));
        }
        StreamingKvCache fromEmpty = streaming(2, 8, 1);
        IllegalStateException tooLong = assertThrows(IllegalStateException.class,
                () -> m.model().forward(Arrays.copyOf(tokens, 12), fromEmpty, 1));
        assertMentions(tooLong, "more than 11 tokens at position 0");
    }

    @Test
    void windowCoveringTheSequenceEqualsTheFullCache() {
        // sinks + window = 70 positions: nothing is evicted yet
        int[] tokens = m.randomTokens(70, 4);
        StreamingKvCache cache = streaming(4, 66, 0);
        FullKvCache full = (FullKvCache) m.model().newCache(new KvCacheSpec.Full(512));
        float[][] s = m.model().forward(tokens, cache, tokens.length);
        float[][] f = m.model().forward(tokens, full, tokens.length);
        for (int t = 0; t < tokens.length; t++) {
            assertTrue(ScalarLlama.maxRelativeDifference(f[t], s[t]) < 1e-5, "position " + t);
        }
        // a few more tokens and the window no longer covers the sequence: the logits part ways
        float[] sNext = null;
        float[] fNext = null;
        for (int token : new int[] {5, 6, 7, 8}) {
            sNext = row(m.model(), token, cache);
            fNext = row(m.model(), token, full);
        }
        assertTrue(ScalarLlama.maxRelativeDifference(fNext, sNext) > 1e-3);
    }

    @Test
    void skipToLeavesTheSkippedPositionsOutAndKeepsPositionsAfterThem() {
        int sinks = 3;
        int window = 6;
        int skipTo = 40;
        int[] tokens = m.randomTokens(60, 5);
        StreamingKvCache cache = streaming(sinks, window, 2);
        ScalarLlama oracle = m.scalar();
        ScalarLlama.Visibility rule = streamingRule(sinks, window, sinks, skipTo);
        m.model().forward(Arrays.copyOf(tokens, sinks), cache, 0);
        for (int p = 0; p < sinks; p++) {
            oracle.forward(tokens[p], p, rule);
        }
        cache.skipTo(skipTo);
        assertEquals(skipTo, cache.length());
        float[][] logits = m.model().forward(Arrays.copyOfRange(tokens, skipTo, skipTo + 3), cache, 3);
        for (int p = skipTo; p < tokens.length; p++) {
            float[] actual = p < skipTo + 3 ? logits[p - skipTo] : row(m.model(), tokens[p], cache);
            ScalarLlama.assertClose(oracle.forward(tokens[p], p, rule), actual, 1e-4, "position " + p);
        }
        IllegalArgumentException backwards = assertThrows(IllegalArgumentException.class, () -> cache.skipTo(10));
        assertMentions(backwards, "backwards", "10");
        // positions before the skip target cannot be rolled back to
        IllegalArgumentException beforeSkip = assertThrows(IllegalArgumentException.class,
                () -> cache.truncate(skipTo - 1));
        assertMentions(beforeSkip, String.valueOf(skipTo - 1));
    }

    @Test
    void rollbackWithinTheSlackRestoresTheCacheAndBeyondItRefuses() {
        int sinks = 2;
        int window = 8;
        int slack = 4;
        int[] prefix = m.randomTokens(30, 6);
        int[] speculated = m.randomTokens(5, 7);
        int[] actual = m.randomTokens(slack + 1, 8); // one block, as large as the cache takes

        // reference: the prefix, then the actual continuation, never anything else
        StreamingKvCache clean = streaming(sinks, window, slack);
        feed(clean, prefix);
        float[][] expected = m.model().forward(actual, clean, actual.length);

        // the prefix, a speculation of slack + 1 tokens (the most the ring keeps), roll back, continue
        StreamingKvCache cache = streaming(sinks, window, slack);
        feed(cache, prefix);
        for (int token : speculated) {
            row(m.model(), token, cache);
        }
        assertEquals(prefix.length + slack + 1, cache.length());
        cache.truncate(prefix.length);
        float[][] got = m.model().forward(actual, cache, actual.length);
        for (int i = 0; i < actual.length; i++) {
            assertArrayEquals(expected[i], got[i], "token " + i + " after rollback");
        }

        // one token more than the slack allows
        StreamingKvCache tooFar = streaming(sinks, window, slack);
        feed(tooFar, prefix);
        for (int token : m.randomTokens(slack + 2, 9)) {
            row(m.model(), token, tooFar);
        }
        int length = tooFar.length();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> tooFar.truncate(prefix.length));
        assertMentions(e, "roll back", String.valueOf(prefix.length), String.valueOf(prefix.length + 1),
                String.valueOf(length));
        assertEquals(length, tooFar.length(), "a refused rollback leaves the cache as it was");
        IllegalArgumentException forward = assertThrows(IllegalArgumentException.class,
                () -> tooFar.truncate(length + 1));
        assertMentions(forward, String.valueOf(length + 1));
    }

    @Test
    void rejectsBadParameters() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new StreamingKvCache(m.config(), 2, 0, 1));
        assertMentions(e, "window >= 1");
    }
}
