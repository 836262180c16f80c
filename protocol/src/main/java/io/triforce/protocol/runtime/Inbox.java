package io.triforce.protocol.runtime;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.triforce.protocol.Timestamped;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A level service's input: every topic it reads through one Kafka consumer, so that one
 * assignment (range: partition i of every co-partitioned topic to the same instance) keeps all
 * of a session's messages on one instance. Each record's JSON value is decoded as its topic's
 * message type and handed to that topic's handler. A record that is not a message of its topic
 * (not JSON, the wrong shape, no value) is refused with an {@link IllegalArgumentException}: the
 * connector's failure strategy logs and skips it. Every message is timed in transit under the
 * name of the topic it came from (the configured one).
 */
public final class Inbox {

    private record Route<T extends Timestamped>(Class<T> type, Consumer<T> handler) {

        void deliver(ObjectMapper json, Transit transit, String topic, String value) throws JsonProcessingException {
            T message = json.readValue(value, type);
            if (message == null) {
                throw new IllegalArgumentException("a null message on topic " + topic);
            }
            transit.received(topic, message.sentAtMicros());
            handler.accept(message);
        }
    }

    private final ObjectMapper json;
    private final Transit transit;
    private final Map<String, Route<?>> routes = new HashMap<>();

    public Inbox(ObjectMapper json, Transit transit) {
        this.json = json;
        this.transit = transit;
    }

    /** Messages of {@code topic} are {@code type}s for {@code handler}. */
    public <T extends Timestamped> Inbox on(String topic, Class<T> type, Consumer<T> handler) {
        routes.put(topic, new Route<>(type, handler));
        return this;
    }

    /** Decodes a record of {@code topic} and hands it to the topic's handler. */
    public void accept(String topic, String value) {
        Route<?> route = routes.get(topic);
        if (route == null) {
            throw new IllegalArgumentException("a record of topic " + topic + ", which this service does not read");
        }
        if (value == null) {
            throw new IllegalArgumentException("a record without a value on topic " + topic);
        }
        try {
            route.deliver(json, transit, topic, value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("a malformed message on topic " + topic + ": " + e.getOriginalMessage(), e);
        }
    }
}
