package io.triforce.protocol.testing;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import io.smallrye.reactive.messaging.kafka.companion.test.EmbeddedKafkaBroker;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.util.HashMap;
import java.util.Map;

/**
 * A real single-node KRaft broker in the test JVM (SmallRye's {@link EmbeddedKafkaBroker}: no
 * container image) for a service's {@code *IT}; also points the service at the pycode models.
 * Tests read the broker's address from the config key {@code kafka.bootstrap.servers}.
 */
public class EmbeddedKafka implements QuarkusTestResourceLifecycleManager {

    private EmbeddedKafkaBroker broker;

    @Override
    public Map<String, String> start() {
        broker = new EmbeddedKafkaBroker().withNodeId(0).withKafkaHost("127.0.0.1").withKafkaPort(freePort())
                .withControllerPort(freePort()).withDeleteLogDirsOnClose(true)
                .withAdditionalProperties(p -> {
                    p.put("num.partitions", "2");
                    p.put("auto.create.topics.enable", "true");
                    p.put("group.initial.rebalance.delay.ms", "0");
                    p.put("message.max.bytes", "16777216");
                    p.put("offsets.topic.num.partitions", "1");
                })
                .start();
        String bootstrap = broker.getAdvertisedListeners().replaceFirst("^PLAINTEXT://", "");
        Map<String, String> config = new HashMap<>(SharedModels.serviceConfig());
        config.put("kafka.bootstrap.servers", bootstrap);
        config.put("quarkus.kafka.devservices.enabled", "false");
        // the broker runs in this JVM: keep its INFO chatter (config dumps, partition changes) out of the build log
        config.put("quarkus.log.category.\"kafka\".level", "WARN");
        config.put("quarkus.log.category.\"org.apache.kafka\".level", "WARN");
        config.put("quarkus.log.category.\"state.change.logger\".level", "WARN");
        return config;
    }

    @Override
    public void stop() {
        if (broker != null) {
            broker.close();
        }
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
