package io.triforce.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.triforce.engine.backend.Transformer;
import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.Generation;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.spec.TriForceConfig;
import io.triforce.engine.spec.TriForceDecoder;
import io.triforce.engine.tokenizer.IncrementalDecoder;
import io.triforce.engine.tokenizer.Tokenizer;
import io.triforce.protocol.testing.SharedModels;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * End to end: a real KRaft broker and the four services as processes (the `triforce up`
 * stack), a greedy completion of a 4096-token prompt streamed through the gateway by a plain
 * HTTP client; the streamed text must equal the target's own autoregressive output.
 */
class ServiceSuiteIT {

    private static final int PROMPT_TOKENS = Integer.getInteger("triforce.e2e.prompt-tokens", 4096);
    private static final int NEW_TOKENS = Integer.getInteger("triforce.e2e.new-tokens", 64);
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void streamedGreedyCompletionEqualsAutoregressive() throws Exception {
        Path targetDir = SharedModels.target();
        Path draftDir = SharedModels.draft();
        String prompt;
        String expected;
        double inProcessTokensPerSecond;
        try (LlamaCheckpoint target = CheckpointLoader.load(targetDir);
             LlamaCheckpoint draft = CheckpointLoader.load(draftDir);
             Tokenizer tokenizer = Tokenizer.load(target.tokenizerJson())) {
            int[] ids = Arrays.copyOf(tokenizer.encode(SharedModels.devDocument(0)), PROMPT_TOKENS);
            prompt = tokenizer.decode(ids);
            int[] promptIds = tokenizer.encode(prompt); // what the gateway will see
            Transformer model = new CpuBackend().load(target.weights());
            Generation ar = new AutoregressiveDecoder(model).generate(promptIds, NEW_TOKENS, SamplingParams.GREEDY,
                    TokenSink.IGNORE);
            IncrementalDecoder text = new IncrementalDecoder(tokenizer, promptIds);
            StringBuilder sb = new StringBuilder();
            for (int t : ar.tokens()) {
                sb.append(text.accept(t));
            }
            expected = sb.append(text.flush()).toString();
            TriForceDecoder triforce = new TriForceDecoder(model, new CpuBackend().load(draft.weights()),
                    TriForceConfig.DEFAULTS);
            triforce.generate(promptIds, NEW_TOKENS, SamplingParams.GREEDY, TokenSink.IGNORE); // warm-up
            inProcessTokensPerSecond = triforce.generate(promptIds, NEW_TOKENS, SamplingParams.GREEDY, TokenSink.IGNORE)
                    .decodeTokensPerSecond();
        }
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        try (LocalStack stack = LocalStack.start(new LocalStack.Options(Path.of("..").toAbsolutePath().normalize(),
                targetDir, draftDir, port, "e2e-key", Duration.ofSeconds(180), Map.of()));
             HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
            String model = targetDir.getFileName().toString();
            HttpResponse<String> unauthorized = http.send(post(stack, null, Map.of("model", model, "prompt", "x")),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(401, unauthorized.statusCode());
            assertEquals("invalid_api_key", JSON.readTree(unauthorized.body()).at("/error/code").asText());
            HttpResponse<String> invalid = http.send(post(stack, "e2e-key", Map.of("model", model, "prompt", "x",
                    "max_tokens", 0)), HttpResponse.BodyHandlers.ofString());
            assertEquals(400, invalid.statusCode());
            assertEquals("max_tokens", JSON.readTree(invalid.body()).at("/error/param").asText());

            Map<String, Object> body = Map.of("model", model, "prompt", prompt, "max_tokens", NEW_TOKENS,
                    "temperature", 0, "stream", true);
            for (int run = 0; run < 2; run++) { // the first run warms the services' JIT
                StringBuilder streamed = new StringBuilder();
                JsonNode last = null;
                boolean done = false;
                HttpResponse<Stream<String>> response = http.send(post(stack, "e2e-key", body),
                        HttpResponse.BodyHandlers.ofLines());
                assertEquals(200, response.statusCode());
                for (String line : (Iterable<String>) response.body()::iterator) {
                    if (line.equals("data: [DONE]")) {
                        done = true;
                    } else if (line.startsWith("data: ")) {
                        last = JSON.readTree(line.substring(6));
                        assertTrue(last.has("choices"), "an error event: " + line);
                        streamed.append(last.at("/choices/0/text").asText());
                    }
                }
                assertTrue(done, "the stream ends with data: [DONE]");
                assertEquals(expected, streamed.toString(), "streamed text equals the target's greedy output");
                assertEquals("length", last.at("/choices/0/finish_reason").asText());
                assertEquals(NEW_TOKENS, last.at("/usage/completion_tokens").asInt());
                System.out.printf("e2e run %d: %d-token prompt, gateway decode %.1f tok/s (in-process TriForce %.1f tok/s),"
                                + " time to first token %.0f ms, stats %s%n", run, PROMPT_TOKENS,
                        last.at("/triforce/decode_tokens_per_second").asDouble(), inProcessTokensPerSecond,
                        last.at("/triforce/time_to_first_token_ms").asDouble(), last.get("triforce"));
            }
        }
    }

    private static HttpRequest post(LocalStack stack, String apiKey, Map<String, Object> body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(stack.url() + "/v1/completions"))
                .timeout(Duration.ofSeconds(300)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
        if (apiKey != null) {
            b.header("Authorization", "Bearer " + apiKey);
        }
        return b.build();
    }
}
