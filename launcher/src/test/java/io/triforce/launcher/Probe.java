package io.triforce.launcher;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.stream.Stream;

/** Reads the services' own health and metrics over HTTP. */
final class Probe {

    private Probe() {
    }

    static int status(HttpClient http, String url) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    /** The sum of {@code triforce_sessions_active} in the Prometheus metrics at {@code serviceUrl}. */
    static double activeSessions(HttpClient http, String serviceUrl) throws Exception {
        String metrics = http.send(HttpRequest.newBuilder(URI.create(serviceUrl + "/q/metrics")).timeout(Duration.ofSeconds(10))
                .build(), HttpResponse.BodyHandlers.ofString()).body();
        return metrics.lines().filter(l -> l.startsWith("triforce_sessions_active"))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }

    /**
     * Waits until every service reports no active session; returns the seconds that took, or -1
     * when some still hold sessions at the deadline.
     */
    static double secondsUntilIdle(HttpClient http, LocalStack stack, Duration timeout) throws Exception {
        long start = System.nanoTime();
        while (System.nanoTime() - start < timeout.toNanos()) {
            double active = 0;
            for (String service : LocalStack.SERVICES) {
                active += activeSessions(http, stack.url(service));
            }
            if (active == 0) {
                return (System.nanoTime() - start) / 1e9;
            }
            Thread.sleep(200);
        }
        return -1;
    }

    /** Copies the stack's process logs to target/{@code name}-logs (the stack deletes its own on close). */
    static void keepLogs(LocalStack stack, String name) throws IOException {
        Path kept = Files.createDirectories(Path.of("target", name + "-logs"));
        try (Stream<Path> logs = Files.list(stack.logs())) {
            for (Path log : logs.filter(p -> p.toString().endsWith(".log")).toList()) {
                Files.copy(log, kept.resolve(log.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        System.out.println(name + ": process logs kept in " + kept.toAbsolutePath());
    }
}
