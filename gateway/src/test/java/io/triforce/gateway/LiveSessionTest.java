package io.triforce.gateway;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.sampling.SamplingParams;
import io.triforce.protocol.Clock;
import io.triforce.protocol.Commit;
import io.triforce.protocol.LevelCounters;
import io.triforce.protocol.Sampling;
import io.triforce.protocol.SessionEvent;
import org.junit.jupiter.api.Test;

/**
 * What the gateway re-announces of a session: its start with the committed tokens placed by log
 * position (duplicates and overlaps dropped, nothing past a gap), in an epoch past every epoch of
 * the log and of earlier announcements; at most once per interval, and on silence only when the
 * log has been silent for that long.
 */
class LiveSessionTest {

    private static final long SECOND = 1_000_000_000L;

    @Test
    void reannouncesTheLogSoFarInAFreshEpochAtMostOncePerInterval() {
        SessionEvent start = SessionEvent.start("live", new int[] {5, 6, 7}, 8, new Sampling(0.7, 4, 0.9, 11));
        LiveSession session = new LiveSession(start, c -> { }, 0);
        session.heard(commit(3, 2, 1, 2), 10);
        session.heard(commit(4, 1, 2, 9), 20);        // overlaps the log with the same token
        session.heard(commit(3, 2, 1, 2, 9), 30);     // a replay
        session.heard(commit(9, 5, 4), 40);           // past a gap: not placed
        SessionEvent again = session.reannounce(SECOND, SECOND, false).orElseThrow();
        assertEquals(SessionEvent.Kind.START, again.kind());
        assertTrue(again.reannounced());
        assertArrayEquals(new int[] {1, 2, 9}, again.committed());
        assertArrayEquals(new int[] {5, 6, 7}, again.prompt());
        assertEquals(8, again.maxTokens());
        assertEquals(start.sampling(), again.sampling());
        assertEquals(6, again.epoch(), "past the newest epoch of the log (5)");

        assertTrue(session.reannounce(SECOND + SECOND / 2, SECOND, false).isEmpty(), "once per interval");
        assertEquals(7, session.reannounce(2 * SECOND, SECOND, false).orElseThrow().epoch(),
                "past the previous announcement");
    }

    @Test
    void reannouncesOnSilenceOnlyWhenTheLogWasSilentForTheInterval() {
        LiveSession session = new LiveSession(SessionEvent.start("quiet", new int[] {1}, 4,
                Sampling.of(SamplingParams.GREEDY)), c -> { }, 0);
        assertTrue(session.reannounce(SECOND / 2, SECOND, true).isEmpty(), "a fresh session is not silent yet");
        assertFalse(session.heardAny(), "no commit yet: the levels prefill");
        session.heard(commit(1, 0, 3), SECOND / 2);
        assertTrue(session.heardAny());
        assertTrue(session.reannounce(SECOND + SECOND / 4, SECOND, true).isEmpty(), "heard from within the interval");
        SessionEvent again = session.reannounce(2 * SECOND, SECOND, true).orElseThrow();
        assertArrayEquals(new int[] {3}, again.committed());
        assertTrue(session.reannounce(2 * SECOND + SECOND / 2, SECOND, true).isEmpty(), "announced within the interval");
    }

    private static Commit commit(int start, int epoch, int... tokens) {
        return new Commit("live", epoch, start, tokens, null, null, LevelCounters.ZERO, LevelCounters.ZERO, Clock.micros());
    }
}
