package io.triforce.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** Plain HTTP to the gateway under test, with a deadline on every request (a hang fails the test). */
final class Http {

    static final ObjectMapper JSON = new ObjectMapper();
    static final Duration DEADLINE = Duration.ofSeconds(15);
    static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private Http() {
    }

    /** A request with the first test key and a JSON content type; {@code body} may be null. */
    static HttpRequest.Builder post(URI base, String path, byte[] body) {
        return HttpRequest.newBuilder(base.resolve(path)).timeout(DEADLINE).header("Content-Type", "application/json")
                .header("Authorization", "Bearer " + InMemoryKafka.KEY)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body == null ? new byte[0] : body));
    }

    static HttpResponse<String> send(HttpRequest request) throws Exception {
        return CLIENT.send(request, HttpResponse.BodyHandlers.ofString());
    }

    /** The OpenAI error object of {@code response}, after checking its shape. */
    static JsonNode error(HttpResponse<String> response) throws Exception {
        JsonNode error = JSON.readTree(response.body()).get("error");
        if (error == null || !error.path("message").isTextual() || error.path("message").asText().isEmpty()
                || !error.path("type").isTextual() || !error.has("param") || !error.has("code")) {
            throw new AssertionError("not an OpenAI error body: " + response.body());
        }
        return error;
    }
}
