package io.triforce.verify;

import io.micrometer.core.instrument.Counter;
import io.quarkus.runtime.StartupEvent;
import io.triforce.protocol.Commit;
import io.triforce.protocol.Level2Proposal;
import io.triforce.protocol.LevelCounters;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.level.VerifySession;
import io.triforce.protocol.runtime.AcceptanceMeter;
import io.triforce.protocol.runtime.LevelHost;
import io.triforce.protocol.runtime.LevelWiring;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.file.Path;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Emitter;
import org.jboss.logging.Logger;

/**
 * Level 3: the target over its full cache verifies level-2 proposals and writes the committed
 * token log — the only service that commits tokens.
 */
@ApplicationScoped
public class VerifyService {

    private static final Logger LOG = Logger.getLogger(VerifyService.class);

    @ConfigProperty(name = "triforce.model")
    Path modelDir;
    @Inject
    LevelWiring wiring;
    @Inject
    @Channel("committed")
    Emitter<Commit> committed;
    @ConfigProperty(name = "triforce.topic.level2")
    String level2Topic;
    @ConfigProperty(name = "triforce.backend", defaultValue = "auto")
    String backend;

    private LevelHost<VerifySession> host;
    private Counter committedTokens;
    private AcceptanceMeter level2Acceptance;

    void start(@Observes StartupEvent event) {
        host = wiring.host(3, "verify", modelDir, backend,
                (id, e) -> send(Commit.failed(id, "verify-service: " + e.getMessage())));
        committedTokens = Counter.builder("triforce.tokens.committed").register(wiring.registry());
        level2Acceptance = new AcceptanceMeter(wiring.registry(), 2);
        wiring.listen(wiring.inbox(this::onSession).on(level2Topic, Level2Proposal.class, this::onProposal));
        LOG.infof("target model %s loaded for level 3 on the %s backend", modelDir, host.backendName());
    }

    private void onSession(SessionEvent event) {
        host.onSession(event, () -> new VerifySession(host.model(), event), s -> s.onReannounce(event));
        if (event.kind() == SessionEvent.Kind.FAILED) {
            send(Commit.failed(event.sessionId(), event.error() == null ? "a level failed" : event.error()));
        }
    }

    private void onProposal(Level2Proposal proposal) {
        host.worker().with(proposal.sessionId(), s -> {
            LevelCounters before = s.level2Counters();
            s.onProposal(proposal).ifPresent(commit -> {
                committedTokens.increment(commit.tokens().length);
                send(commit);
                if (commit.last()) {
                    host.worker().end(commit.sessionId());
                }
            });
            level2Acceptance.add(before, s.level2Counters());
        });
    }

    private void send(Commit commit) {
        LevelWiring.send(committed, commit.sessionId(), commit);
    }
}
