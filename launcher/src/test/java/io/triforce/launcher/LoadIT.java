package io.triforce.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.protocol.testing.SharedModels;
import java.net.ServerSocket;
import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Load (profile {@code -Pload}): {@code triforce.load.sessions} (32) concurrent greedy streams of
 * {@code triforce.load.new-tokens} (32) tokens after {@code triforce.load.prompt-tokens} (256)
 * through the real stack on loopback, each checked token for token against the target's own
 * greedy output; reports TTFT, inter-token latency, total tokens/s and the 429s.
 */
@Tag("load")
class LoadIT {

    private static final int SESSIONS = Integer.getInteger("triforce.load.sessions", 32);
    private static final int PROMPT_TOKENS = Integer.getInteger("triforce.load.prompt-tokens", 256);
    private static final int NEW_TOKENS = Integer.getInteger("triforce.load.new-tokens", 32);
    private static final String MAX_SESSIONS = System.getProperty("triforce.load.max-sessions", "64");
    private static final Duration DEADLINE = Duration.ofSeconds(Integer.getInteger("triforce.load.deadline-s", 480));

    @Test
    void concurrentStreamsAreExactAndMeasured() throws Exception {
        Path target = SharedModels.target();
        Path draft = SharedModels.draft();
        long t0 = System.nanoTime();
        List<GreedyReference> refs = GreedyReference.compute(target, SESSIONS, PROMPT_TOKENS, NEW_TOKENS);
        System.out.printf("load: %d greedy references in %.1f s%n", SESSIONS, (System.nanoTime() - t0) / 1e9);
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        try (LocalStack stack = LocalStack.start(new LocalStack.Options(Path.of("..").toAbsolutePath().normalize(), target,
                draft, port, "load-key", Duration.ofSeconds(180), Map.of("TRIFORCE_MAX_SESSIONS", MAX_SESSIONS)));
             HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()) {
            SseStream.Result warm = SseStream.open(http, stack.url(), "load-key", refs.get(0).request(),
                    DEADLINE).await();
            assertEquals(refs.get(0).text(), warm.text(), "warm-up stream");

            List<SseStream> streams = new ArrayList<>();
            for (GreedyReference ref : refs) {
                streams.add(SseStream.open(http, stack.url(), "load-key", ref.request(), DEADLINE));
            }
            List<SseStream.Result> results = new ArrayList<>();
            for (SseStream s : streams) {
                results.add(s.await());
            }
            Latencies ttft = new Latencies();
            Latencies interToken = new Latencies();
            Latencies interChunk = new Latencies();
            Map<String, Integer> outcomes = new TreeMap<>();
            long first = Long.MAX_VALUE;
            long last = 0;
            int tokens = 0;
            int checked = 0;
            List<String> wrong = new ArrayList<>();
            for (int i = 0; i < results.size(); i++) {
                SseStream.Result r = results.get(i);
                GreedyReference ref = refs.get(i);
                String outcome = r.timedOut() ? "hang (deadline)" : r.status() != 200 ? "HTTP " + r.status()
                        : r.error() != null ? "error event" : !r.done() ? "no [DONE]" : "ok";
                outcomes.merge(outcome, 1, Integer::sum);
                if (!outcome.equals("ok")) {
                    continue;
                }
                int count = r.lastChunk().at("/usage/completion_tokens").asInt();
                if (!r.text().equals(ref.text()) || count != ref.tokens().length) {
                    wrong.add("stream " + i + ": " + count + " tokens, text equal: " + r.text().equals(ref.text()));
                    continue;
                }
                checked += count;
                tokens += count;
                first = Math.min(first, r.startNanos());
                last = Math.max(last, r.chunkNanos().getLast());
                ttft.add(r.chunkNanos().getFirst() - r.startNanos());
                for (int c = 1; c < r.chunkNanos().size(); c++) {
                    interChunk.add(r.chunkNanos().get(c) - r.chunkNanos().get(c - 1));
                }
                long previous = -1;
                for (int end : ref.tokenEnds()) { // a token arrives with the chunk that completes its text
                    int c = 0;
                    while (r.chunkEnds().get(c) < end) {
                        c++;
                    }
                    long at = r.chunkNanos().get(c);
                    if (previous >= 0) {
                        interToken.add(at - previous);
                    }
                    previous = at;
                }
            }
            double seconds = (last - first) / 1e9;
            System.out.printf("load: %d concurrent streams (%d-token prompts, %d new tokens, greedy): outcomes %s;"
                            + " %d tokens checked against the reference, %d streams wrong %s%n"
                            + "load: TTFT %s; inter-token %s; inter-chunk %s; total %.1f tokens/s over %.1f s%n",
                    SESSIONS, PROMPT_TOKENS, NEW_TOKENS, outcomes, checked, wrong.size(), wrong, ttft, interToken,
                    interChunk, tokens / seconds, seconds);
            assertTrue(wrong.isEmpty(), "streams that lost, duplicated or reordered tokens: " + wrong);
            assertEquals(0, outcomes.getOrDefault("hang (deadline)", 0), "no stream may hang");
            assertEquals(SESSIONS, outcomes.getOrDefault("ok", 0) + outcomes.getOrDefault("HTTP 429", 0),
                    "every stream completes or is refused with 429: " + outcomes);
            assertTrue(Probe.secondsUntilIdle(http, stack, Duration.ofSeconds(60)) >= 0, "no session left behind");
        }
    }
}
