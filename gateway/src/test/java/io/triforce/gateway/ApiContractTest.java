package io.triforce.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.triforce.protocol.testing.SharedModelsCondition;
import io.smallrye.reactive.messaging.memory.InMemoryConnector;
import io.smallrye.reactive.messaging.memory.InMemorySink;
import io.triforce.engine.tokenizer.IncrementalDecoder;
import io.triforce.protocol.Clock;
import io.triforce.protocol.Commit;
import io.triforce.protocol.LevelCounters;
import io.triforce.protocol.SessionEvent;
import jakarta.enterprise.inject.Any;
import jakarta.inject.Inject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The gateway's HTTP contract with a stand-in for the levels ({@link FakeVerifier}): API keys,
 * the session limit (429 + Retry-After, never a queue), cancellation on disconnect and timeout
 * (no session left open), a replayed committed log streamed exactly once, and fuzzing with random JSON bodies (never a 5xx, never a hang).
 */
@QuarkusTest
@TestProfile(InMemoryKafka.Profile.class)
@ExtendWith(SharedModelsCondition.class)
class ApiContractTest {

    private static final String MODEL = "pycode-target-23m";
    private static final int FUZZ_REQUESTS = Integer.getInteger("triforce.fuzz.requests", 600);

    @Inject
    @Any
    InMemoryConnector connector;
    @Inject
    SessionHub hub;
    @Inject
    ServedModel model;
    @TestHTTPResource("/")
    URI base;

    private InMemorySink<SessionEvent> sessions;
    private FakeVerifier verifier;

    @BeforeEach
    void startVerifier() {
        sessions = connector.sink("sessions");
        sessions.clear();
        verifier = new FakeVerifier(sessions, connector.<Commit>source("committed"));
    }

    @AfterEach
    void stopVerifier() throws Exception {
        verifier.close();
    }

    @Test
    void everyConfiguredKeyIsAccepted() throws Exception {
        for (String key : List.of(InMemoryKafka.KEY, InMemoryKafka.SECOND_KEY)) {
            HttpResponse<String> r = Http.send(HttpRequest.newBuilder(base.resolve("/v1/models")).timeout(Http.DEADLINE)
                    .header("Authorization", "Bearer " + key).build());
            assertEquals(200, r.statusCode(), r.body());
        }
        assertEquals(200, complete("{\"model\":\"" + MODEL + "\",\"prompt\":\"def f(x):\",\"max_tokens\":4}").statusCode());
    }

    @Test
    void sessionsBeyondTheLimitGet429WithRetryAfter() throws Exception {
        verifier.hold(true);
        String body = "{\"model\":\"" + MODEL + "\",\"prompt\":\"import os\",\"max_tokens\":4,\"stream\":true}";
        List<CompletableFuture<HttpResponse<String>>> running = List.of(completeAsync(body), completeAsync(body));
        awaitStarts(InMemoryKafka.MAX_SESSIONS);
        HttpResponse<String> refused = complete(body);
        assertEquals(429, refused.statusCode(), refused.body());
        assertEquals("2", refused.headers().firstValue("Retry-After").orElse(null));
        assertEquals("rate_limit_error", Http.error(refused).get("type").asText());
        verifier.hold(false);
        for (CompletableFuture<HttpResponse<String>> f : running) {
            HttpResponse<String> r = f.get(15, TimeUnit.SECONDS);
            assertEquals(200, r.statusCode());
            assertTrue(r.body().endsWith("data: [DONE]\n\n"), r.body());
        }
        assertEquals(200, complete(body).statusCode(), "a slot is free again");
        assertEquals(0, hub.openSessions());
    }

    @Test
    void aClientThatGoesAwayCancelsItsSession() throws Exception {
        verifier.hold(true);
        CompletableFuture<HttpResponse<String>> call = completeAsync(
                "{\"model\":\"" + MODEL + "\",\"prompt\":\"class A:\",\"max_tokens\":8,\"stream\":true}");
        awaitStarts(1);
        call.cancel(true); // the HTTP client aborts the exchange and closes the connection
        String id = sessions.received().getFirst().getPayload().sessionId();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (sessions.received().stream().noneMatch(m -> m.getPayload().kind() == SessionEvent.Kind.CANCEL
                && m.getPayload().sessionId().equals(id))) {
            assertTrue(System.nanoTime() < deadline, "no cancel was sent for the abandoned session");
            Thread.sleep(20);
        }
        assertEquals(0, hub.openSessions());
    }

