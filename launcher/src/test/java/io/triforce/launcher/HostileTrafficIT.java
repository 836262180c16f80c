package io.triforce.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.protocol.testing.SharedModels;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The real stack (a broker that only accepts SASL/PLAIN clients, the four service processes given
 * their Kafka credentials through environment variables alone, two API keys, room for two
 * sessions) under hostile traffic: garbage on every Kafka topic, unauthorised calls, a session beyond capacity
 * and a client that disconnects mid-stream. Afterwards every consumer is alive, the greedy
 * streams still equal the target's own output token for token, and no service holds a session.
 */
class HostileTrafficIT {

    private static final Duration DEADLINE = Duration.ofSeconds(180);
    private static final String PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule required ";
    private static final List<String> SASL_BROKER = List.of(
            "listener.security.protocol.map=PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms=PLAIN", "sasl.mechanism.inter.broker.protocol=PLAIN",
            "listener.name.plaintext.plain.sasl.jaas.config=" + PLAIN + "username=\"admin\" password=\"admin-secret\""
                    + " user_admin=\"admin-secret\" user_triforce=\"triforce-secret\";");
    private static final Map<String, String> SASL_CLIENT_ENV = Map.of("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM", "PLAIN",
            "KAFKA_SASL_JAAS_CONFIG", PLAIN + "username=\"triforce\" password=\"triforce-secret\";");

    @Test
    void refusesWhatItMustAndKeepsServing() throws Exception {
        Path target = SharedModels.target();
        Path draft = SharedModels.draft();
        List<GreedyReference> refs = GreedyReference.compute(target, 2, 256, 48);
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Map<String, String> env = new HashMap<>(SASL_CLIENT_ENV);
        env.put("TRIFORCE_MAX_SESSIONS", "2");
        try (LocalStack stack = LocalStack.start(new LocalStack.Options(Path.of("..").toAbsolutePath().normalize(), target,
                draft, port, "key-a,key-b", Duration.ofSeconds(180), env, SASL_BROKER));
             HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
            try {
                attack(stack, http, refs);
            } catch (AssertionError | Exception e) {
                Probe.keepLogs(stack, "hostile");
                throw e;
            }
        }
    }

    private static void attack(LocalStack stack, HttpClient http, List<GreedyReference> refs) throws Exception {
        Map<String, Object> sasl = new HashMap<>();
        SASL_CLIENT_ENV.forEach((k, v) -> sasl.put(k.substring(6).toLowerCase(Locale.ROOT).replace('_', '.'), v));
        assertThrows(Exception.class, () -> KafkaGarbage.publish(stack.bootstrapServers(), Map.of("max.block.ms", 3000)),
                "a Kafka client without credentials is refused");
        int garbage = KafkaGarbage.publish(stack.bootstrapServers(), sasl);

        HttpResponse<String> anonymous = http.send(HttpRequest.newBuilder(URI.create(stack.url() + "/v1/models"))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(401, anonymous.statusCode(), anonymous.body());
        HttpResponse<String> secondKey = http.send(HttpRequest.newBuilder(URI.create(stack.url() + "/v1/models"))
                .header("Authorization", "Bearer key-b").timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, secondKey.statusCode(), secondKey.body());

        List<SseStream> running = refs.stream().map(r -> SseStream.open(http, stack.url(), "key-a", r.request(), DEADLINE))
                .toList();
        for (SseStream s : running) {
            assertTrue(s.awaitFirstChunk(DEADLINE), "a stream started");
        }
        SseStream.Result refused = SseStream.open(http, stack.url(), "key-b", refs.get(0).request(), DEADLINE).await();
        assertEquals(429, refused.status(), "a third session is refused while two run: " + refused.error());
        assertEquals("2", refused.retryAfter());
        assertNotNull(refused.error());
        for (int i = 0; i < refs.size(); i++) {
            SseStream.Result r = running.get(i).await();
            assertEquals(refs.get(i).text(), r.text(), "stream " + i + " equals the greedy reference");
            assertTrue(r.done(), "stream " + i + " ends with [DONE]");
            assertEquals(refs.get(i).tokens().length, r.lastChunk().at("/usage/completion_tokens").asInt());
        }

        SseStream abandoned = SseStream.open(http, stack.url(), "key-a", refs.get(1).request(), DEADLINE);
        assertTrue(abandoned.awaitFirstChunk(DEADLINE));
        abandoned.abort();
        double idle = Probe.secondsUntilIdle(http, stack, Duration.ofSeconds(60));
        assertTrue(idle >= 0, "every service freed the abandoned session");

        for (String service : LocalStack.SERVICES) {
            assertEquals(200, Probe.status(http, stack.url(service) + "/q/health/live"), service + " is live");
        }
        System.out.printf("hostile traffic: SASL/PLAIN broker (anonymous client refused), %d garbage records on %d"
                + " topics, 401/429 answered, 2 streams x %d tokens equal the reference, all sessions freed %.1f s after"
                + " a disconnect%n", garbage,
                KafkaGarbage.TOPICS.size(), refs.get(0).tokens().length, idle);
    }
}
