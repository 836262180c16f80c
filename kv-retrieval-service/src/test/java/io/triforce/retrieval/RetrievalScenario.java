package io.triforce.retrieval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.protocol.Clock;
import io.triforce.protocol.Commit;
import io.triforce.protocol.Correction;
import io.triforce.protocol.Distribution;
import io.triforce.protocol.Level1Proposal;
import io.triforce.protocol.Level2Proposal;
import io.triforce.protocol.LevelCounters;
import io.triforce.protocol.Sampling;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.Topics;
import io.triforce.protocol.testing.Await;
import io.triforce.protocol.testing.SharedModels;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.Supplier;
import java.util.stream.IntStream;

/**
 * What kv-retrieval-service must do, whatever carries the messages. Greedy: keep the accepted
 * tokens of level-1 proposals and send them on in level-2 proposals of gamma2 (12) tokens with
 * no distributions; a rejection sends level 1 a correction holding level 2's own token; a stale
 * level-1 proposal is dropped; a committed log with a newer epoch resets level 2 and corrects
 * level 1. Sampled: level-2 proposals carry one distribution per token, the kept token in its support.
 * The 200-token prompt fits the 512-token retrieval budget, so level 2 computes what the target does.
 */
final class RetrievalScenario {

    static final Duration WAIT = Duration.ofSeconds(60);
    static final Duration QUIET = Duration.ofMillis(500);
    static final int VOCAB = 8192;

    private RetrievalScenario() {
    }

    record Out(List<Level2Proposal> proposals, List<Correction> corrections) {
    }

    static void greedy(String id, BiConsumer<String, Object> send, Supplier<Out> out) throws Exception {
        int[] prompt = SharedModels.promptTokens(0, 200);
        int p = prompt.length;
        int[] ar;
        try (LlamaCheckpoint target = CheckpointLoader.load(SharedModels.target())) {
            ar = new AutoregressiveDecoder(new CpuBackend().load(target.weights()))
                    .generate(prompt, 32, SamplingParams.GREEDY, TokenSink.IGNORE).tokens();
        }
        send.accept(Topics.SESSIONS, SessionEvent.start(id, prompt, 64, Sampling.of(SamplingParams.GREEDY)));

        // 1. three right proposals of 4: one level-2 proposal of 12 tokens, no distributions, no correction.
        for (int i = 0; i < 3; i++) {
            send.accept(Topics.LEVEL1_PROPOSALS, l1(id, 0, p + 4 * i, Arrays.copyOfRange(ar, 4 * i, 4 * i + 4)));
        }
        Await.until(() -> out.get().proposals().size() == 1, WAIT, () -> "a level-2 proposal; got " + out.get());
        Level2Proposal first = out.get().proposals().get(0);
        assertEquals(0, first.epoch());
        assertEquals(p, first.base());
        assertArrayEquals(Arrays.copyOf(ar, 12), first.tokens());
        assertNull(first.q(), "greedy: no distributions");
        assertEquals(new LevelCounters(12, 12, 3), first.level1());
        assertTrue(out.get().corrections().isEmpty());

        // 2. a wrong third token: level 1 is corrected to level 2's own token, in epoch 1.
        send.accept(Topics.LEVEL1_PROPOSALS, l1(id, 0, p + 12, new int[] {ar[12], ar[13], (ar[14] + 1) % VOCAB, ar[15]}));
        Await.until(() -> out.get().corrections().size() == 1, WAIT, () -> "a correction; got " + out.get());
        Correction c = out.get().corrections().get(0);
        assertEquals(1, c.epoch());
        assertEquals(p + 14, c.start());
        assertArrayEquals(new int[] {ar[14]}, c.tokens());

        // 3. stale (epoch 0) proposals are dropped; epoch-1 ones continue the sequence.
        send.accept(Topics.LEVEL1_PROPOSALS, l1(id, 0, p + 15, new int[] {1, 2, 3, 4}));
        for (int base = 15; base < 27; base += 4) {
            send.accept(Topics.LEVEL1_PROPOSALS, l1(id, 1, p + base, Arrays.copyOfRange(ar, base, base + 4)));
        }
        Await.until(() -> out.get().proposals().size() == 2, WAIT, () -> "a second level-2 proposal; got " + out.get());
        Level2Proposal second = out.get().proposals().get(1);
        assertEquals(p + 12, second.base());
        assertArrayEquals(Arrays.copyOfRange(ar, 12, 27), second.tokens(), "the stale proposal left no trace");

        // 4. the target rejected at p + 5 (committed log, epoch 1): level 2 resets to it and corrects level 1.
        int[] log = Arrays.copyOf(ar, 6);
        log[5] = (ar[5] + 1) % VOCAB;
        send.accept(Topics.COMMITTED, new Commit(id, 1, p, log, null, null, LevelCounters.ZERO, LevelCounters.ZERO,
                Clock.micros()));
        Await.until(() -> out.get().corrections().size() == 2, WAIT, () -> "a second correction; got " + out.get());
        Correction reset = out.get().corrections().get(1);
        assertEquals(2, reset.epoch());
        assertEquals(p + 5, reset.start(), "from the common prefix of level 2's sequence and the log");
        assertArrayEquals(new int[] {log[5]}, reset.tokens());
        Await.quiet(QUIET);
        assertEquals(2, out.get().proposals().size(), "nothing is proposed from the discarded speculation");
    }

