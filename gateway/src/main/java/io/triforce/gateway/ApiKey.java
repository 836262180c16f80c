package io.triforce.gateway;

import jakarta.enterprise.context.ApplicationScoped;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The API keys ({@code triforce.api-key}, comma-separated, so keys can be rotated): when any is
 * configured, requests must carry {@code Authorization: Bearer <key>}; none configured = open.
 */
@ApplicationScoped
public class ApiKey {

    @ConfigProperty(name = "triforce.api-key")
    Optional<List<String>> keys;

    public void check(String authorization) {
        List<byte[]> accepted = keys.orElse(List.of()).stream().map(String::strip).filter(k -> !k.isEmpty())
                .map(k -> ("Bearer " + k).getBytes(StandardCharsets.UTF_8)).toList();
        if (accepted.isEmpty()) {
            return;
        }
        byte[] sent = authorization == null ? null : authorization.strip().getBytes(StandardCharsets.UTF_8);
        boolean ok = false;
        for (byte[] key : accepted) {
            ok |= sent != null && MessageDigest.isEqual(key, sent); // constant time per key, every key tried
        }
        if (!ok) {
            throw new ApiException(401, "invalid_request_error", null, "invalid_api_key",
                    sent == null ? "Missing API key: send 'Authorization: Bearer <key>'" : "Incorrect API key provided");
        }
    }
}
