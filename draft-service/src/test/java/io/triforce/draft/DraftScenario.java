package io.triforce.draft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.sampling.SamplingParams;
import io.triforce.protocol.Clock;
import io.triforce.protocol.Commit;
import io.triforce.protocol.Correction;
import io.triforce.protocol.Level1Proposal;
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

/**
 * What draft-service must do, whatever carries the messages: stream proposals of gamma1 tokens,
 * contiguous, never more than lookahead tokens past the committed log; follow a correction
 * (newer epoch: continue right after its tokens) and ignore a stale one; speculate further when
 * the committed log grows; stop at the end of the log. Test config: gamma1 4, lookahead 32.
 */
final class DraftScenario {

    static final Duration WAIT = Duration.ofSeconds(60);
    static final Duration QUIET = Duration.ofMillis(500);
    static final int LOOKAHEAD = 32;
    static final int GAMMA1 = 4;

    private DraftScenario() {
    }

    static void run(String id, BiConsumer<String, Object> send, Supplier<List<Level1Proposal>> proposals)
            throws Exception {
        int[] prompt = SharedModels.promptTokens(0, 200);
        int p = prompt.length;
        send.accept(Topics.SESSIONS, SessionEvent.start(id, prompt, 100, Sampling.of(SamplingParams.GREEDY)));

        // 1. proposals up to the lookahead, then silence.
        Await.until(() -> end(proposals.get()) == p + LOOKAHEAD, WAIT, () -> "lookahead reached; got " + proposals.get());
        Await.quiet(QUIET);
        List<Level1Proposal> first = proposals.get();
        assertEquals(p + LOOKAHEAD, end(first), "never past committed + lookahead");
        int next = p;
        for (Level1Proposal x : first) {
            assertEquals(0, x.epoch());
            assertEquals(next, x.base(), "proposals are contiguous");
            assertEquals(GAMMA1, x.tokens().length);
            assertNull(x.q(), "greedy: no distributions on the wire");
            next += x.tokens().length;
        }
        int[] drafted = Arrays.stream(first.toArray(Level1Proposal[]::new)).flatMapToInt(x -> Arrays.stream(x.tokens()))
                .toArray();

        // 2. a correction at p + 5: the draft continues right after it, in the new epoch, up to the same limit.
        int corrected = (drafted[5] + 1) % 8192;
        send.accept(Topics.CORRECTIONS, new Correction(id, 1, p + 5, new int[] {corrected}, Clock.micros()));
        Await.until(() -> end(epoch(proposals.get(), 1)) == p + LOOKAHEAD, WAIT,
                () -> "epoch-1 proposals up to the lookahead; got " + proposals.get());
        List<Level1Proposal> afterCorrection = epoch(proposals.get(), 1);
        assertEquals(p + 6, afterCorrection.get(0).base(), "continues right after the correction's tokens");
        assertEquals(first.size() + afterCorrection.size(), proposals.get().size(), "no epoch-0 proposal after it");

        // 3. a stale correction (same epoch) changes nothing.
        send.accept(Topics.CORRECTIONS, new Correction(id, 1, p + 2, new int[] {7}, Clock.micros()));
        Await.quiet(QUIET);
        int before = proposals.get().size();
        assertEquals(p + LOOKAHEAD, end(proposals.get()));

        // 4. ten committed tokens: the draft may speculate ten tokens further.
        int[] committed = Arrays.copyOf(drafted, 10);
        committed[5] = corrected;
        send.accept(Topics.COMMITTED, new Commit(id, 1, p, committed, null, null, LevelCounters.ZERO, LevelCounters.ZERO,
                Clock.micros()));
        Await.until(() -> end(proposals.get()) == p + 10 + LOOKAHEAD, WAIT,
                () -> "lookahead past the grown log; got " + proposals.get());
        Await.quiet(QUIET);
        assertEquals(p + 10 + LOOKAHEAD, end(proposals.get()));
        assertTrue(proposals.get().size() > before);

        // 5. the log's end frees the session: a later correction makes no proposal.
        send.accept(Topics.COMMITTED, new Commit(id, 1, p + 10, new int[] {1}, "length", null, LevelCounters.ZERO,
                LevelCounters.ZERO, Clock.micros()));
        Await.quiet(QUIET);
        int ended = proposals.get().size();
        send.accept(Topics.CORRECTIONS, new Correction(id, 2, p + 3, new int[] {9}, Clock.micros()));
        Await.quiet(QUIET);
        assertEquals(ended, proposals.get().size(), "an ended session proposes nothing");
        assertNotEquals(0, ended);
    }

    /**
     * A session this instance never saw the start of: commits for it make the service ask for it
     * (RESYNC) once; re-announced with ten committed tokens, the draft proposes from the end of
     * that log up to the lookahead past it; re-announced again while held with a longer log, it
     * speculates that much further. Cancelled at the end.
     *
     * @param asked what the service published on the sessions topic for this session
     */
    static void lost(String id, BiConsumer<String, Object> send, Supplier<List<Level1Proposal>> proposals,
                     Supplier<List<SessionEvent>> asked) throws Exception {
        int[] prompt = SharedModels.promptTokens(1, 200);
        int p = prompt.length;
        int[] log = SharedModels.promptTokens(1, 220);
        int[] committed = Arrays.copyOfRange(log, p, p + 10);
        for (int i = 0; i < 3; i++) {
            send.accept(Topics.COMMITTED, new Commit(id, 0, p, committed, null, null, LevelCounters.ZERO,
                    LevelCounters.ZERO, Clock.micros()));
        }
        Await.until(() -> !asked.get().isEmpty(), WAIT, () -> "the service asks for the session");
        Await.quiet(Duration.ofMillis(300));
        assertEquals(1, asked.get().size(), "asked once for three commits: " + asked.get());
        assertEquals(SessionEvent.Kind.RESYNC, asked.get().getFirst().kind());

        Sampling greedy = Sampling.of(SamplingParams.GREEDY);
        send.accept(Topics.SESSIONS, SessionEvent.reannounce(id, prompt, 100, greedy, committed, 2));
        Await.until(() -> end(proposals.get()) == p + 10 + LOOKAHEAD, WAIT, () -> "proposals; got " + proposals.get());
        assertEquals(p + 10, proposals.get().getFirst().base(), "from the end of the announced log");

        send.accept(Topics.SESSIONS, SessionEvent.reannounce(id, prompt, 100, greedy,
                Arrays.copyOfRange(log, p, p + 20), 3));
        Await.until(() -> end(proposals.get()) == p + 20 + LOOKAHEAD, WAIT,
                () -> "lookahead past the longer log; got " + proposals.get());
        Await.quiet(QUIET);
        assertEquals(p + 20 + LOOKAHEAD, end(proposals.get()), "never past the announced log + lookahead");
        send.accept(Topics.SESSIONS, SessionEvent.cancel(id));
    }

    private static List<Level1Proposal> epoch(List<Level1Proposal> all, int epoch) {
        return all.stream().filter(x -> x.epoch() == epoch).toList();
    }

    /** One past the last position proposed (0 when nothing was). */
    private static int end(List<Level1Proposal> all) {
        return all.isEmpty() ? 0 : all.getLast().base() + all.getLast().tokens().length;
    }
}
