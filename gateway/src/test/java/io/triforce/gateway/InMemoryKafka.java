package io.triforce.gateway;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.smallrye.reactive.messaging.memory.InMemoryConnector;
import io.triforce.protocol.testing.SharedModels;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The gateway alone: its Kafka channels on SmallRye's in-memory connector, the pycode target's
 * tokenizer, two API keys, room for two sessions, a 64 KiB body limit, a 3 s token timeout and a
 * random HTTP port. Test classes select it with {@code @TestProfile(InMemoryKafka.Profile.class)}.
 */
public class InMemoryKafka implements QuarkusTestResourceLifecycleManager {

    /** The HTTP tests' profile: this resource only (one application for all of them). */
    public static class Profile implements QuarkusTestProfile {
        @Override
        public List<TestResourceEntry> testResources() {
            return List.of(new TestResourceEntry(InMemoryKafka.class));
        }

        @Override
        public boolean disableGlobalTestResources() {
            return true;
        }
    }

    static final String KEY = "test-key-1";
    static final String SECOND_KEY = "test-key-2";
    static final int MAX_SESSIONS = 2;
    static final int MAX_BODY_BYTES = 65536;

    @Override
    public Map<String, String> start() {
        Map<String, String> config = new HashMap<>(InMemoryConnector.switchOutgoingChannelsToInMemory("sessions"));
        config.putAll(InMemoryConnector.switchIncomingChannelsToInMemory("committed", "session-requests"));
        config.putAll(SharedModels.serviceConfig());
        config.put("triforce.api-key", KEY + "," + SECOND_KEY);
        config.put("triforce.gateway.max-sessions", Integer.toString(MAX_SESSIONS));
        config.put("triforce.gateway.max-body-bytes", Integer.toString(MAX_BODY_BYTES));
        config.put("triforce.gateway.token-timeout", "3s");
        config.put("quarkus.http.test-port", "0");
        return config;
    }

    @Override
    public void stop() {
        InMemoryConnector.clear();
    }
}
