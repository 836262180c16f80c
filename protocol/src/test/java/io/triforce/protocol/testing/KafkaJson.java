package io.triforce.protocol.testing;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * A test's own Kafka client speaking the services' wire format (JSON values, session-id keys,
 * as Quarkus' Jackson serde writes them): {@link #send} produces and waits for the ack;
 * {@link #collect} reads a topic from the beginning on a background thread.
 */
public final class KafkaJson implements AutoCloseable {

    public static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    private final String bootstrap;
    private final KafkaProducer<String, String> producer;
    private final List<AutoCloseable> closers = new ArrayList<>();

    public KafkaJson(String bootstrap) {
        this.bootstrap = bootstrap;
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("linger.ms", "0");
        p.put("max.request.size", "16777216");
        this.producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
    }

    /**
     * {@code value} as a record of {@code topic} reaches a service's one consumer of all its
     * topics (its "inbox" channel; on the in-memory connector in tests).
     */
    public static ConsumerRecord<String, String> record(String topic, Object value) {
        try {
            return new ConsumerRecord<>(topic, 0, 0L, null, JSON.writeValueAsString(value));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(e);
        }
    }

    public void send(String topic, String key, Object value) {
        try {
            producer.send(new ProducerRecord<>(topic, key, JSON.writeValueAsString(value))).get();
        } catch (Exception e) {
            throw new IllegalStateException("sending to " + topic, e);
        }
    }

    /** Every record of {@code topic} (from the earliest offset), decoded as {@code type}, as it arrives. */
    public <T> List<Keyed<T>> collect(String topic, Class<T> type) {
        List<Keyed<T>> received = new CopyOnWriteArrayList<>();
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("group.id", "test-" + UUID.randomUUID());
        p.put("auto.offset.reset", "earliest");
        p.put("fetch.max.wait.ms", "20");
        KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
        consumer.subscribe(List.of(topic));
        Thread thread = Thread.ofPlatform().daemon().name("collect-" + topic).start(() -> {
            try {
                while (!Thread.currentThread().isInterrupted()) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(50))) {
                        received.add(new Keyed<>(r.key(), JSON.readValue(r.value(), type)));
                    }
                }
            } catch (org.apache.kafka.common.errors.InterruptException | org.apache.kafka.common.errors.WakeupException e) {
                // closing
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                consumer.close(Duration.ofSeconds(1));
            }
        });
        closers.add(() -> {
            consumer.wakeup();
            thread.join(5000);
        });
        return received;
    }

    /** A record's key and decoded value. */
    public record Keyed<T>(String key, T value) {
    }

    public static <T> List<T> values(List<Keyed<T>> records, Predicate<T> filter) {
        return records.stream().map(Keyed::value).filter(filter).toList();
    }

    public static <T, R> List<R> map(List<T> list, Function<T, R> f) {
        return list.stream().map(f).toList();
    }

    @Override
    public void close() throws Exception {
        for (AutoCloseable c : closers) {
            c.close();
        }
        producer.close(Duration.ofSeconds(2));
    }

}
