package io.triforce.protocol.runtime;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiConsumer;
import java.util.function.BiPredicate;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * One service's sessions, owned by a single worker thread (inference never runs on Kafka's or
 * the HTTP event loop's threads). Messages for a session whose start has not arrived yet wait
 * for it; messages for an ended session are dropped; a session idle for longer than the
 * timeout is freed. Sessions that are {@link AutoCloseable} (their caches hold GPU memory) are
 * closed when they end, on the worker.
 */
public final class SessionWorker<S> implements AutoCloseable {

    private static final int ENDED_REMEMBERED = 10_000;

    private final ScheduledThreadPoolExecutor executor;
    private final Duration idleTimeout;
    private final BiConsumer<String, Exception> onError;
    private final Map<String, Entry<S>> sessions = new HashMap<>();
    private final Map<String, List<Consumer<S>>> early = new HashMap<>();
    private final Map<String, Boolean> ended = new LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
            return size() > ENDED_REMEMBERED;
        }
    };
    private final AtomicBoolean pumpQueued = new AtomicBoolean();
    private final java.util.concurrent.atomic.AtomicLong pumpRequests = new java.util.concurrent.atomic.AtomicLong();
    private volatile int active;

    private static final class Entry<S> {
        final S session;
        long lastUsedNanos = System.nanoTime();

        Entry(S session) {
            this.session = session;
        }
    }

    /** @param onError called on the worker when a session fails; the session is already ended */
    public SessionWorker(String name, Duration idleTimeout, BiConsumer<String, Exception> onError) {
        this.executor = (ScheduledThreadPoolExecutor) Executors.newScheduledThreadPool(1,
                Thread.ofPlatform().name(name + "-worker").daemon().factory());
        this.idleTimeout = idleTimeout;
        this.onError = onError;
        long sweep = Math.max(1, idleTimeout.toMillis() / 4);
        executor.scheduleWithFixedDelay(this::expireIdle, sweep, sweep, TimeUnit.MILLISECONDS);
    }

    /** Creates the session on the worker and replays the messages that came before it. */
    public void start(String id, Supplier<S> factory) {
        executor.execute(() -> {
            if (sessions.containsKey(id) || ended.containsKey(id)) {
                return; // a redelivered start
            }
            try {
                sessions.put(id, new Entry<>(factory.get()));
                active = sessions.size();
                List<Consumer<S>> waiting = early.remove(id);
                if (waiting != null) {
                    waiting.forEach(action -> run(id, action));
                }
            } catch (RuntimeException e) {
                fail(id, e);
            }
        });
    }

    /** Runs {@code action} on the session's state, on the worker. */
    public void with(String id, Consumer<S> action) {
        executor.execute(() -> run(id, action));
    }

    /**
     * Queues (once) a pass of {@code step} over every live session, on the worker; while any step
     * did work, another pass follows — after the messages that arrived meanwhile. A caller queues
     * its message first, then calls this: when a pass was already queued (ahead of that message),
     * the pass notices the late request and queues one more, so a message never waits for a
     * pump that ran before it (that was a stall: the draft at its lookahead limit, a commit or
     * correction arriving behind an idle pass, and nobody pumping again).
     */
    public void pump(BiPredicate<String, S> step) {
        long request = pumpRequests.incrementAndGet();
        if (!pumpQueued.compareAndSet(false, true)) {
            return;
        }
        executor.execute(() -> {
            pumpQueued.set(false);
            boolean late = pumpRequests.get() != request;
            AtomicBoolean worked = new AtomicBoolean();
            List.copyOf(sessions.keySet()).forEach(id -> run(id, s -> {
                if (step.test(id, s)) {
                    worked.set(true);
                }
            }));
            if (worked.get() || late) {
                pump(step);
            }
        });
    }

    public void end(String id) {
        executor.execute(() -> endNow(id));
    }

    public int activeSessions() {
        return active;
    }

    public int queueDepth() {
        return executor.getQueue().size();
    }

    private void run(String id, Consumer<S> action) {
        Entry<S> entry = sessions.get(id);
        if (entry == null) {
            if (!ended.containsKey(id)) {
                early.computeIfAbsent(id, k -> new ArrayList<>()).add(action);
            }
            return;
        }
        entry.lastUsedNanos = System.nanoTime();
        try {
            action.accept(entry.session);
        } catch (RuntimeException e) {
            fail(id, e);
        }
    }

    private void fail(String id, RuntimeException e) {
        endNow(id);
        onError.accept(id, e);
    }

    private void endNow(String id) {
        Entry<S> entry = sessions.remove(id);
        if (entry != null) {
            release(id, entry.session);
        }
        early.remove(id);
        ended.put(id, Boolean.TRUE);
        active = sessions.size();
    }

    private void expireIdle() {
        long now = System.nanoTime();
        sessions.entrySet().removeIf(e -> {
            boolean idle = now - e.getValue().lastUsedNanos > idleTimeout.toNanos();
            if (idle) {
                ended.put(e.getKey(), Boolean.TRUE);
                release(e.getKey(), e.getValue().session);
            }
            return idle;
        });
        early.keySet().removeIf(id -> !sessions.containsKey(id) && ended.containsKey(id));
        active = sessions.size();
    }

    private void release(String id, S session) {
        if (session instanceof AutoCloseable closeable) {
            try {
                closeable.close();
            } catch (Exception e) {
                onError.accept(id, new IllegalStateException("could not free the session's state: " + e.getMessage(), e));
            }
        }
    }

    /** Frees every live session (on the worker, after what is queued) and stops the worker. */
    @Override
    public void close() throws InterruptedException {
        executor.execute(() -> {
            sessions.forEach((id, e) -> release(id, e.session));
            sessions.clear();
        });
        executor.shutdown();
        if (!executor.awaitTermination(10, TimeUnit.SECONDS)) {
            executor.shutdownNow();
        }
    }
}
