package io.triforce.draft;

import io.quarkus.runtime.StartupEvent;
import io.triforce.protocol.Commit;
import io.triforce.protocol.Correction;
import io.triforce.protocol.Level1Proposal;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.level.DraftSession;
import io.triforce.protocol.level.LevelSettings;
import io.triforce.protocol.runtime.LevelHost;
import io.triforce.protocol.runtime.LevelWiring;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.file.Path;
import org.eclipse.microprofile.config.ConfigProvider;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Emitter;
import org.jboss.logging.Logger;

/** Level 1: the tiny draft streams proposals for every live session, ahead of the committed log. */
@ApplicationScoped
public class DraftService {

    private static final Logger LOG = Logger.getLogger(DraftService.class);

    @ConfigProperty(name = "triforce.draft-model")
    Path modelDir;
    @Inject
    LevelWiring wiring;
    @Inject
    @Channel("level1-proposals")
    Emitter<Level1Proposal> proposals;
    @ConfigProperty(name = "triforce.backend")
    String backend;
    @ConfigProperty(name = "triforce.topic.corrections")
    String correctionsTopic;
    @ConfigProperty(name = "triforce.topic.committed")
    String committedTopic;

    private LevelHost<DraftSession> host;
    private LevelSettings settings;

    void start(@Observes StartupEvent event) {
        settings = LevelSettings.from(k -> ConfigProvider.getConfig().getOptionalValue(k, Integer.class));
        host = wiring.host(1, "draft", modelDir, backend,
                (id, e) -> wiring.publish(SessionEvent.failed(id, "draft-service", e)));
        wiring.listen(wiring.inbox(this::onSession).on(correctionsTopic, Correction.class, this::onCorrection)
                .on(committedTopic, Commit.class, this::onCommit));
        LOG.infof("draft model %s loaded on the %s backend; %s", modelDir, host.backendName(), settings);
    }

    private void onSession(SessionEvent event) {
        if (host.onSession(event, () -> new DraftSession(host.model(), event, settings), s -> {
            s.onReannounce(event);
            return true;
        })) {
            pump();
        }
    }

    private void onCorrection(Correction correction) {
        host.worker().with(correction.sessionId(), s -> s.onCorrection(correction));
        pump();
    }

    private void onCommit(Commit commit) {
        if (host.onCommit(commit, s -> s.onCommit(commit))) {
            pump();
        }
    }

    /** One proposal per session that may speculate further, again and again until none may. */
    private void pump() {
        host.worker().pump((id, session) -> session.next().map(p -> {
            LevelWiring.send(proposals, id, p);
            return true;
        }).orElse(false));
    }
}
