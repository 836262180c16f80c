package io.triforce.protocol.runtime;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/**
 * A level service is ready once its model is loaded, that is once its {@link LevelHost} exists
 * (Kafka's own readiness checks come with the connector). The gateway excludes this bean.
 */
@Readiness
@ApplicationScoped
public class LevelReadiness implements HealthCheck {

    @Inject
    LevelWiring wiring;

    @Override
    public HealthCheckResponse call() {
        String level = wiring.levelName();
        return HealthCheckResponse.named(level == null ? "level-model" : level + "-model").status(level != null)
                .build();
    }
}
