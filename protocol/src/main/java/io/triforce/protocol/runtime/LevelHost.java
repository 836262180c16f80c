package io.triforce.protocol.runtime;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.triforce.engine.backend.Transformer;
import io.triforce.engine.backend.Backend;
import io.triforce.engine.backend.Backends;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.protocol.Commit;
import io.triforce.protocol.SessionEvent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * What every level service holds: its model on its backend, the worker that owns its
 * sessions and the transit clock, with the gauges each level reports (active sessions and
 * queue depth, tagged with the level).
 *
 * @param <S> the level's session type
 */
public final class LevelHost<S> implements AutoCloseable {

    private final String name;
    private final LlamaCheckpoint checkpoint;
    private final Transformer model;
    private final SessionWorker<S> worker;
    private final Transit transit;
    private final String backendName;

    private static final System.Logger LOG = System.getLogger(LevelHost.class.getName());

    /**
     * @param onFailure what the service does, after the failure is logged, when a session fails
     *                  (the session is already ended): tell the other levels or the client
     * @param askFor    how the service asks for a session it does not hold but gets messages for:
     *                  publish {@link SessionEvent#resync} (see {@link SessionWorker})
     * @param threads CPU backend threads of this process (0 = one per core). Three services
     *                share the machine's cores, so fewer threads per level leave cores to the
     *                others (and to Kafka); an explicit {@code -Dtriforce.threads} wins.
     * @param backend {@code cpu}, {@code cuda} or {@code auto} (see {@link Backends#named})
     */
    public LevelHost(int level, String name, Path modelDir, String backend, int threads, Duration sessionTimeout,
                     MeterRegistry registry, BiConsumer<String, Exception> onFailure, Consumer<String> askFor) {
        if (threads > 0 && System.getProperty("triforce.threads") == null) {
            System.setProperty("triforce.threads", Integer.toString(threads)); // read when the first model loads
        }
        this.name = name;
        Backend chosen = Backends.named(backend);
        this.checkpoint = CheckpointLoader.load(modelDir);
        this.model = chosen.load(checkpoint.weights());
        this.backendName = chosen.name();
        this.worker = new SessionWorker<>(name, sessionTimeout, (id, e) -> {
            LOG.log(System.Logger.Level.ERROR, "session " + id + " failed", e);
            onFailure.accept(id, e);
        }, id -> {
            LOG.log(System.Logger.Level.INFO, "messages for session " + id + ", which is not here: asking for it");
            askFor.accept(id);
        });
        this.transit = new Transit(registry);
        String tag = Integer.toString(level);
        Gauge.builder("triforce.sessions.active", worker, SessionWorker::activeSessions).tag("level", tag).register(registry);
        Gauge.builder("triforce.queue.depth", worker, SessionWorker::queueDepth).tag("level", tag).register(registry);
    }

    public Transformer model() {
        return model;
    }

    /** The backend the model runs on ({@code cpu} or {@code cuda}). */
    public String backendName() {
        return backendName;
    }

    public SessionWorker<S> worker() {
        return worker;
    }

    /** The level's name ({@code draft}, {@code retrieval}, {@code verify}). */
    public String name() {
        return name;
    }

    public Transit transit() {
        return transit;
    }

    /**
     * A session event: START starts the session with {@code factory} — a re-announced one keeps
     * a session held here when {@code keep} says so, else builds it afresh; RESYNC is for the
     * gateway; CANCEL and FAILED end the session.
     *
     * @return whether a session (re)started
     */
    public boolean onSession(SessionEvent event, Supplier<S> factory, Predicate<S> keep) {
        switch (event.kind()) {
            case START -> {
                if (event.reannounced()) {
                    worker.announce(event.sessionId(), factory, keep);
                } else {
                    worker.start(event.sessionId(), factory);
                }
                return true;
            }
            case RESYNC -> {
                return false;
            }
            default -> {
                worker.end(event.sessionId());
                return false;
            }
        }
    }

    /**
     * A commit of the log: the last one ends the session, any other goes to {@code follow} on the
     * session's worker.
     *
     * @return whether the session goes on
     */
    public boolean onCommit(Commit commit, Consumer<S> follow) {
        if (commit.last()) {
            worker.end(commit.sessionId());
            return false;
        }
        worker.with(commit.sessionId(), follow);
        return true;
    }

    @Override
    public void close() throws Exception {
        worker.close();
        checkpoint.close();
    }
}
