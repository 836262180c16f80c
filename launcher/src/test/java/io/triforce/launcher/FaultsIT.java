package io.triforce.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.protocol.testing.SharedModels;
import java.net.ServerSocket;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Faults (profile {@code -Pfaults}): with a greedy stream running, each service in turn and then
 * the broker is killed with SIGKILL and started again. The stream must end within a bounded time,
 * either complete and equal to the target's own output, or with an error after a correct prefix
 * (never a wrong, lost or duplicated token); a fresh request must then succeed, and no service may
 * keep a session (their active-session metrics return to 0).
 * <p>
 * A level service killed {@link #LATE_KILL} into a stream — after its consumer group committed
 * past the session's start (every 5 s), so the restarted one never sees it — must rebuild the
 * session from the gateway's re-announcement, and the stream must complete with exactly the
 * reference text. So must every stream when one of two verify-service instances (sharing the
 * topics' partitions) is killed for good and the survivor takes its partitions over.
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
    private static final List<String> LATE_VICTIMS = List.of(System.getProperty("triforce.faults.late-victims",
            "verify-service,kv-retrieval-service,draft-service").split(","));
    /** Past the consumers' 5 s offset commits: a service restarted now resumes after the session's start. */
    private static final Duration LATE_KILL = Duration.ofSeconds(8);
    /** Tokens of a stream killed late: one stream alone runs at up to ~100 tokens/s here, so it still runs at the kill. */
    private static final int LONG_STREAM = 1500;

    @Test
    void killedProcessesNeitherHangNorCorruptStreams() throws Exception {
        Path target = SharedModels.target();
        Path draft = SharedModels.draft();
        List<GreedyReference> refs = GreedyReference.compute(target, 2 * VICTIMS.size() + 1, 256, 128);
        List<String> report = new ArrayList<>();
        try (LocalStack stack = startStack(target, draft, Map.of());
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

    /**
     * @param reannounceAfter the gateway's {@code TRIFORCE_REANNOUNCE_AFTER}: at 5 s (the default) its
     *                        re-announcement of the silent session usually reaches the restarted
     *                        service first; at 60 s, beyond the 20 s token timeout, only the restarted
     *                        service's own RESYNC can bring the session back in time
     */
    @ParameterizedTest
    @ValueSource(strings = {"5s", "60s"})
    void aLevelKilledAfterItsOffsetsWereCommittedRebuildsTheSession(String reannounceAfter) throws Exception {
        Path target = SharedModels.target();
        List<GreedyReference> refs = GreedyReference.compute(target, LATE_VICTIMS.size(), 256, LONG_STREAM);
        List<String> report = new ArrayList<>();
        boolean asked = Duration.parse("PT" + reannounceAfter).compareTo(TIMEOUTS) > 0;
        try (LocalStack stack = startStack(target, SharedModels.draft(), Map.of("TRIFORCE_REANNOUNCE_AFTER", reannounceAfter));
             HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
            try {
                for (int v = 0; v < LATE_VICTIMS.size(); v++) {
                    String victim = LATE_VICTIMS.get(v);
                    SseStream stream = SseStream.open(http, stack.url(), null, refs.get(v).request(), DEADLINE);
                    assertTrue(stream.awaitFirstChunk(DEADLINE), "the stream started before " + victim + " was killed");
                    Thread.sleep(LATE_KILL.toMillis());
                    assertTrue(stream.running(), "the stream still runs " + LATE_KILL + " after its first token");
                    long kill = System.nanoTime();
                    stack.kill(victim);
                    stack.restart(victim);
                    SseStream.Result hit = stream.await();
                    assertEquals("completed", check(refs.get(v), hit, "stream hit by the late " + victim + " kill"));
                    List<String> reannounced = reannouncements(stack, hit);
                    assertFalse(reannounced.isEmpty(), "the gateway re-announced the session to the restarted " + victim);
                    assertTrue(!asked || reannounced.stream().anyMatch(r -> r.endsWith("a level asked for it")),
                            "the restarted " + victim + " asked for the session: " + reannounced);
                    report.add(String.format("%s killed %d s into the stream (re-announce after %s): completed exactly"
                            + " %.1f s after the kill (%d chars); re-announced: %s", victim, LATE_KILL.toSeconds(),
                            reannounceAfter, (hit.endNanos() - kill) / 1e9, hit.text().length(), reannounced));
                }
                assertTrue(Probe.secondsUntilIdle(http, stack, TIMEOUTS.multipliedBy(3)) >= 0, "a service still holds a session");
            } catch (AssertionError | Exception e) {
                Probe.keepLogs(stack, "faults-late-" + reannounceAfter);
                throw e;
            }
        } finally {
            report.forEach(line -> System.out.println("faults: " + line));
        }
    }

    @Test
    void theSurvivorOfTwoVerifyInstancesTakesOverTheOthersSessions() throws Exception {
        Path target = SharedModels.target();
        List<GreedyReference> refs = GreedyReference.compute(target, 6, 256, LONG_STREAM * 2 / 3);
        try (LocalStack stack = startStack(target, SharedModels.draft(), Map.of());
             HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
            try {
                String second = stack.addInstance("verify-service");
                List<SseStream> streams = new ArrayList<>();
                long first = System.nanoTime();
                do { // until both instances verify a session: the group split the partitions between them
                    SseStream s = SseStream.open(http, stack.url(), null, refs.get(streams.size()).request(), DEADLINE);
                    assertTrue(s.awaitFirstChunk(DEADLINE), "stream " + streams.size() + " started");
                    streams.add(s);
                } while (streams.size() < refs.size() && (streams.size() < 2
                        || Probe.activeSessions(http, stack.url("verify-service")) == 0
                        || Probe.activeSessions(http, stack.url(second)) == 0));
                Thread.sleep(Math.max(0, LATE_KILL.toMillis() - (System.nanoTime() - first) / 1_000_000));
                double onSecond = Probe.activeSessions(http, stack.url(second));
                assertTrue(onSecond > 0 && Probe.activeSessions(http, stack.url("verify-service")) > 0,
                        "both instances verify sessions when one is killed");
                long kill = System.nanoTime();
                stack.kill(second);
                for (int i = 0; i < streams.size(); i++) {
                    SseStream.Result r = streams.get(i).await();
                    assertEquals("completed", check(refs.get(i), r, "stream " + i + " with " + second + " killed"));
                }
                System.out.printf("faults: %d streams over two verify-service instances, %.0f of them on the one killed"
                        + " %d s in; all completed exactly, the last %.1f s after the kill%n", streams.size(), onSecond,
                        LATE_KILL.toSeconds(), (System.nanoTime() - kill) / 1e9);
            } catch (AssertionError | Exception e) {
                Probe.keepLogs(stack, "faults-shared");
                throw e;
            }
        }
    }

    /** Why the gateway re-announced the stream's session (its log lines), in order. */
    private static List<String> reannouncements(LocalStack stack, SseStream.Result r) throws Exception {
        String session = r.lastChunk().path("id").asText().replaceFirst("^cmpl-", "");
        try (var lines = Files.lines(stack.logs().resolve("gateway.log"))) {
            return lines.filter(l -> l.contains("re-announcing session " + session + " "))
                    .map(l -> l.substring(l.indexOf(session) + session.length()).trim()).toList();
        }
    }

    /** The stack with short timeouts (tokens, sessions, the broker's wait for a dead consumer), plus {@code env}. */
    private static LocalStack startStack(Path target, Path draft, Map<String, String> env) throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        String timeout = TIMEOUTS.toSeconds() + "s";
        Map<String, String> all = new HashMap<>(env);
        all.putAll(Map.of("TRIFORCE_TOKEN_TIMEOUT", timeout, "TRIFORCE_SESSION_TIMEOUT", timeout,
                "KAFKA_SESSION_TIMEOUT_MS", KAFKA_SESSION_TIMEOUT_MS));
        return LocalStack.start(new LocalStack.Options(Path.of("..").toAbsolutePath().normalize(), target, draft, port,
                null, Duration.ofSeconds(180), all));
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
