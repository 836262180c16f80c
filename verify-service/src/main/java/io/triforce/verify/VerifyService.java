package io.triforce.verify;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.common.annotation.NonBlocking;
import io.smallrye.reactive.messaging.kafka.KafkaRecord;
import io.triforce.protocol.Commit;
import io.triforce.protocol.Level2Proposal;
import io.triforce.protocol.LevelCounters;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.level.VerifySession;
import io.triforce.protocol.runtime.AcceptanceMeter;
import io.triforce.protocol.runtime.Inbox;
import io.triforce.protocol.runtime.LevelHost;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Emitter;
import org.eclipse.microprofile.reactive.messaging.Incoming;
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
    @ConfigProperty(name = "triforce.session-timeout")
    Duration sessionTimeout;
    @Inject
    @Channel("committed")
    Emitter<Commit> committed;
    @Inject
    MeterRegistry registry;
    @Inject
    @Channel("session-events")
    Emitter<SessionEvent> sessionEvents;

    @Inject
    ObjectMapper json;
    @ConfigProperty(name = "triforce.topic.sessions")
    String sessionsTopic;
    @ConfigProperty(name = "triforce.topic.level2")
    String level2Topic;

    @ConfigProperty(name = "triforce.threads", defaultValue = "0")
    int threads;
    @ConfigProperty(name = "triforce.backend", defaultValue = "auto")
    String backend;

    private LevelHost<VerifySession> host;
    private Counter committedTokens;
    private AcceptanceMeter level2Acceptance;
    private Inbox inbox;

    void start(@Observes StartupEvent event) {
        host = new LevelHost<>(3, "verify", modelDir, backend, threads, sessionTimeout, registry,
                (id, e) -> send(Commit.failed(id, "verify-service: " + e.getMessage())),
                id -> sessionEvents.send(KafkaRecord.of(id, SessionEvent.resync(id))));
        committedTokens = Counter.builder("triforce.tokens.committed").register(registry);
        level2Acceptance = new AcceptanceMeter(registry, 2);
        inbox = new Inbox(json, host.transit()).on(sessionsTopic, SessionEvent.class, this::onSession)
                .on(level2Topic, Level2Proposal.class, this::onProposal);
        LOG.infof("target model %s loaded for level 3 on the %s backend", modelDir, host.backendName());
    }

    void stop(@Observes ShutdownEvent event) throws Exception {
        host.close();
    }

    public boolean ready() {
        return host != null;
    }

    /** Every input topic arrives here, through one consumer (see {@link Inbox}), on its event loop. */
    @Incoming("inbox")
    @NonBlocking
    public void onRecord(ConsumerRecord<String, String> record) {
        inbox.accept(record.topic(), record.value());
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
        committed.send(KafkaRecord.of(commit.sessionId(), commit));
    }
}
