package io.triforce.gateway;

import jakarta.enterprise.context.ApplicationScoped;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** The optional API key: when configured, requests must carry {@code Authorization: Bearer <key>}. */
@ApplicationScoped
public class ApiKey {

    @ConfigProperty(name = "triforce.api-key")
    Optional<String> key;

    public void check(String authorization) {
        if (key.isEmpty() || key.get().isBlank()) {
            return;
        }
        if (authorization == null || !authorization.equals("Bearer " + key.get())) {
            throw new ApiException(401, "invalid_request_error", null, "invalid_api_key",
                    authorization == null ? "Missing API key: send 'Authorization: Bearer <key>'" : "Incorrect API key provided");
        }
    }
}
