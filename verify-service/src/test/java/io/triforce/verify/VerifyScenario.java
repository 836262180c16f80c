package io.triforce.verify;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.protocol.Commit;
import io.triforce.protocol.Distribution;
import io.triforce.protocol.Level2Proposal;
import io.triforce.protocol.LevelCounters;
import io.triforce.protocol.Sampling;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.Topics;
import io.triforce.protocol.testing.Await;
import io.triforce.protocol.testing.SharedModels;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.Supplier;
import java.util.stream.IntStream;

/**
 * What verify-service must do with a session, whatever carries the messages (the in-memory
 * connector in {@link VerifyServiceTest}, a real broker in {@link VerifyServiceIT}): commit only
 * tokens the target verifies plus its bonus token after a fully accepted proposal, recover the
 * target's own token at a rejection and start a new epoch, keep a proposal that overlaps the log
 * with the same tokens, drop proposals of an older epoch, at the wrong position or overlapping
 * the log with other tokens, and end the log at max_tokens.
 */
final class VerifyScenario {

    static final Duration WAIT = Duration.ofSeconds(60);
    static final int PROMPT = 200;
    static final int MAX_TOKENS = 16;

    private VerifyScenario() {
    }

    /** The target's own greedy continuation of {@code prompt}. */
    static int[] autoregressive(int[] prompt, int n) throws Exception {
        try (LlamaCheckpoint target = CheckpointLoader.load(SharedModels.target())) {
            return new AutoregressiveDecoder(new CpuBackend().load(target.weights()))
                    .generate(prompt, n, SamplingParams.GREEDY, TokenSink.IGNORE).tokens();
        }
    }

    /**
     * @param send    (topic, message) into the service
     * @param commits what the service wrote to the committed log for session {@code id}
     */
    static void greedy(String id, BiConsumer<String, Object> send, Supplier<List<Commit>> commits) throws Exception {
        int[] prompt = SharedModels.promptTokens(0, PROMPT);
        int[] ar = autoregressive(prompt, MAX_TOKENS);
        int vocab;
        try (LlamaCheckpoint target = CheckpointLoader.load(SharedModels.target())) {
            vocab = target.config().vocabSize();
        }
        int p = prompt.length;
        send.accept(Topics.SESSIONS, SessionEvent.start(id, prompt, MAX_TOKENS, Sampling.of(SamplingParams.GREEDY)));

        // 1. four right tokens: all committed with the target's bonus token, same epoch.
        send.accept(Topics.LEVEL2_PROPOSALS, proposal(id, 0, p, Arrays.copyOfRange(ar, 0, 4)));
        Await.until(() -> commits.get().size() == 1, WAIT, () -> "first commit; got " + commits.get());
        Commit c1 = commits.get().get(0);
        assertEquals(0, c1.epoch());
        assertEquals(p, c1.start());
        assertArrayEquals(Arrays.copyOfRange(ar, 0, 5), c1.tokens(), "the four and the bonus");
        assertNull(c1.finishReason());

        // 2. level 2's next proposal started where the bonus went, with the same token: kept from the
        //    log's end. One more right token, then a wrong one: the target's own token, new epoch.
        int wrong = (ar[6] + 1) % vocab;
        send.accept(Topics.LEVEL2_PROPOSALS, proposal(id, 0, p + 4, new int[] {ar[4], ar[5], wrong, ar[7]}));
        Await.until(() -> commits.get().size() == 2, WAIT, () -> "second commit; got " + commits.get());
        Commit c2 = commits.get().get(1);
        assertEquals(1, c2.epoch(), "a rejection starts a new epoch");
        assertEquals(p + 5, c2.start());
        assertArrayEquals(new int[] {ar[5], ar[6]}, c2.tokens(), "only verified tokens, then the target's own");

        // 3. stale: the old epoch at the right position, the new epoch after a gap, the new epoch
        //    overlapping the log with another token. Nothing is committed.
        send.accept(Topics.LEVEL2_PROPOSALS, proposal(id, 0, p + 7, Arrays.copyOfRange(ar, 7, 10)));
        send.accept(Topics.LEVEL2_PROPOSALS, proposal(id, 1, p + 8, Arrays.copyOfRange(ar, 8, 11)));
        send.accept(Topics.LEVEL2_PROPOSALS, proposal(id, 1, p + 6, new int[] {wrong, ar[7], ar[8]}));
        // 4. the rest, right, in the new epoch (more than max_tokens allows): the log ends at max_tokens.
        int[] rest = IntStream.concat(IntStream.of(Arrays.copyOfRange(ar, 7, MAX_TOKENS)), IntStream.of(1, 2, 3)).toArray();
        send.accept(Topics.LEVEL2_PROPOSALS, proposal(id, 1, p + 7, rest));
        Await.until(() -> commits.get().stream().anyMatch(Commit::last), WAIT, () -> "final commit; got " + commits.get());
        Await.quiet(Duration.ofMillis(200));
        List<Commit> all = commits.get();
        assertEquals(3, all.size(), "the three stale proposals commit nothing: " + all);
        Commit c3 = all.get(2);
        assertEquals(p + 7, c3.start());
        assertEquals(1, c3.epoch());
        assertEquals("length", c3.finishReason());
        assertArrayEquals(Arrays.copyOfRange(ar, 7, MAX_TOKENS), c3.tokens());

        List<Integer> log = new ArrayList<>();
        all.forEach(c -> IntStream.of(c.tokens()).forEach(log::add));
        assertArrayEquals(ar, log.stream().mapToInt(Integer::intValue).toArray(), "the log is the target's greedy output");
        LevelCounters level2 = c3.level2();
        assertEquals(3, level2.rounds(), "three proposals verified, three dropped");
        assertEquals(4 + 1 + (MAX_TOKENS - 7), level2.accepted());
    }

