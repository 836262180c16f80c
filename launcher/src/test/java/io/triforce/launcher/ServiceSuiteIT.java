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
    /** Streamed requests per stack; the first ones warm the services' (and the broker's) JIT. */
    private static final int RUNS = Integer.getInteger("triforce.e2e.runs", 2);
    /**
     * Extra environment for the services, e.g. {@code -Dtriforce.e2e.env=TRIFORCE_LEVEL2_AHEAD=4,TRIFORCE_GAMMA1=4};
     * several configurations separated by ';' run one after the other, each with its own stack.
     */
    private static final String ENV = System.getProperty("triforce.e2e.env", "");
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void streamedGreedyCompletionEqualsAutoregressive() throws Exception {
        Path targetDir = SharedModels.target();
        Path draftDir = SharedModels.draft();
        String prompt;
        String expected;
        TriForceDecoder triforce;
        int[] promptIds;
        try (LlamaCheckpoint target = CheckpointLoader.load(targetDir);
             LlamaCheckpoint draft = CheckpointLoader.load(draftDir);
             Tokenizer tokenizer = Tokenizer.load(target.tokenizerJson())) {
            int[] ids = Arrays.copyOf(tokenizer.encode(SharedModels.devDocument(0)), PROMPT_TOKENS);
            prompt = tokenizer.decode(ids);
            promptIds = tokenizer.encode(prompt); // what the gateway will see
            Transformer model = new CpuBackend().load(target.weights());
            Generation ar = new AutoregressiveDecoder(model).generate(promptIds, NEW_TOKENS, SamplingParams.GREEDY,
                    TokenSink.IGNORE);
            IncrementalDecoder text = new IncrementalDecoder(tokenizer, promptIds);
            StringBuilder sb = new StringBuilder();
            for (int t : ar.tokens()) {
                sb.append(text.accept(t));
            }
            expected = sb.append(text.flush()).toString();
            triforce = new TriForceDecoder(model, new CpuBackend().load(draft.weights()), TriForceConfig.DEFAULTS);
            triforce.generate(promptIds, NEW_TOKENS, SamplingParams.GREEDY, TokenSink.IGNORE); // warm-up
            // Several service configurations, each right after its own in-process baseline: ';'-separated in
            // -Dtriforce.e2e.env (e.g. "TRIFORCE_LEVEL2_AHEAD=0;TRIFORCE_LEVEL2_AHEAD=4"), alternating on a noisy machine.
            for (String config : ENV.split(";", -1)) {
                double inProcess = triforce.generate(promptIds, NEW_TOKENS, SamplingParams.GREEDY, TokenSink.IGNORE)
                        .decodeTokensPerSecond();
                System.out.printf("e2e config [%s]: in-process TriForce %.1f tok/s%n", config, inProcess);
                throughServices(targetDir, draftDir, prompt, expected, inProcess, config);
            }
        }
    }

    private void throughServices(Path targetDir, Path draftDir, String prompt, String expected,
                                 double inProcessTokensPerSecond, String config) throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        try (LocalStack stack = LocalStack.start(new LocalStack.Options(Path.of("..").toAbsolutePath().normalize(),
                targetDir, draftDir, port, "e2e-key", Duration.ofSeconds(180), env(config)));
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
            for (int run = 0; run < RUNS; run++) {
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
                System.out.printf("e2e [%s] run %d: %d-token prompt, gateway decode %.1f tok/s (in-process TriForce %.1f tok/s),"
                                + " time to first token %.0f ms, stats %s%n", config, run, PROMPT_TOKENS,
                        last.at("/triforce/decode_tokens_per_second").asDouble(), inProcessTokensPerSecond,
                        last.at("/triforce/time_to_first_token_ms").asDouble(), last.get("triforce"));
            }
            // A sampled request (temperature 0.8: level-2 distributions travel with the proposals) completes.
            HttpResponse<String> sampled = http.send(post(stack, "e2e-key", Map.of("model", model, "prompt", prompt,
                    "max_tokens", 24, "temperature", 0.8, "top_p", 0.95, "seed", 11)), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, sampled.statusCode(), sampled.body());
            JsonNode s = JSON.readTree(sampled.body());
            String finish = s.at("/choices/0/finish_reason").asText();
            assertTrue(finish.equals("length") || finish.equals("stop"), "sampled request finished: " + sampled.body());
            assertTrue(s.at("/usage/completion_tokens").asInt() > 0 && s.at("/usage/completion_tokens").asInt() <= 24);
            System.out.printf("e2e sampled (temperature 0.8): %d tokens, finish %s, stats %s%n",
                    s.at("/usage/completion_tokens").asInt(), finish, s.get("triforce"));
            printTransit(http, stack, config);
        }
    }

    private static Map<String, String> env(String config) {
        Map<String, String> env = new java.util.HashMap<>();
        for (String kv : config.split(",")) {
            if (kv.contains("=")) {
                env.put(kv.substring(0, kv.indexOf('=')).trim(), kv.substring(kv.indexOf('=') + 1).trim());
            }
        }
        return env;
    }

    /** Median and p99 of the time messages spent between services, per receiving service and topic (/q/metrics). */
    private static void printTransit(HttpClient http, LocalStack stack, String config) throws Exception {
        for (String service : LocalStack.SERVICES) {
            HttpResponse<String> metrics = http.send(HttpRequest.newBuilder(URI.create(stack.url(service) + "/q/metrics"))
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
            metrics.body().lines().filter(l -> l.startsWith("triforce_message_transit_seconds{")
                            || l.startsWith("triforce_message_transit_seconds_count{"))
                    .forEach(l -> System.out.println("transit [" + config + "] " + service + ": " + l));
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
