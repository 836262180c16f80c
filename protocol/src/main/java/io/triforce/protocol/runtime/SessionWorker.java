package io.triforce.protocol.runtime;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.RunnableScheduledFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiConsumer;
import java.util.function.BiPredicate;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * One service's sessions, owned by a single worker thread (inference never runs on Kafka's or
 * the HTTP event loop's threads). Messages for a session whose start has not arrived yet wait
 * for it, and the worker asks for the session (at most once per {@link #ASK_INTERVAL}): this
 * instance may have lost its start (a restart after its consumer group committed past it, or
 * partitions taken over from another instance), and a re-announced start ({@link #announce})
 * brings it back. Messages for an ended session are dropped; a session idle for longer than the
 * timeout is freed, as are messages that waited that long. Sessions that are {@link AutoCloseable}
 * (their caches hold GPU memory) are closed when they end, on the worker.
 */
public final class SessionWorker<S> implements AutoCloseable {

    private static final int ENDED_REMEMBERED = 10_000;
    /** How often the worker asks again for a session that messages wait for. */
    public static final Duration ASK_INTERVAL = Duration.ofSeconds(1);

    private final ScheduledThreadPoolExecutor executor;
    private final Duration idleTimeout;
    private final BiConsumer<String, Exception> onError;
    private final Consumer<String> askFor;
    private final Map<String, Entry<S>> sessions = new HashMap<>();
    private final Map<String, Waiting<S>> early = new HashMap<>();
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

    /** Messages for a session that is not here (yet), and when the worker last asked for it. */
    private static final class Waiting<S> {
        final List<Consumer<S>> actions = new ArrayList<>();
        final long sinceNanos = System.nanoTime();
        long askedNanos = sinceNanos - ASK_INTERVAL.toNanos();
    }

    /**
     * @param onError called on the worker when a session fails; the session is already ended
     * @param askFor  called on the worker with the id of a session that messages wait for, at
     *                most once per {@link #ASK_INTERVAL} and session
     */
    public SessionWorker(String name, Duration idleTimeout, BiConsumer<String, Exception> onError,
                         Consumer<String> askFor) {
        this.executor = (ScheduledThreadPoolExecutor) Executors.newScheduledThreadPool(1,
                Thread.ofPlatform().name(name + "-worker").daemon().factory());
        this.idleTimeout = idleTimeout;
        this.onError = onError;
        this.askFor = askFor;
        long sweep = Math.max(1, idleTimeout.toMillis() / 4);
        executor.scheduleWithFixedDelay(this::expireIdle, sweep, sweep, TimeUnit.MILLISECONDS);
    }

    /** Creates the session on the worker and replays the messages that came before it. */
    public void start(String id, Supplier<S> factory) {
        executor.execute(() -> {
            if (sessions.containsKey(id) || ended.containsKey(id)) {
                return; // a redelivered start
            }
            create(id, factory);
        });
    }

    /**
     * A re-announced session: one held here stays when {@code keep} says so (it brings itself up
     * to date); otherwise, or when it is not here — even if it ended here, since the announcer
     * still serves it — it is created afresh and the messages that waited for it are replayed.
     */
    public void announce(String id, Supplier<S> factory, Predicate<S> keep) {
        executor.execute(() -> {
            Entry<S> entry = sessions.get(id);
            if (entry != null) {
                entry.lastUsedNanos = System.nanoTime();
                try {
                    if (keep.test(entry.session)) {
                        return;
                    }
                } catch (RuntimeException e) {
                    fail(id, e);
                    return;
                }
                sessions.remove(id);
                release(id, entry.session);
            }
            ended.remove(id);
            create(id, factory);
        });
    }

    private void create(String id, Supplier<S> factory) {
        try {
            sessions.put(id, new Entry<>(factory.get()));
            active = sessions.size();
            Waiting<S> waiting = early.remove(id);
            if (waiting != null) {
                waiting.actions.forEach(action -> run(id, action));
            }
        } catch (RuntimeException e) {
            fail(id, e);
        }
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

    /** Messages and session work waiting for the worker (the periodic idle sweep not counted). */
    public int queueDepth() {
        return (int) executor.getQueue().stream()
                .filter(task -> !(task instanceof RunnableScheduledFuture<?> f && f.isPeriodic())).count();
    }

    private void run(String id, Consumer<S> action) {
        Entry<S> entry = sessions.get(id);
        if (entry == null) {
            if (!ended.containsKey(id) && id != null) {
                hold(id, action);
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

    private void hold(String id, Consumer<S> action) {
        Waiting<S> waiting = early.computeIfAbsent(id, k -> new Waiting<>());
        waiting.actions.add(action);
        long now = System.nanoTime();
        if (now - waiting.askedNanos >= ASK_INTERVAL.toNanos()) {
            waiting.askedNanos = now;
            askFor.accept(id);
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
        early.values().removeIf(w -> now - w.sinceNanos > idleTimeout.toNanos());
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