    /**
     * A session this instance never saw the start of: level-1 proposals for it make the service ask
     * for it (RESYNC) once; re-announced with four committed tokens in epoch 3, it is built from the
     * prompt and those tokens, verifies the proposal that waited and proposes to level 3 after the
     * announced tokens, in epoch 3. Re-announced again while held, with a longer log in epoch 5, it
     * takes that log, corrects level 1 to it and proposes after it in epoch 5.
     *
     * @param asked what the service published on the sessions topic for this session
     */
    static void lost(String id, BiConsumer<String, Object> send, Supplier<Out> out, Supplier<List<SessionEvent>> asked)
            throws Exception {
        int[] prompt = SharedModels.promptTokens(2, 200);
        int p = prompt.length;
        int[] ar;
        try (LlamaCheckpoint target = CheckpointLoader.load(SharedModels.target())) {
            ar = new AutoregressiveDecoder(new CpuBackend().load(target.weights()))
                    .generate(prompt, 32, SamplingParams.GREEDY, TokenSink.IGNORE).tokens();
        }
        for (int i = 0; i < 3; i++) {
            send.accept(Topics.LEVEL1_PROPOSALS, l1(id, 0, p + 4, Arrays.copyOfRange(ar, 4, 8)));
        }
        Await.until(() -> !asked.get().isEmpty(), WAIT, () -> "the service asks for the session");
        Await.quiet(Duration.ofMillis(300));
        assertEquals(1, asked.get().size(), "asked once for three proposals: " + asked.get());
        assertEquals(SessionEvent.Kind.RESYNC, asked.get().getFirst().kind());

        Sampling greedy = Sampling.of(SamplingParams.GREEDY);
        send.accept(Topics.SESSIONS, SessionEvent.reannounce(id, prompt, 64, greedy, Arrays.copyOf(ar, 4), 3));
        send.accept(Topics.LEVEL1_PROPOSALS, l1(id, 0, p + 8, Arrays.copyOfRange(ar, 8, 12)));
        send.accept(Topics.LEVEL1_PROPOSALS, l1(id, 0, p + 12, Arrays.copyOfRange(ar, 12, 16)));
        Await.until(() -> out.get().proposals().size() == 1, WAIT, () -> "a level-2 proposal; got " + out.get());
        Level2Proposal first = out.get().proposals().getFirst();
        assertEquals(p + 4, first.base(), "after the announced tokens");
        assertEquals(3, first.epoch(), "in the announced epoch");
        assertArrayEquals(Arrays.copyOfRange(ar, 4, 16), first.tokens(), "the waiting proposal was verified too");
        assertTrue(out.get().corrections().isEmpty());

        send.accept(Topics.SESSIONS, SessionEvent.reannounce(id, prompt, 64, greedy, Arrays.copyOf(ar, 16), 5));
        Await.until(() -> out.get().corrections().size() == 1, WAIT, () -> "level 1 corrected; got " + out.get());
        Correction c = out.get().corrections().getFirst();
        assertEquals(1, c.epoch());
        assertEquals(p + 16, c.start(), "level 1 continues from the announced log");
        for (int i = 16; i < 28; i += 4) {
            send.accept(Topics.LEVEL1_PROPOSALS, l1(id, 1, p + i, Arrays.copyOfRange(ar, i, i + 4)));
        }
        Await.until(() -> out.get().proposals().size() == 2, WAIT, () -> "a second level-2 proposal; got " + out.get());
        Level2Proposal second = out.get().proposals().get(1);
        assertEquals(p + 16, second.base());
        assertEquals(5, second.epoch(), "the held session moved to the announced epoch");
        assertArrayEquals(Arrays.copyOfRange(ar, 16, 28), second.tokens());
    }

