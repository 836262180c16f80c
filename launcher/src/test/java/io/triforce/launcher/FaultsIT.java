package io.triforce.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.protocol.testing.SharedModels;
import java.net.ServerSocket;
import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Faults (profile {@code -Pfaults}): with a greedy stream running, each service in turn and then
 * the broker is killed with SIGKILL and started again. The stream must end within a bounded time,
 * either complete and equal to the target's own output, or with an error after a correct prefix
 * (never a wrong, lost or duplicated token); a fresh request must then succeed, and no service may
 * keep a session (their active-session metrics return to 0).
 */
@Tag("faults")
class FaultsIT {

    private static final List<String> VICTIMS = List.of(System.getProperty("triforce.faults.victims",
            "draft-service,kv-retrieval-service,verify-service,gateway,kafka").split(","));
    private static final Duration DEADLINE = Duration.ofSeconds(180);
    private static final Duration TIMEOUTS = Duration.ofSeconds(20);
    private static final Duration RECOVERY = Duration.ofSeconds(150);
    /**
     * How long the broker waits for a killed consumer before handing its partitions to the restarted
     * one (Kafka's default is 45 s); passed as an environment variable, as any Kafka client setting can be.
     */
    private static final String KAFKA_SESSION_TIMEOUT_MS = System.getProperty("triforce.faults.kafka-session-timeout-ms",
            "10000");

    @Test
    void killedProcessesNeitherHangNorCorruptStreams() throws Exception {
        Path target = SharedModels.target();
        Path draft = SharedModels.draft();
        List<GreedyReference> refs = GreedyReference.compute(target, 2 * VICTIMS.size() + 1, 256, 128);
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        String timeout = TIMEOUTS.toSeconds() + "s";
        List<String> report = new ArrayList<>();
        try (LocalStack stack = LocalStack.start(new LocalStack.Options(Path.of("..").toAbsolutePath().normalize(), target,
                draft, port, null, Duration.ofSeconds(180), Map.of("TRIFORCE_TOKEN_TIMEOUT", timeout,
                        "TRIFORCE_SESSION_TIMEOUT", timeout, "KAFKA_SESSION_TIMEOUT_MS", KAFKA_SESSION_TIMEOUT_MS)));
             HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
            check(refs.getLast(), SseStream.open(http, stack.url(), null, refs.getLast().request(), DEADLINE).await(), "warm-up");
            try {
                killOneByOne(stack, http, refs, report);
            } catch (AssertionError | Exception e) {
                Probe.keepLogs(stack, "faults");
                throw e;
            }
        } finally {
            report.forEach(line -> System.out.println("faults: " + line));
        }
    }

    private static void killOneByOne(LocalStack stack, HttpClient http, List<GreedyReference> refs, List<String> report)
            throws Exception {
        for (int v = 0; v < VICTIMS.size(); v++) {
            String victim = VICTIMS.get(v);
            GreedyReference ref = refs.get(2 * v);
            SseStream stream = SseStream.open(http, stack.url(), null, ref.request(), DEADLINE);
            assertTrue(stream.awaitFirstChunk(DEADLINE), "the stream started before " + victim + " was killed");
            long kill = System.nanoTime();
            stack.kill(victim);
            stack.restart(victim);
            double restarted = (System.nanoTime() - kill) / 1e9;
            GreedyReference next = refs.get(2 * v + 1);
            List<String> attempts = new ArrayList<>();
            SseStream.Result fresh;
            do { // while the stream hit by the kill runs on, until the restarted process has its partitions back
                fresh = SseStream.open(http, stack.url(), null, next.request(), DEADLINE).await();
                attempts.add(check(next, fresh, "fresh stream after the " + victim + " restart"));
            } while (!attempts.getLast().equals("completed") && System.nanoTime() - kill < RECOVERY.toNanos());
            assertEquals("completed", attempts.getLast(), "no fresh stream completed within " + RECOVERY + " of the "
                    + victim + " kill: " + attempts);
            double served = (fresh.chunkNanos().getFirst() - kill) / 1e9;
            SseStream.Result hit = stream.await();
            String outcome = check(ref, hit, "stream hit by the " + victim + " kill");
            double ended = (hit.endNanos() - kill) / 1e9;
            double idle = Probe.secondsUntilIdle(http, stack, TIMEOUTS.multipliedBy(3));
            assertTrue(idle >= 0, "a service still holds a session after the " + victim + " kill");
            report.add(String.format("%s: stream %s %.1f s after the kill (%d of %d chars delivered);"
                            + " restarted and ready %.1f s; first token of a fresh stream %.1f s after the kill"
                            + " (attempt %d); all services idle %.1f s later", victim, outcome, ended,
                    hit.text().length(), ref.text().length(), restarted, served, attempts.size(), idle));
        }
    }

    /** "completed" (equal to the reference) or "ended with ..." after a correct prefix; fails on a hang or a wrong token. */
    private static String check(GreedyReference ref, SseStream.Result r, String what) {
        assertFalse(r.timedOut(), what + " hung until the deadline");
        assertTrue(ref.text().startsWith(r.text()), what + " delivered text that is not a prefix of the reference: "
                + r.text());
        if (r.done() && r.error() == null && r.status() == 200) {
            assertEquals(ref.text(), r.text(), what + " completed with different text");
            return "completed";
        }
        return r.error() != null ? "ended with an error event (" + r.error().path("code").asText() + ")"
                : "ended without [DONE] (" + r.failure() + ")";
    }
}
