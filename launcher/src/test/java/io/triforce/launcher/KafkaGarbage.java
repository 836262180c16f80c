package io.triforce.launcher;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** Malformed and hostile records for every TriForce topic, published straight to the broker. */
final class KafkaGarbage {

    static final List<String> TOPICS = List.of("triforce.sessions", "triforce.level1-proposals",
            "triforce.level2-proposals", "triforce.corrections", "triforce.committed");

    private static final List<byte[]> PAYLOADS = List.of(
            "not json at all".getBytes(StandardCharsets.UTF_8),
            new byte[0],
            new byte[] {(byte) 0xff, (byte) 0xfe, 0, 1},
            "[1,2,3]".getBytes(StandardCharsets.UTF_8),
            "{\"unexpected\":true}".getBytes(StandardCharsets.UTF_8),
            "{\"sessionId\":\"garbage\",\"kind\":\"NOT_A_KIND\"}".getBytes(StandardCharsets.UTF_8),
            ("{\"sessionId\":\"garbage\",\"kind\":\"START\",\"prompt\":[999999,-1],\"maxTokens\":-1,\"epoch\":-1,"
                    + "\"start\":-5,\"tokens\":[999999],\"finishReason\":null}").getBytes(StandardCharsets.UTF_8),
            "{\"sessionId\":null,\"tokens\":null,\"finishReason\":\"stop\"}".getBytes(StandardCharsets.UTF_8));

    private KafkaGarbage() {
    }

    /**
     * Publishes every payload (and a tombstone) to every topic; returns how many records were sent.
     *
     * @param security client properties for the broker's listener (SASL settings) and overrides
     */
    static int publish(String bootstrapServers, Map<String, Object> security) throws Exception {
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
        for (String topic : TOPICS) {
            for (int i = 0; i < PAYLOADS.size(); i++) {
                records.add(new ProducerRecord<>(topic, ("garbage-" + i).getBytes(StandardCharsets.UTF_8), PAYLOADS.get(i)));
            }
            records.add(new ProducerRecord<>(topic, "garbage-tombstone".getBytes(StandardCharsets.UTF_8), null));
            records.add(new ProducerRecord<>(topic, null, "{}".getBytes(StandardCharsets.UTF_8)));
        }
        Map<String, Object> config = new HashMap<>(Map.of("bootstrap.servers", bootstrapServers, "max.block.ms", 10_000,
                "delivery.timeout.ms", 20_000, "request.timeout.ms", 10_000));
        config.putAll(security);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(config, new ByteArraySerializer(),
                new ByteArraySerializer())) {
            for (ProducerRecord<byte[], byte[]> r : records) {
                producer.send(r).get();
            }
        }
        return records.size();
    }
}
