package io.triforce.protocol.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.protocol.testing.Await;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The worker's side of session recovery: messages for a session it does not hold make it ask for
 * the session once per {@link SessionWorker#ASK_INTERVAL}, however many arrive; a re-announced
 * session is built and gets the messages that waited, or — held already — is kept or replaced as
 * the level decides; a session that ended here asks for nothing and is only brought back by a
 * re-announcement, not by a redelivered start.
 */
class SessionWorkerTest {

    private static final Duration WAIT = Duration.ofSeconds(10);

    /** A level's session: what reached it, and whether it was freed. */
    private static final class Held implements AutoCloseable {
        final List<String> seen = new CopyOnWriteArrayList<>();
        final AtomicBoolean closed = new AtomicBoolean();

        @Override
        public void close() {
            closed.set(true);
        }
    }

    private final List<String> asked = new CopyOnWriteArrayList<>();
    private final List<String> failed = new CopyOnWriteArrayList<>();

    private SessionWorker<Held> worker() {
        return new SessionWorker<>("test", Duration.ofMinutes(1), (id, e) -> failed.add(id), asked::add);
    }

    @Test
    void asksOncePerIntervalForALostSessionAndReplaysItsMessagesWhenAnnounced() throws Exception {
        try (SessionWorker<Held> worker = worker()) {
            AtomicReference<Held> built = new AtomicReference<>();
            for (int i = 0; i < 50; i++) {
                int n = i;
                worker.with("lost", s -> s.seen.add("m" + n));
            }
            Await.until(() -> !asked.isEmpty(), WAIT, () -> "asked for the session");
            Await.quiet(Duration.ofMillis(200));
            assertEquals(List.of("lost"), asked, "a burst of messages asks once");
            Thread.sleep(SessionWorker.ASK_INTERVAL.toMillis() + 100);
            worker.with("lost", s -> s.seen.add("m50"));
            Await.until(() -> asked.size() == 2, WAIT, () -> "asked again after the interval: " + asked);

            worker.announce("lost", () -> built.updateAndGet(b -> new Held()), s -> true);
            Await.until(() -> built.get() != null && built.get().seen.size() == 51, WAIT, () -> "the waiting messages replayed");
            assertEquals("m0", built.get().seen.getFirst(), "in order");
            assertEquals("m50", built.get().seen.getLast());
            worker.with("lost", s -> s.seen.add("after"));
            Await.until(() -> built.get().seen.size() == 52, WAIT, () -> "a held session's message");
            assertEquals(2, asked.size(), "nothing more to ask for");
            assertEquals(1, worker.activeSessions());
            assertTrue(failed.isEmpty());
        }
    }

    @Test
    void queueDepthCountsWaitingWorkNotTheIdleSweep() throws Exception {
        try (SessionWorker<Held> worker = worker()) {
            assertEquals(0, worker.queueDepth(), "an idle worker has nothing queued");
            CountDownLatch release = new CountDownLatch(1);
            worker.start("s", Held::new);
            worker.with("s", s -> {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            for (int i = 0; i < 3; i++) {
                worker.with("s", s -> s.seen.add("queued"));
            }
            Await.until(() -> worker.queueDepth() == 3, WAIT, () -> "three messages behind the busy one: "
                    + worker.queueDepth());
            release.countDown();
            Await.until(() -> worker.queueDepth() == 0, WAIT, () -> "drained: " + worker.queueDepth());
        }
    }

    @Test
    void aHeldSessionIsKeptOrReplacedAsTheLevelDecides() throws Exception {
        try (SessionWorker<Held> worker = worker()) {
            AtomicInteger builds = new AtomicInteger();
            List<Held> sessions = new CopyOnWriteArrayList<>();
            worker.start("s", () -> add(sessions, builds));
            worker.announce("s", () -> add(sessions, builds), s -> {
                s.seen.add("announced");
                return true;
            });
            worker.with("s", s -> s.seen.add("message"));
            Await.until(() -> sessions.size() == 1 && sessions.getFirst().seen.size() == 2, WAIT, () -> "kept");
            assertEquals(List.of("announced", "message"), sessions.getFirst().seen);

            worker.announce("s", () -> add(sessions, builds), s -> false);
            worker.with("s", s -> s.seen.add("to the new one"));
            Await.until(() -> sessions.size() == 2 && !sessions.get(1).seen.isEmpty(), WAIT, () -> "replaced");
            assertTrue(sessions.getFirst().closed.get(), "the replaced session is freed");
            assertNotSame(sessions.getFirst(), sessions.get(1));
            assertEquals(List.of("to the new one"), sessions.get(1).seen);
            assertEquals(1, worker.activeSessions());
            assertTrue(asked.isEmpty(), "a held session is never asked for");
        }
    }

    @Test
    void anEndedSessionAsksForNothingAndOnlyAReannouncementBringsItBack() throws Exception {
        try (SessionWorker<Held> worker = worker()) {
            List<Held> sessions = new CopyOnWriteArrayList<>();
            AtomicInteger builds = new AtomicInteger();
            worker.start("e", () -> add(sessions, builds));
            worker.end("e");
            worker.with("e", s -> s.seen.add("late"));
            worker.start("e", () -> add(sessions, builds)); // redelivered
            Await.quiet(Duration.ofMillis(300));
            assertEquals(1, builds.get(), "a redelivered start of an ended session builds nothing");
            assertTrue(asked.isEmpty(), "an ended session is not asked for: " + asked);

            worker.announce("e", () -> add(sessions, builds), s -> true);
            Await.until(() -> worker.activeSessions() == 1, WAIT, () -> "re-announced");
            assertEquals(2, builds.get());
            assertTrue(sessions.get(1).seen.isEmpty(), "the dropped message stays dropped");
        }
    }

    private static Held add(List<Held> sessions, AtomicInteger builds) {
        builds.incrementAndGet();
        Held h = new Held();
        sessions.add(h);
        return h;
    }
}
