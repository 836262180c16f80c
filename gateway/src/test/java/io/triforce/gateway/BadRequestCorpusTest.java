package io.triforce.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.triforce.protocol.testing.SharedModelsCondition;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every case of bad-requests.json (malformed, hostile, oversized, unauthorised requests) sent over
 * real HTTP to the gateway: each gets its 4xx, the OpenAI error body and, where the case names
 * them, the expected {@code param} and {@code code}; none reaches Kafka.
 */
@QuarkusTest
@TestProfile(InMemoryKafka.Profile.class)
@ExtendWith(SharedModelsCondition.class)
class BadRequestCorpusTest {

    static final JsonNode CORPUS = load();

    @TestHTTPResource("/")
    URI base;

    static Stream<Arguments> cases() {
        return IntStream.range(0, CORPUS.size()).mapToObj(i -> Arguments.of(CORPUS.get(i).get("name").asText(), i));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void answeredWithOpenAiError(String name, int index) throws Exception {
        JsonNode c = CORPUS.get(index);
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(c.path("path").asText("/v1/completions")))
                .timeout(Http.DEADLINE).method(c.path("method").asText("POST"), body(c));
        if (!c.path("contentType").isNull()) {
            b.header("Content-Type", c.path("contentType").asText("application/json"));
        }
        String auth = c.path("auth").asText("Bearer " + InMemoryKafka.KEY);
        if (!auth.equals("none")) {
            b.header("Authorization", auth);
        }
        HttpResponse<String> response = Http.send(b.build());
        assertEquals(c.get("status").asInt(), response.statusCode(), name + ": " + response.body());
        JsonNode error = Http.error(response);
        if (c.has("param")) {
            assertEquals(c.get("param"), error.get("param"), name + ": " + response.body());
        }
        if (c.has("code")) {
            assertEquals(c.get("code").asText(), error.get("code").asText(), name + ": " + response.body());
        }
    }

    private static HttpRequest.BodyPublisher body(JsonNode c) throws Exception {
        byte[] bytes;
        if (c.has("generate")) {
            bytes = generate(c.get("generate").get("kind").asText(), c.get("generate").path("n").asInt());
        } else if (c.has("raw")) {
            bytes = c.get("raw").asText().getBytes(StandardCharsets.UTF_8);
        } else if (c.has("body")) {
            bytes = Http.JSON.writeValueAsBytes(c.get("body"));
        } else {
            return HttpRequest.BodyPublishers.noBody();
        }
        return HttpRequest.BodyPublishers.ofByteArray(bytes);
    }

    /** Bodies too large or too odd to write into the corpus file. */
    private static byte[] generate(String kind, int n) throws Exception {
        String model = "\"pycode-target-23m\"";
        String json = switch (kind) {
            case "deepNesting" -> "[".repeat(n) + "]".repeat(n);
            case "promptIds" -> "{\"model\":" + model + ",\"prompt\":" + Arrays.toString(new int[n]) + "}";
            case "bigPrompt" -> "{\"model\":" + model + ",\"prompt\":\"" + "x".repeat(n) + "\"}";
            case "longModel" -> "{\"model\":\"" + "m".repeat(n) + "\",\"prompt\":\"x\"}";
            case "longChat" -> "{\"model\":" + model + ",\"messages\":[{\"role\":\"user\",\"content\":\""
                    + " a".repeat(n) + "\"}]}";
            case "invalidUtf8" -> null;
            default -> throw new IllegalArgumentException(kind);
        };
        if (json != null) {
            return json.getBytes(StandardCharsets.UTF_8);
        }
        byte[] head = ("{\"model\":" + model + ",\"prompt\":\"").getBytes(StandardCharsets.UTF_8);
        byte[] bytes = Arrays.copyOf(head, head.length + 4);
        bytes[head.length] = (byte) 0xff;
        bytes[head.length + 1] = (byte) 0xfe;
        bytes[head.length + 2] = '"';
        bytes[head.length + 3] = '}';
        return bytes;
    }

    private static JsonNode load() {
        try (InputStream in = BadRequestCorpusTest.class.getResourceAsStream("/bad-requests.json")) {
            return Http.JSON.readTree(in);
        } catch (Exception e) {
            throw new IllegalStateException("bad-requests.json", e);
        }
    }
}