    /**
     * A sampled session (temperature 0.8) with level-2 distributions on the wire: every commit is
     * contiguous, the log reaches max_tokens, and the service never commits more than it was sent plus one.
     */
    static void sampled(String id, BiConsumer<String, Object> send, Supplier<List<Commit>> commits) throws Exception {
        int[] prompt = SharedModels.promptTokens(1, PROMPT);
        int vocab;
        try (LlamaCheckpoint target = CheckpointLoader.load(SharedModels.target())) {
            vocab = target.config().vocabSize();
        }
        int n = 8;
        send.accept(Topics.SESSIONS, SessionEvent.start(id, prompt, n, new Sampling(0.8, 0, 1.0, 42)));
        int length = prompt.length;
        int epoch = 0;
        for (int round = 0; round < 50 && commits.get().stream().noneMatch(Commit::last); round++) {
            int seen = commits.get().size();
            // level 2's distribution: uniform over the vocabulary (dense on the wire); tokens drawn from it.
            float[] uniform = new float[vocab];
            Arrays.fill(uniform, 1f / vocab);
            int[] tokens = {(round * 7 + 11) % vocab, (round * 13 + 5) % vocab};
            send.accept(Topics.LEVEL2_PROPOSALS, new Level2Proposal(id, epoch, length, tokens,
                    List.of(Distribution.of(uniform), Distribution.of(uniform)), LevelCounters.ZERO,
                    io.triforce.protocol.Clock.micros()));
            Await.until(() -> commits.get().size() > seen, WAIT, () -> "a commit for every proposal");
            Commit c = commits.get().get(seen);
            assertEquals(length, c.start(), "commits are contiguous");
            org.junit.jupiter.api.Assertions.assertTrue(c.tokens().length <= 3, "at most the proposal's length plus the bonus");
            length += c.tokens().length;
            epoch = c.epoch();
        }
        Commit last = commits.get().getLast();
        if ("length".equals(last.finishReason())) {
            assertEquals(prompt.length + n, length);
        } else {
            assertEquals("stop", last.finishReason(), "ends at max_tokens or at an end-of-sequence token");
            org.junit.jupiter.api.Assertions.assertTrue(length <= prompt.length + n);
        }
    }

    /**
     * A session this instance never saw the start of (a restart after its consumer group committed
     * past it): proposals for it make the service ask for it (RESYNC) once, not once per proposal;
     * re-announced with five committed tokens in epoch 3, it is built from the prompt and those
     * tokens; the proposals that waited (epoch 0) are stale, and a proposal in epoch 3 after the
     * announced tokens commits the target's own tokens from there.
     *
     * @param sessionEvents what the service published on the sessions topic
     */
    static void lost(String id, BiConsumer<String, Object> send, Supplier<List<Commit>> commits,
                     Supplier<List<SessionEvent>> sessionEvents) throws Exception {
        int[] prompt = SharedModels.promptTokens(2, PROMPT);
        int[] ar = autoregressive(prompt, MAX_TOKENS);
        int p = prompt.length;
        for (int i = 0; i < 3; i++) {
            send.accept(Topics.LEVEL2_PROPOSALS, proposal(id, 0, p + 5 + 2 * i, Arrays.copyOfRange(ar, 5 + 2 * i, 7 + 2 * i)));
        }
        Supplier<List<SessionEvent>> asked = () -> sessionEvents.get().stream().filter(e -> e.sessionId().equals(id)).toList();
        Await.until(() -> !asked.get().isEmpty(), WAIT, () -> "the service asks for the session");
        Await.quiet(Duration.ofMillis(300));
        assertEquals(1, asked.get().size(), "asked once for three proposals: " + asked.get());
        assertEquals(SessionEvent.Kind.RESYNC, asked.get().getFirst().kind());

        send.accept(Topics.SESSIONS, SessionEvent.reannounce(id, prompt, MAX_TOKENS, Sampling.of(SamplingParams.GREEDY),
                Arrays.copyOf(ar, 5), 3));
        send.accept(Topics.LEVEL2_PROPOSALS, proposal(id, 3, p + 5, Arrays.copyOfRange(ar, 5, 8)));
        Await.until(() -> !commits.get().isEmpty(), WAIT, () -> "a commit after the announced log");
        Await.quiet(Duration.ofMillis(200));
        List<Commit> all = commits.get();
        assertEquals(1, all.size(), "the proposals that waited are stale (epoch 0): " + all);
        assertEquals(p + 5, all.getFirst().start(), "the log goes on after the announced tokens");
        assertEquals(3, all.getFirst().epoch());
        assertArrayEquals(Arrays.copyOfRange(ar, 5, 9), all.getFirst().tokens(), "three and the bonus");
    }

    static Level2Proposal proposal(String id, int epoch, int base, int[] tokens) {
        return new Level2Proposal(id, epoch, base, tokens, null, LevelCounters.ZERO, io.triforce.protocol.Clock.micros());
    }
}
