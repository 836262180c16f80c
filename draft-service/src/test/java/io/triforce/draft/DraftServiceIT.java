package io.triforce.draft;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.triforce.protocol.Level1Proposal;
import io.triforce.protocol.Topics;
import io.triforce.protocol.testing.EmbeddedKafka;
import io.triforce.protocol.testing.KafkaJson;
import io.triforce.protocol.testing.SharedModelsCondition;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** draft-service against a real broker (EmbeddedKafkaBroker in this JVM): {@link DraftScenario} through Kafka. */
@ExtendWith(SharedModelsCondition.class)
@QuarkusTest
@QuarkusTestResource(value = EmbeddedKafka.class, restrictToAnnotatedClass = true)
class DraftServiceIT {

    private static KafkaJson kafka;
    private static List<KafkaJson.Keyed<Level1Proposal>> proposals;

    @BeforeAll
    static void connect() {
        kafka = new KafkaJson(org.eclipse.microprofile.config.ConfigProvider.getConfig()
                .getValue("kafka.bootstrap.servers", String.class));
        proposals = kafka.collect(Topics.LEVEL1_PROPOSALS, Level1Proposal.class);
    }

    @AfterAll
    static void disconnect() throws Exception {
        kafka.close();
    }

    @Test
    void draftSessionThroughTheBroker() throws Exception {
        DraftScenario.run("it-draft", (topic, m) -> kafka.send(topic, "it-draft", m),
                () -> KafkaJson.values(proposals, x -> x.sessionId().equals("it-draft")));
        assertTrue(proposals.stream().allMatch(r -> r.key().equals("it-draft")), "proposals are keyed by session id");
    }
}
