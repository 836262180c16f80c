package io.triforce.protocol.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.MeterRegistry;
import io.smallrye.reactive.messaging.memory.InMemoryConnector;
import io.smallrye.reactive.messaging.memory.InMemorySink;
import jakarta.inject.Inject;
import java.util.List;
import java.util.function.Function;
import org.eclipse.microprofile.reactive.messaging.Message;
import org.eclipse.microprofile.reactive.messaging.spi.Connector;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A level service on {@link InMemoryChannels}, seen from its {@code *Test}: what it is sent, what it
 * sent, what it counted. Subclasses are the {@code @QuarkusTest}s and name their outgoing channels in
 * their {@code @QuarkusTestResource(InMemoryChannels.class)}.
 */
@ExtendWith(SharedModelsCondition.class)
public abstract class InMemoryLevelTest {

    @Inject
    @Connector("smallrye-in-memory")
    protected InMemoryConnector connector;

    @Inject
    protected MeterRegistry registry;

    /** {@code message} as a Kafka record of {@code topic} on the service's one input channel. */
    protected void send(String topic, Object message) {
        connector.source("inbox").send(KafkaJson.record(topic, message));
    }

    /** Everything the service sent on {@code channel}, in order. */
    protected <T> List<T> received(String channel) {
        InMemorySink<T> sink = connector.sink(channel);
        return sink.received().stream().map(Message::getPayload).toList();
    }

    /** What the service sent on {@code channel} for {@code session}, in order. */
    protected <T> List<T> received(String channel, Function<T, String> sessionOf, String session) {
        return this.<T>received(channel).stream().filter(x -> sessionOf.apply(x).equals(session)).toList();
    }

    /** The service counted proposals of level {@code level} and accepted no more than it was proposed. */
    protected void assertAcceptanceCounted(int level) {
        String tag = Integer.toString(level);
        double proposed = registry.get("triforce.tokens.proposed").tag("level", tag).counter().count();
        double accepted = registry.get("triforce.tokens.accepted").tag("level", tag).counter().count();
        assertTrue(proposed > 0 && accepted <= proposed, "level-" + level + " acceptance counted: " + accepted + "/"
                + proposed);
    }
}
