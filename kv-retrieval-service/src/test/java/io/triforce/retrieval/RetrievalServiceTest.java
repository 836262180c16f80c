package io.triforce.retrieval;

import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.ResourceArg;
import io.quarkus.test.junit.QuarkusTest;
import io.smallrye.reactive.messaging.memory.InMemoryConnector;
import io.triforce.protocol.Correction;
import io.triforce.protocol.Level2Proposal;
import io.triforce.protocol.SessionEvent;
import io.triforce.protocol.testing.InMemoryChannels;
import io.triforce.protocol.testing.InMemoryLevel;
import io.triforce.protocol.testing.SharedModelsCondition;
import jakarta.inject.Inject;
import java.util.List;
import java.util.function.Function;
import org.eclipse.microprofile.reactive.messaging.spi.Connector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** kv-retrieval-service on the in-memory connector: see {@link RetrievalScenario}. */
@ExtendWith(SharedModelsCondition.class)
@QuarkusTest
@QuarkusTestResource(value = InMemoryChannels.class, restrictToAnnotatedClass = true,
        initArgs = @ResourceArg(name = InMemoryChannels.OUTGOING, value = "level2-proposals,corrections,session-events"))
class RetrievalServiceTest {

    @Inject
    @Connector("smallrye-in-memory")
    InMemoryConnector connector;

    @Inject
    MeterRegistry registry;

    @Test
    void greedyProposalsCorrectionsAndResets() throws Exception {
        RetrievalScenario.greedy("greedy-2", this::send, () -> out("greedy-2"));
        InMemoryLevel.assertAcceptanceCounted(registry, 1);
    }

    @Test
    void sampledProposalsCarryDistributions() throws Exception {
        RetrievalScenario.sampled("sampled-2", this::send, () -> out("sampled-2"));
    }

    @Test
    void aLostSessionIsAskedForAndRebuiltAfterTheReannouncedLog() throws Exception {
        RetrievalScenario.lost("lost-2", this::send, () -> out("lost-2"),
                () -> received("session-events", SessionEvent::sessionId, "lost-2"));
    }

    private void send(String topic, Object message) {
        new InMemoryLevel(connector).send(topic, message);
    }

    private RetrievalScenario.Out out(String session) {
        return new RetrievalScenario.Out(received("level2-proposals", Level2Proposal::sessionId, session),
                received("corrections", Correction::sessionId, session));
    }

    private <T> List<T> received(String channel, Function<T, String> sessionOf, String session) {
        return new InMemoryLevel(connector).received(channel, sessionOf, session);
    }
}
