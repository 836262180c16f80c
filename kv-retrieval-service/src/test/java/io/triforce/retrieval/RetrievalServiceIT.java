package io.triforce.retrieval;

import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.triforce.protocol.Correction;
import io.triforce.protocol.Level2Proposal;
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
 * kv-retrieval-service against a real broker (EmbeddedKafkaBroker in this JVM): {@link RetrievalScenario}
 * through Kafka, sampled distributions included (binary, base64 in JSON).
 */
@ExtendWith(SharedModelsCondition.class)
@QuarkusTest
@QuarkusTestResource(value = EmbeddedKafka.class, restrictToAnnotatedClass = true)
class RetrievalServiceIT {

    private static KafkaJson kafka;
    private static List<KafkaJson.Keyed<Level2Proposal>> proposals;
    private static List<KafkaJson.Keyed<Correction>> corrections;

    @BeforeAll
    static void connect() {
        kafka = new KafkaJson(org.eclipse.microprofile.config.ConfigProvider.getConfig()
                .getValue("kafka.bootstrap.servers", String.class));
        proposals = kafka.collect(Topics.LEVEL2_PROPOSALS, Level2Proposal.class);
        corrections = kafka.collect(Topics.CORRECTIONS, Correction.class);
    }

    @AfterAll
    static void disconnect() throws Exception {
        kafka.close();
    }

    @Test
    void greedySessionThroughTheBroker() throws Exception {
        RetrievalScenario.greedy("it-greedy", (t, m) -> kafka.send(t, "it-greedy", m), () -> out("it-greedy"));
    }

    @Test
    void sampledSessionThroughTheBroker() throws Exception {
        RetrievalScenario.sampled("it-sampled", (t, m) -> kafka.send(t, "it-sampled", m), () -> out("it-sampled"));
    }

    private static RetrievalScenario.Out out(String session) {
        return new RetrievalScenario.Out(KafkaJson.values(proposals, x -> x.sessionId().equals(session)),
                KafkaJson.values(corrections, x -> x.sessionId().equals(session)));
    }
}
