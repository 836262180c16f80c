package io.triforce.verify;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.triforce.protocol.Commit;
import io.triforce.protocol.Topics;
import io.triforce.protocol.testing.EmbeddedKafka;
import io.triforce.protocol.testing.KafkaJson;
import io.triforce.protocol.testing.SharedModelsCondition;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * verify-service against a real broker (EmbeddedKafkaBroker in this JVM): the same sessions as
 * {@link VerifyServiceTest}, through Kafka's JSON serde, session-id keys and consumer groups.
 */
@ExtendWith(SharedModelsCondition.class)
@QuarkusTest
@QuarkusTestResource(value = EmbeddedKafka.class, restrictToAnnotatedClass = true)
class VerifyServiceIT {

    private static KafkaJson kafka;
    private static List<KafkaJson.Keyed<Commit>> committed;

    @BeforeAll
    static void connect() {
        kafka = new KafkaJson(org.eclipse.microprofile.config.ConfigProvider.getConfig()
                .getValue("kafka.bootstrap.servers", String.class));
        committed = kafka.collect(Topics.COMMITTED, Commit.class);
    }

    @AfterAll
    static void disconnect() throws Exception {
        kafka.close();
    }

    @Test
    void greedySessionThroughTheBroker() throws Exception {
        VerifyScenario.greedy("it-greedy", this::send, () -> commits("it-greedy"));
        assertTrue(committed.stream().filter(r -> r.value().sessionId().equals("it-greedy"))
                .allMatch(r -> r.key().equals("it-greedy")), "the committed log is keyed by session id");
    }

    @Test
    void sampledSessionThroughTheBroker() throws Exception {
        VerifyScenario.sampled("it-sampled", this::send, () -> commits("it-sampled"));
    }

    private void send(String topic, Object message) {
        String key = switch (message) {
            case io.triforce.protocol.SessionEvent e -> e.sessionId();
            case io.triforce.protocol.Level2Proposal p -> p.sessionId();
            default -> throw new IllegalArgumentException(String.valueOf(message));
        };
        kafka.send(topic, key, message);
    }

    private List<Commit> commits(String session) {
        return KafkaJson.values(committed, c -> c.sessionId().equals(session));
    }
}
