package io.triforce.draft;

import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.reactive.messaging.kafka.KafkaRecord;
import io.triforce.engine.backend.Transformer;
import io.triforce.protocol.Commit;
import io.triforce.protocol.Correction;
import io.triforce.protocol.Level1Proposal;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.Topics;
import io.triforce.protocol.level.DraftSession;
import io.triforce.protocol.level.LevelSettings;
import io.triforce.protocol.runtime.LevelHost;
import io.triforce.protocol.runtime.SessionWorker;
import io.triforce.protocol.runtime.Transit;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.time.Duration;
import org.eclipse.microprofile.config.ConfigProvider;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Emitter;
import org.eclipse.microprofile.reactive.messaging.Incoming;
import org.jboss.logging.Logger;

/** Level 1: the tiny draft streams proposals for every live session, ahead of the committed log. */
@ApplicationScoped
public class DraftService {

    private static final Logger LOG = Logger.getLogger(DraftService.class);

    @ConfigProperty(name = "triforce.draft-model")
    Path modelDir;
    @ConfigProperty(name = "triforce.session-timeout")
    Duration sessionTimeout;
    @Inject
    @Channel("level1-proposals")
    Emitter<Level1Proposal> proposals;
    @Inject
    MeterRegistry registry;

    @ConfigProperty(name = "triforce.threads", defaultValue = "0")
    int threads;

    private LevelHost<DraftSession> host;
    private Transformer draft;
    private LevelSettings settings;
    private SessionWorker<DraftSession> worker;
    private Transit transit;

    void start(@Observes StartupEvent event) {
        settings = LevelSettings.from(k -> ConfigProvider.getConfig().getOptionalValue(k, Integer.class));
        host = new LevelHost<>(1, "draft", modelDir, threads, sessionTimeout, registry, (id, e) -> LOG.errorf(e, "session %s failed", id));
        draft = host.model();
        worker = host.worker();
        transit = host.transit();
        LOG.infof("draft model %s loaded; %s", modelDir, settings);
    }

    void stop(@Observes ShutdownEvent event) throws Exception {
        host.close();
    }

    public boolean ready() {
        return draft != null;
    }

    @Incoming("sessions")
    public void onSession(SessionEvent event) {
        if (host.onSession(event, () -> new DraftSession(draft, event, settings))) {
            pump();
        }
    }

    @Incoming("corrections")
    public void onCorrection(Correction correction) {
        transit.received(Topics.CORRECTIONS, correction.sentAtMicros());
        worker.with(correction.sessionId(), s -> s.onCorrection(correction));
        pump();
    }

    @Incoming("committed")
    public void onCommit(Commit commit) {
        transit.received(Topics.COMMITTED, commit.sentAtMicros());
        if (commit.last()) {
            worker.end(commit.sessionId());
        } else {
            worker.with(commit.sessionId(), s -> s.onCommit(commit));
            pump();
        }
    }

    /** One proposal per session that may speculate further, again and again until none may. */
    private void pump() {
        worker.pump((id, session) -> session.next().map(p -> {
            proposals.send(KafkaRecord.of(id, p));
            return true;
        }).orElse(false));
    }
}
