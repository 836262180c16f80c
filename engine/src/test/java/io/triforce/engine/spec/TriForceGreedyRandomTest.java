package io.triforce.engine.spec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.FinishReason;
import io.triforce.engine.generate.Generation;
import io.triforce.engine.generate.IntSequence;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.kv.FullKvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.kv.RetrievalKvCache;
import io.triforce.engine.kv.StreamingKvCache;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.testing.RandomCheckpoint;
import io.triforce.engine.testing.RandomModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Greedy TriForce commits exactly the target's autoregressive greedy tokens, on random
 * checkpoints (no ../shared), across budgets, gammas, windows and rebuild policies, with a draft
 * that agrees with the target often (the target's own weights over a StreamingLLM cache) and one
 * that rarely does (unrelated weights); and it stops where autoregressive decoding stops: max
 * tokens or EOS in the middle of an accepted speculation, a sink that declines, a full context.
 */
class TriForceGreedyRandomTest {

    @TempDir
    static Path dir;
    private static RandomModel target;
    private static RandomModel stranger;

    @BeforeAll
    static void load() {
        target = RandomModel.load(targetCheckpoint(-1), dir.resolve("target"));
        stranger = RandomModel.load(RandomCheckpoint.builder().dim(64).layers(1).heads(2).kvHeads(1).headDim(64)
                .hiddenDim(64).vocab(64).weightScale(2).seed(52), dir.resolve("stranger"));
    }

    /** The target's checkpoint; {@code eos} < 0 writes none. Same weights whatever the eos. */
    private static RandomCheckpoint.Builder targetCheckpoint(int eos) {
        RandomCheckpoint.Builder b = RandomCheckpoint.builder().dim(64).layers(2).heads(4).kvHeads(2).headDim(64)
                .hiddenDim(96).vocab(64).weightScale(2).maxPositions(512).seed(51);
        return eos < 0 ? b.omitConfigField("eos_token_id") : b.eos(eos);
    }

    @AfterAll
    static void close() throws Exception {
        target.close();
        stranger.close();
    }

    static Stream<Arguments> configs() {
        List<Arguments> all = new ArrayList<>();
        TriForceConfig[] configs = {
                new TriForceConfig(4, 12, 32, 8, 4, 32, new RebuildPolicy.AtPrefill()),
                new TriForceConfig(2, 5, 16, 4, 2, 8, new RebuildPolicy.EveryTokens(8)),
                new TriForceConfig(3, 7, 24, 8, 0, 16, new RebuildPolicy.BelowAcceptance(0.9)),
                new TriForceConfig(1, 1, 8, 8, 1, 4, new RebuildPolicy.AtPrefill()),
                new TriForceConfig(6, 6, 1024, 8, 4, 64, new RebuildPolicy.EveryTokens(1)),
                new TriForceConfig(1, 3, 16, 4, 2, 8, new RebuildPolicy.EveryTokens(8), true),
                new TriForceConfig(4, 12, 1024, 8, 4, 32, new RebuildPolicy.AtPrefill(), true),
                TriForceConfig.DEFAULTS,   // what the CLI runs: adaptive from the caps
        };
        for (TriForceConfig c : configs) {
            for (boolean selfDraft : new boolean[] {true, false}) {
                all.add(Arguments.of(c, selfDraft));
            }
        }
        return all.stream();
    }

    private static Transformer draft(boolean selfDraft) {
        return selfDraft ? target.model() : stranger.model();
    }

    @ParameterizedTest(name = "{0}, self-draft {1}")
    @MethodSource("configs")
    void greedyTriForceEqualsAutoregressive(TriForceConfig config, boolean selfDraft) {
        for (int promptLength : new int[] {101, 37}) {
            int[] prompt = target.randomTokens(promptLength, promptLength);
            Generation ar = new AutoregressiveDecoder(target.model())
                    .generate(prompt, 61, SamplingParams.GREEDY, TokenSink.IGNORE);
            List<Integer> sunk = new ArrayList<>();
            Generation tf = new TriForceDecoder(target.model(), draft(selfDraft), config)
                    .generate(prompt, 61, SamplingParams.GREEDY, token -> sunk.add(token));
            assertArrayEquals(ar.tokens(), tf.tokens(), "prompt of " + promptLength);
            assertEquals(61, tf.tokens().length);
            assertEquals(FinishReason.LENGTH, tf.finishReason());
            assertArrayEquals(tf.tokens(), sunk.stream().mapToInt(Integer::intValue).toArray(),
                    "the sink saw every committed token once, in order");
            SpeculationStats s = tf.stats();
            assertTrue(s.targetForwardPasses() <= 61);
            assertEquals(s.level2().forwardPasses(), s.level2().recovered() + s.level2().bonus());
            if (selfDraft && config.gamma2() > 1) {
                assertTrue(s.level2().accepted() > 0, "speculation happened: " + s.level2().accepted());
            }
        }
    }

    @Test
    void shortPromptsWork() {
        // shorter than a chunk, than the sinks, a single token: nothing to select, nothing to skip
        TriForceConfig config = new TriForceConfig(3, 6, 16, 8, 4, 8, new RebuildPolicy.EveryTokens(5));
        for (int promptLength : new int[] {1, 2, 9}) {
            int[] prompt = target.randomTokens(promptLength, 40 + promptLength);
            Generation ar = new AutoregressiveDecoder(target.model())
                    .generate(prompt, 30, SamplingParams.GREEDY, TokenSink.IGNORE);
            for (boolean selfDraft : new boolean[] {true, false}) {
                Generation tf = new TriForceDecoder(target.model(), draft(selfDraft), config)
                        .generate(prompt, 30, SamplingParams.GREEDY, TokenSink.IGNORE);
                assertArrayEquals(ar.tokens(), tf.tokens(), "prompt of " + promptLength);
            }
        }
    }

    @Test
    void stopsAtEosInsideAnAcceptedSpeculation() throws Exception {
        int[] prompt = target.randomTokens(64, 3);
        int[] free = new AutoregressiveDecoder(target.model())
                .generate(prompt, 80, SamplingParams.GREEDY, TokenSink.IGNORE).tokens();
        // an id the greedy stream first produces well after the start
        int stopAt = -1;
        for (int i = 10; i < free.length && stopAt < 0; i++) {
            boolean seenBefore = false;
            for (int j = 0; j < i; j++) {
                seenBefore |= free[j] == free[i];
            }
            if (!seenBefore) {
                stopAt = i;
            }
        }
        assertTrue(stopAt > 0, "the greedy stream should produce a new id after position 10");
        int eos = free[stopAt];
        try (RandomModel withEos = RandomModel.load(targetCheckpoint(eos), dir.resolve("eos-" + eos))) {
            Generation ar = new AutoregressiveDecoder(withEos.model())
                    .generate(prompt, 80, SamplingParams.GREEDY, TokenSink.IGNORE);
            assertArrayEquals(java.util.Arrays.copyOf(free, stopAt), ar.tokens());
            boolean midSpeculation = false;
            for (TriForceConfig config : new TriForceConfig[] {
                    // budget and window over the whole context: every level agrees with the target
                    new TriForceConfig(4, 12, 1024, 8, 4, 1024, new RebuildPolicy.AtPrefill()),
                    new TriForceConfig(2, 5, 1024, 4, 2, 1024, new RebuildPolicy.EveryTokens(8)),
                    // small budget and window: frequent rejections
                    new TriForceConfig(2, 3, 16, 4, 2, 8, new RebuildPolicy.EveryTokens(8))}) {
                List<Integer> sunk = new ArrayList<>();
                Generation tf = new TriForceDecoder(withEos.model(), withEos.model(), config)
                        .generate(prompt, 80, SamplingParams.GREEDY, token -> sunk.add(token));
                assertArrayEquals(ar.tokens(), tf.tokens());
                assertEquals(FinishReason.STOP, tf.finishReason());
                assertArrayEquals(ar.tokens(), sunk.stream().mapToInt(Integer::intValue).toArray(),
                        "nothing after EOS reaches the sink, nor EOS itself");
                // when the target's verifications vouched for more tokens than were committed (EOS
                // included), the last one had accepted tokens after EOS, which were dropped
                SpeculationStats s = tf.stats();
                midSpeculation |= s.level2().accepted() + s.level2().forwardPasses() > tf.tokens().length + 1;
            }
            assertTrue(midSpeculation, "with a budget over the whole context, EOS should arrive inside an accepted"
                    + " speculation at least once (EOS at " + stopAt + ")");
        }
    }

    @Test
    void stopsWhenTheSinkDeclines() {
        int[] prompt = target.randomTokens(50, 4);
        int[] free = new AutoregressiveDecoder(target.model())
                .generate(prompt, 40, SamplingParams.GREEDY, TokenSink.IGNORE).tokens();
        for (int stopAfter : new int[] {1, 9, 23}) {
            List<Integer> sunk = new ArrayList<>();
            TokenSink sink = token -> {
                sunk.add(token);
                return sunk.size() < stopAfter;
            };
            Generation tf = new TriForceDecoder(target.model(), target.model(),
                    new TriForceConfig(4, 12, 32, 8, 4, 32, new RebuildPolicy.AtPrefill()))
                    .generate(prompt, 40, SamplingParams.GREEDY, sink);
            assertArrayEquals(java.util.Arrays.copyOf(free, stopAfter), tf.tokens());
            assertEquals(stopAfter, sunk.size(), "not one token after the sink declined");
            assertEquals(FinishReason.STOP, tf.finishReason());
        }
    }

    @Test
    void level2ProposesExactlyTheTokensAskedFor() {
        // a fully accepted last round ends in a bonus token; it must not push the proposal past n
        int[] prompt = target.randomTokens(60, 6);
        Transformer model = target.model();
        FullKvCache full = (FullKvCache) model.newCache(new KvCacheSpec.Full(512));
        model.forward(java.util.Arrays.copyOf(prompt, prompt.length - 1), full, 0);
        for (int gamma1 : new int[] {1, 3}) {
            for (int n = 1; n <= 5; n++) {
                RetrievalKvCache retrieval = (RetrievalKvCache) model.newCache(new KvCacheSpec.Retrieval(1024, 8, 16));
                retrieval.rebuild(full); // a budget over the whole context: level 2 agrees with the target
                StreamingKvCache draftCache = (StreamingKvCache) model.newCache(new KvCacheSpec.Streaming(4, 1024, 16));
                RetrievalProposer level2 = new RetrievalProposer(new DraftModelProposer(model, draftCache),
                        new CacheScorer(model, retrieval), new RejectionSampler(), new ProposalLength(gamma1, gamma1, false));
                level2.prefillDraft(prompt);
                Proposal p = level2.propose(new IntSequence(prompt), n, new TokenPicker(SamplingParams.GREEDY));
                assertEquals(n, p.size(), "gamma1 " + gamma1 + ", n " + n);
                assertTrue(level2.level1Stats().bonus() > 0, "the draft (the target itself) was fully accepted");
            }
        }
    }

    @Test
    void stopsWhenTheContextIsFull() throws Exception {
        try (RandomModel small = RandomModel.load(targetCheckpoint(-1).maxPositions(64), dir.resolve("small"))) {
            int[] prompt = small.randomTokens(40, 5);
            Generation ar = new AutoregressiveDecoder(small.model())
                    .generate(prompt, 100, SamplingParams.GREEDY, TokenSink.IGNORE);
            assertEquals(24, ar.tokens().length);
            assertEquals(FinishReason.LENGTH, ar.finishReason());
            for (TriForceConfig config : new TriForceConfig[] {
                    new TriForceConfig(4, 12, 32, 8, 4, 32, new RebuildPolicy.AtPrefill()),
                    new TriForceConfig(2, 5, 16, 4, 2, 8, new RebuildPolicy.EveryTokens(8)),
                    new TriForceConfig(5, 5, 16, 4, 2, 8, new RebuildPolicy.AtPrefill())}) {
                Generation tf = new TriForceDecoder(small.model(), small.model(), config)
                        .generate(prompt, 100, SamplingParams.GREEDY, TokenSink.IGNORE);
                assertArrayEquals(ar.tokens(), tf.tokens(), config.toString());
                assertEquals(FinishReason.LENGTH, tf.finishReason());
            }
        }
    }
}
