package io.triforce.launcher;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * One streaming completion read by a plain HTTP client on a virtual thread, every chunk
 * timestamped; the read is cut off at a deadline, so a hang shows as {@code timedOut}.
 */
final class SseStream {

    static final ObjectMapper JSON = new ObjectMapper();

    /**
     * @param chunkNanos  arrival time of each content chunk
     * @param chunkEnds   length of the text once each chunk arrived
     * @param error       the error event or error body, if any
     * @param lastChunk   the final chunk (finish_reason, usage, triforce statistics), if any
     */
    record Result(int status, String retryAfter, long startNanos, List<Long> chunkNanos, List<Integer> chunkEnds,
                  String text, boolean done, JsonNode error, JsonNode lastChunk, long endNanos, boolean timedOut,
                  String failure) {

        double secondsToEnd() {
            return (endNanos - startNanos) / 1e9;
        }
    }

    private final CompletableFuture<Result> result = new CompletableFuture<>();
    private final CountDownLatch firstChunk = new CountDownLatch(1);
    private volatile InputStream body;
    private volatile boolean gotChunk;

    private SseStream() {
    }

    /** POSTs {@code body} to /v1/completions and reads the answer until [DONE], the end, or {@code deadline}. */
    static SseStream open(HttpClient http, String baseUrl, String apiKey, Map<String, Object> body, Duration deadline) {
        SseStream s = new SseStream();
        Thread.ofVirtual().start(() -> s.read(http, baseUrl, apiKey, body, deadline));
        return s;
    }

    /** Whether a content chunk arrived within {@code timeout} (false when the stream ended without one). */
    boolean awaitFirstChunk(Duration timeout) throws InterruptedException {
        return firstChunk.await(timeout.toMillis(), TimeUnit.MILLISECONDS) && gotChunk;
    }

    /** Closes the connection, as a client that goes away. */
    void abort() throws Exception {
        if (body != null) {
            body.close();
        }
    }

    /** Whether the stream is still being read (no end, error or deadline yet). */
    boolean running() {
        return !result.isDone();
    }

    Result await() throws Exception {
        return result.get();
    }

    private void read(HttpClient http, String baseUrl, String apiKey, Map<String, Object> payload, Duration deadline) {
        long start = System.nanoTime();
        List<Long> times = new ArrayList<>();
        List<Integer> ends = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        JsonNode error = null;
        JsonNode last = null;
        boolean done = false;
        int status = 0;
        String retryAfter = null;
        String failure = null;
        Thread watchdog = null;
        try {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(baseUrl + "/v1/completions")).timeout(deadline)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(payload)));
            if (apiKey != null) {
                b.header("Authorization", "Bearer " + apiKey);
            }
            HttpResponse<InputStream> response = http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
            status = response.statusCode();
            retryAfter = response.headers().firstValue("Retry-After").orElse(null);
            body = response.body();
            long left = deadline.toNanos() - (System.nanoTime() - start);
            watchdog = Thread.ofVirtual().start(() -> {
                try {
                    Thread.sleep(Duration.ofNanos(Math.max(1, left)));
                    body.close();
                } catch (Exception interrupted) {
                    // finished in time
                }
            });
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8))) {
                if (status != 200) {
                    error = JSON.readTree(lines).get("error");
                } else {
                    for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                        if (line.equals("data: [DONE]")) {
                            done = true;
                        } else if (line.startsWith("data: ")) {
                            JsonNode event = JSON.readTree(line.substring(6));
                            if (event.has("error")) {
                                error = event.get("error");
                                continue;
                            }
                            String delta = event.at("/choices/0/text").asText("");
                            if (!delta.isEmpty()) {
                                text.append(delta);
                                times.add(System.nanoTime());
                                ends.add(text.length());
                                gotChunk = true;
                                firstChunk.countDown();
                            }
                            if (!event.at("/choices/0/finish_reason").isNull()) {
                                last = event;
                            }
                        }
                    }
                }
            }
        } catch (Exception e) {
            failure = e.toString();
        } finally {
            if (watchdog != null) {
                watchdog.interrupt();
            }
        }
        long end = System.nanoTime();
        result.complete(new Result(status, retryAfter, start, times, ends, text.toString(), done, error, last, end,
                end - start >= deadline.toNanos(), failure));
        firstChunk.countDown();
    }
}