    @Test
    void noTokenWithinTheTimeoutEndsTheRequestAndTheSession() throws Exception {
        verifier.hold(true);
        long t0 = System.nanoTime();
        HttpResponse<String> r = complete("{\"model\":\"" + MODEL + "\",\"prompt\":\"x = 1\",\"max_tokens\":4}");
        assertEquals(504, r.statusCode(), r.body());
        assertEquals("timeout", Http.error(r).get("code").asText());
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(10));
        assertEquals(0, hub.openSessions());
        assertTrue(sessions.received().stream().anyMatch(m -> m.getPayload().kind() == SessionEvent.Kind.CANCEL));
    }

    @Test
    void aReplayedLogIsStreamedOnceAndAConflictingOneEndsTheStream() throws Exception {
        verifier.hold(true);
        int[] prompt = {17, 42, 99};
        String body = "{\"model\":\"" + MODEL + "\",\"prompt\":[17,42,99],\"max_tokens\":3,\"stream\":true}";
        CompletableFuture<HttpResponse<String>> replayed = completeAsync(body);
        awaitStarts(1);
        String id = sessions.received().getFirst().getPayload().sessionId();
        var committed = connector.<Commit>source("committed");
        committed.send(commit(id, 3, new int[] {300, 301}, null));
        committed.send(commit(id, 3, new int[] {300}, null)); // a restarted verify-service replays the log
        committed.send(commit(id, 3, new int[] {300, 301, 302}, "length"));
        HttpResponse<String> r = replayed.get(15, TimeUnit.SECONDS);
        IncrementalDecoder decoder = new IncrementalDecoder(model.tokenizer(), prompt);
        String expected = decoder.accept(300) + decoder.accept(301) + decoder.accept(302) + decoder.flush();
        assertEquals(expected, streamedText(r.body()), r.body());
        assertTrue(r.body().contains("\"completion_tokens\":3"), r.body());

        CompletableFuture<HttpResponse<String>> conflicting = completeAsync(body);
        awaitStarts(2);
        String other = sessions.received().getLast().getPayload().sessionId();
        committed.send(commit(other, 3, new int[] {300, 301}, null));
        committed.send(commit(other, 4, new int[] {999, 5}, "length"));
        HttpResponse<String> c = conflicting.get(15, TimeUnit.SECONDS);
        assertTrue(c.body().contains("\"code\":\"log_conflict\"") && c.body().endsWith("data: [DONE]\n\n"), c.body());
        assertEquals(0, hub.openSessions());
    }

    private static Commit commit(String id, int start, int[] tokens, String finish) {
        return new Commit(id, 0, start, tokens, finish, null, LevelCounters.ZERO, LevelCounters.ZERO, Clock.micros());
    }

    private static String streamedText(String sse) throws Exception {
        StringBuilder text = new StringBuilder();
        for (String line : sse.split("\n")) {
            if (line.startsWith("data: {")) {
                text.append(Http.JSON.readTree(line.substring(6)).at("/choices/0/text").asText(""));
            }
        }
        return text.toString();
    }

    /** Random JSON values (and near-valid requests with random values) at both endpoints. */
    @Test
    void randomBodiesNeverGive5xxOrHang() throws Exception {
        Arbitrary<String> bodies = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(3, JsonArbitraries.requests(MODEL)),
                net.jqwik.api.Tuple.of(2, JsonArbitraries.nearValid(MODEL)),
                net.jqwik.api.Tuple.of(1, JsonArbitraries.values()),
                net.jqwik.api.Tuple.of(1, JsonArbitraries.mangled(MODEL)));
        int[] byStatus = new int[600];
        List<String> sample = bodies.sampleStream().limit(FUZZ_REQUESTS).toList();
        for (int i = 0; i < sample.size(); i++) {
            String path = i % 2 == 0 ? "/v1/completions" : "/v1/chat/completions";
            HttpResponse<String> r = Http.send(Http.post(base, path, sample.get(i).getBytes(StandardCharsets.UTF_8)).build());
            assertTrue(r.statusCode() < 500, "HTTP " + r.statusCode() + " for " + path + " " + sample.get(i) + ": " + r.body());
            if (r.statusCode() != 200) {
                Http.error(r);
            }
            byStatus[r.statusCode()]++;
        }
        StringBuilder summary = new StringBuilder();
        for (int s = 0; s < byStatus.length; s++) {
            if (byStatus[s] > 0) {
                summary.append(' ').append(s).append(": ").append(byStatus[s]);
            }
        }
        System.out.println("fuzz: " + sample.size() + " random bodies, by status" + summary);
        assertEquals(0, hub.openSessions());
    }

    private HttpResponse<String> complete(String body) throws Exception {
        return Http.send(Http.post(base, "/v1/completions", body.getBytes(StandardCharsets.UTF_8)).build());
    }

    private CompletableFuture<HttpResponse<String>> completeAsync(String body) {
        return Http.CLIENT.sendAsync(Http.post(base, "/v1/completions", body.getBytes(StandardCharsets.UTF_8)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private void awaitStarts(int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (sessions.received().stream().filter(m -> m.getPayload().kind() == SessionEvent.Kind.START).count() < n) {
            assertTrue(System.nanoTime() < deadline, "sessions did not start");
            Thread.sleep(10);
        }
    }
}
