package io.triforce.retrieval;

import io.quarkus.runtime.StartupEvent;
import io.triforce.protocol.Commit;
import io.triforce.protocol.Correction;
import io.triforce.protocol.Level1Proposal;
import io.triforce.protocol.Level2Proposal;
import io.triforce.protocol.LevelCounters;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.level.LevelSettings;
import io.triforce.protocol.level.RetrievalSession;
import io.triforce.protocol.runtime.AcceptanceMeter;
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

/**
 * Level 2: the target's weights over a retrieval cache verify level-1 proposals and propose
 * to the target; rejections (its own or the target's) go back to level 1 as corrections.
 */
@ApplicationScoped
public class RetrievalService implements RetrievalSession.Outbox {

    private static final Logger LOG = Logger.getLogger(RetrievalService.class);

    @ConfigProperty(name = "triforce.model")
    Path modelDir;
    @Inject
    LevelWiring wiring;
    @Inject
    @Channel("level2-proposals")
    Emitter<Level2Proposal> proposals;
    @Inject
    @Channel("corrections")
    Emitter<Correction> corrections;
    @ConfigProperty(name = "triforce.topic.level1")
    String level1Topic;
    @ConfigProperty(name = "triforce.topic.committed")
    String committedTopic;
    @ConfigProperty(name = "triforce.backend", defaultValue = "auto")
    String backend;

    private LevelHost<RetrievalSession> host;
    private LevelSettings settings;
    private AcceptanceMeter level1Acceptance;

    void start(@Observes StartupEvent event) {
        settings = LevelSettings.from(k -> ConfigProvider.getConfig().getOptionalValue(k, Integer.class));
        host = wiring.host(2, "retrieval", modelDir, backend,
                (id, e) -> wiring.publish(SessionEvent.failed(id, "kv-retrieval-service", e)));
        level1Acceptance = new AcceptanceMeter(wiring.registry(), 1);
        wiring.listen(wiring.inbox(this::onSession).on(level1Topic, Level1Proposal.class, this::onProposal)
                .on(committedTopic, Commit.class, this::onCommit));
        LOG.infof("target model %s loaded for level 2 on the %s backend; %s", modelDir, host.backendName(), settings);
    }

    private void onSession(SessionEvent event) {
        if (host.onSession(event, () -> new RetrievalSession(host.model(), event, settings), s -> {
            s.onReannounce(event, this::correct);
            return true;
        })) {
            pump();
        }
    }

    private void onProposal(Level1Proposal proposal) {
        host.worker().with(proposal.sessionId(), s -> {
            LevelCounters before = s.level1Counters();
            s.onProposal(proposal, this);
            level1Acceptance.add(before, s.level1Counters());
        });
        pump();
    }

    private void onCommit(Commit commit) {
        if (host.onCommit(commit, s -> s.onCommit(commit, this::correct))) {
            pump();
        }
    }

    /**
     * Once the messages that are here have been handled: level 2 decides tokens itself, one per
     * session and pass, up to {@code triforce.level2-ahead} past level 1 (off at 0).
     */
    private void pump() {
        if (settings.level2Ahead() > 0) {
            host.worker().pump((id, session) -> session.draftAhead(this));
        }
    }

    @Override
    public void propose(Level2Proposal proposal) {
        LevelWiring.send(proposals, proposal.sessionId(), proposal);
    }

    @Override
    public void correct(Correction correction) {
        LevelWiring.send(corrections, correction.sessionId(), correction);
    }
}
