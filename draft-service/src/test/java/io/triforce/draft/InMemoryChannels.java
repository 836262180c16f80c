package io.triforce.draft;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import io.smallrye.reactive.messaging.memory.InMemoryConnector;
import io.triforce.protocol.testing.SharedModels;
import java.util.HashMap;
import java.util.Map;

/** draft-service's channels on SmallRye's in-memory connector (no broker), the pycode models from ../shared. */
public class InMemoryChannels implements QuarkusTestResourceLifecycleManager {

    @Override
    public Map<String, String> start() {
        Map<String, String> config = new HashMap<>(SharedModels.serviceConfig());
        config.putAll(InMemoryConnector.switchIncomingChannelsToInMemory("inbox"));
        config.putAll(InMemoryConnector.switchOutgoingChannelsToInMemory("level1-proposals", "session-events"));
        return config;
    }

    @Override
    public void stop() {
        InMemoryConnector.clear();
    }
}
