package io.triforce.draft;

import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/** Ready once the draft model is loaded (Kafka's own readiness checks come with the connector). */
@Readiness
public class ModelReadiness implements HealthCheck {

    @Inject
    DraftService service;

    @Override
    public HealthCheckResponse call() {
        return HealthCheckResponse.named("draft-model").status(service.ready()).build();
    }
}
