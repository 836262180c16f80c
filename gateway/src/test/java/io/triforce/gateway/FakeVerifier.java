package io.triforce.gateway;

import io.smallrye.reactive.messaging.memory.InMemorySink;
import io.smallrye.reactive.messaging.memory.InMemorySource;
import io.triforce.protocol.Clock;
import io.triforce.protocol.Commit;
import io.triforce.protocol.LevelCounters;
import io.triforce.protocol.SessionEvent;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Stands in for the three levels in gateway tests: answers every session start on the in-memory
 * "sessions" sink with one commit (the prompt's last token, finish reason "length") on the
 * "committed" source — unless held, then the sessions stay open until released.
 */
final class FakeVerifier implements AutoCloseable {

    private final InMemorySink<SessionEvent> sessions;
    private final InMemorySource<Commit> committed;
    private final AtomicBoolean held = new AtomicBoolean();
    private final Thread thread;
    private volatile boolean running = true;
    private int seen;

    FakeVerifier(InMemorySink<SessionEvent> sessions, InMemorySource<Commit> committed) {
        this.sessions = sessions;
        this.committed = committed;
        this.thread = Thread.ofPlatform().daemon().name("fake-verifier").start(this::loop);
    }

    void hold(boolean hold) {
        held.set(hold);
    }

    private void loop() {
        while (running) {
            var received = sessions.received();
            while (!held.get() && seen < received.size()) {
                SessionEvent e = received.get(seen++).getPayload();
                if (e.kind() == SessionEvent.Kind.START) {
                    int token = e.prompt()[e.prompt().length - 1];
                    committed.send(new Commit(e.sessionId(), 0, e.prompt().length, new int[] {token}, "length", null,
                            LevelCounters.ZERO, LevelCounters.ZERO, Clock.micros()));
                }
            }
            try {
                Thread.sleep(2);
            } catch (InterruptedException stop) {
                return;
            }
        }
    }

    @Override
    public void close() throws InterruptedException {
        running = false;
        thread.join(1000);
    }
}