    /**
     * Sampling (temperature 0.8, top-p 0.9): level-1 proposals with a uniform q; level 2 keeps
     * accepted and recovered tokens and proposes them with its own distributions.
     */
    static void sampled(String id, BiConsumer<String, Object> send, Supplier<Out> out) throws Exception {
        int[] prompt = SharedModels.promptTokens(2, 200);
        send.accept(Topics.SESSIONS, SessionEvent.start(id, prompt, 64, new Sampling(0.8, 0, 0.9, 3)));
        float[] uniform = new float[VOCAB];
        Arrays.fill(uniform, 1f / VOCAB);
        int epoch = 0;
        int base = prompt.length;
        for (int round = 0; round < 60 && out.get().proposals().isEmpty(); round++) {
            List<Correction> seen = out.get().corrections();
            if (!seen.isEmpty() && seen.getLast().epoch() > epoch) {
                epoch = seen.getLast().epoch();
                base = seen.getLast().start() + seen.getLast().tokens().length;
            }
            int from = base(round);
            int[] tokens = IntStream.range(0, 4).map(i -> (from + i * 31) % VOCAB).toArray();
            int corrections = seen.size();
            send.accept(Topics.LEVEL1_PROPOSALS, new Level1Proposal(id, epoch, base, tokens,
                    Arrays.stream(tokens).mapToObj(t -> Distribution.of(uniform)).toList(), Clock.micros()));
            long deadline = System.nanoTime() + Duration.ofSeconds(2).toNanos();
            Await.until(() -> out.get().corrections().size() > corrections || !out.get().proposals().isEmpty()
                    || System.nanoTime() > deadline, WAIT, () -> "");
            if (out.get().corrections().size() == corrections) {
                base += tokens.length; // all accepted
            }
        }
        assertTrue(!out.get().proposals().isEmpty(), "a level-2 proposal; got " + out.get());
        Level2Proposal proposal = out.get().proposals().get(0);
        assertNotNull(proposal.q(), "sampling: distributions travel with the tokens");
        assertEquals(proposal.tokens().length, proposal.q().size());
        assertTrue(proposal.tokens().length >= 12);
        for (int i = 0; i < proposal.tokens().length; i++) {
            float[] q = proposal.q().get(i).dense();
            double sum = 0;
            for (float x : q) {
                sum += x;
            }
            assertEquals(1.0, sum, 1e-3, "token " + i + ": a probability distribution");
            assertTrue(q[proposal.tokens()[i]] > 0, "token " + i + " lies in level 2's support");
            assertNotNull(proposal.q().get(i).ids(), "top-p 0.9 keeps the support small: sparse on the wire");
        }
    }

    private static int base(int round) {
        return 100 + round * 17;
    }

    static Level1Proposal l1(String id, int epoch, int base, int[] tokens) {
        return new Level1Proposal(id, epoch, base, tokens, null, Clock.micros());
    }
}
