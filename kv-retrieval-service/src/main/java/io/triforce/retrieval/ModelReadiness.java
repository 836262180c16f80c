package io.triforce.retrieval;

import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/** Ready once the target model is loaded (Kafka's own readiness checks come with the connector). */
@Readiness
public class ModelReadiness implements HealthCheck {

    @Inject
    RetrievalService service;

    @Override
    public HealthCheckResponse call() {
        return HealthCheckResponse.named("target-model").status(service.ready()).build();
    }
}
