package io.triforce.gateway;

import io.smallrye.reactive.messaging.kafka.KafkaConsumerRebalanceListener;
import io.smallrye.common.annotation.Identifier;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.Collection;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.common.TopicPartition;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;

/**
 * Ready once the tokenizer is loaded and the committed-log consumer holds its partitions (a
 * session started earlier could miss the start of its log).
 */
@org.eclipse.microprofile.health.Readiness
@ApplicationScoped
@Identifier("committed-partitions")
public class Readiness implements HealthCheck, KafkaConsumerRebalanceListener {

    @Inject
    ServedModel model;
    private volatile boolean assigned;

    @Override
    public void onPartitionsAssigned(Consumer<?, ?> consumer, Collection<TopicPartition> partitions) {
        assigned = !partitions.isEmpty();
    }

    @Override
    public void onPartitionsRevoked(Consumer<?, ?> consumer, Collection<TopicPartition> partitions) {
        assigned = false;
    }

    @Override
    public HealthCheckResponse call() {
        return HealthCheckResponse.named("gateway").status(model.ready() && assigned)
                .withData("tokenizer", model.ready()).withData("committed-log-assigned", assigned).build();
    }
}
