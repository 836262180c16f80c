package io.triforce.protocol.testing;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import io.smallrye.reactive.messaging.memory.InMemoryConnector;
import java.util.HashMap;
import java.util.Map;

/**
 * A level service's channels on SmallRye's in-memory connector (no broker), the pycode models
 * from ../shared: its input ({@code inbox}) and the outgoing channels named by the resource
 * argument {@value #OUTGOING} (comma-separated).
 */
public class InMemoryChannels implements QuarkusTestResourceLifecycleManager {

    public static final String OUTGOING = "outgoing";

    private String[] outgoing;

    @Override
    public void init(Map<String, String> initArgs) {
        outgoing = initArgs.getOrDefault(OUTGOING, "").split(",");
    }

    @Override
    public Map<String, String> start() {
        Map<String, String> config = new HashMap<>(SharedModels.serviceConfig());
        config.putAll(InMemoryConnector.switchIncomingChannelsToInMemory("inbox"));
        config.putAll(InMemoryConnector.switchOutgoingChannelsToInMemory(outgoing));
        return config;
    }

    @Override
    public void stop() {
        InMemoryConnector.clear();
    }
}
