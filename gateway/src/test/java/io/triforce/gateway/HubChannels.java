package io.triforce.gateway;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import io.smallrye.reactive.messaging.memory.InMemoryConnector;
import io.triforce.protocol.testing.SharedModels;
import java.util.HashMap;
import java.util.Map;

/** The gateway's Kafka channels on the in-memory connector, for {@link SessionHubTest}; the pycode tokenizer. */
public class HubChannels implements QuarkusTestResourceLifecycleManager {

    @Override
    public Map<String, String> start() {
        Map<String, String> config = new HashMap<>(SharedModels.serviceConfig());
        config.putAll(InMemoryConnector.switchOutgoingChannelsToInMemory("sessions"));
        config.putAll(InMemoryConnector.switchIncomingChannelsToInMemory("committed", "session-requests"));
        config.put("quarkus.http.test-port", "0");
        return config;
    }

    @Override
    public void stop() {
        InMemoryConnector.clear();
    }
}
