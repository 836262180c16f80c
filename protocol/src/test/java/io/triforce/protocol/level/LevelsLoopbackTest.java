package io.triforce.protocol.level;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.Generation;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.tokenizer.Tokenizer;
import io.triforce.protocol.Sampling;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.testing.CpuModel;
import io.triforce.protocol.testing.SharedModels;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The three levels wired by in-memory queues (no Kafka): messages are delivered in a random
 * but per-topic ordered interleaving, as Kafka delivers them per partition; the committed log
 * must equal the target's own greedy output, token for token.
 */
class LevelsLoopbackTest {

    private static CpuModel targetModel;
    private static CpuModel draftModel;
    private static Transformer target;
    private static Transformer draft;
    private static int[] prompt;

    @BeforeAll
    static void load() throws Exception {
        targetModel = CpuModel.target();
        draftModel = CpuModel.draft();
        target = targetModel.model();
        draft = draftModel.model();
        try (Tokenizer tokenizer = Tokenizer.load(targetModel.checkpoint().tokenizerJson())) {
            prompt = Arrays.copyOf(tokenizer.encode(SharedModels.devDocument(0)), 1024);
        }
    }

    @AfterAll
    static void close() throws Exception {
        targetModel.close();
        draftModel.close();
    }

    @Test
    void greedyCommittedLogEqualsAutoregressive() {
        int maxTokens = 48;
        Generation expected = new AutoregressiveDecoder(target).generate(prompt, maxTokens, SamplingParams.GREEDY,
                TokenSink.IGNORE);
        for (int level2Ahead : new int[] {0, 4}) {
            for (long seed : new long[] {1, 2, 3}) {
                int[] got = runLoopback(maxTokens, new Random(seed), level2Ahead);
                assertArrayEquals(expected.tokens(), got, "interleaving seed " + seed + ", level2-ahead " + level2Ahead);
            }
        }
        SessionEvent start = SessionEvent.start("s", prompt, maxTokens, Sampling.of(SamplingParams.GREEDY));
        assertArrayEquals(expected.tokens(), Loopback.run(target, draft, start, LevelSettings.DEFAULTS, new Random(4)),
                "the services' default settings");
    }

    @Test
    void sampledRunsCommitExactlyMaxTokens() {
        for (int level2Ahead : new int[] {0, 4}) {
            SessionEvent start = SessionEvent.start("s", prompt, 20, new Sampling(0.8, 0, 0.95, 7));
            int[] got = run(start, new Random(5), level2Ahead);
            assertTrue(got.length <= 20, "at most max_tokens");
            assertTrue(IntStream.of(got).allMatch(t -> t >= 0 && t < target.config().vocabSize()));
        }
    }

    private int[] runLoopback(int maxTokens, Random interleaving, int level2Ahead) {
        return run(SessionEvent.start("s", prompt, maxTokens, Sampling.of(SamplingParams.GREEDY)), interleaving,
                level2Ahead);
    }

    private int[] run(SessionEvent start, Random interleaving, int level2Ahead) {
        return Loopback.run(target, draft, start, new LevelSettings(4, 12, 256, 8, 16, 256, 32, level2Ahead),
                interleaving);
    }
}
