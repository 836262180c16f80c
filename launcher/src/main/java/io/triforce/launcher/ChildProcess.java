package io.triforce.launcher;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** A process the launcher started, its output in a log file; stopping it is SIGTERM, then SIGKILL. */
final class ChildProcess implements AutoCloseable {

    final String name;
    final Path log;
    private final Process process;

    private ChildProcess(String name, Path log, Process process) {
        this.name = name;
        this.log = log;
        this.process = process;
    }

    static ChildProcess start(String name, List<String> command, Map<String, String> env, Path logDir) throws IOException {
        Path log = logDir.resolve(name + ".log");
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        builder.environment().putAll(env);
        return new ChildProcess(name, log, builder.start());
    }

    boolean alive() {
        return process.isAlive();
    }

    /** Waits until the log holds {@code line}; fails when the process dies or the deadline passes. */
    void awaitLogLine(String line, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!Files.readString(log).contains(line)) {
            check(deadline, "'" + line + "' in its log");
            Thread.sleep(100);
        }
    }

    /** Waits until {@code url} answers 200. */
    void awaitHttpOk(String url, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build()) {
            HttpRequest request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build();
            while (true) {
                try {
                    if (http.send(request, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                        return;
                    }
                } catch (IOException notYet) {
                    // not listening yet
                }
                check(deadline, url + " to answer 200");
                Thread.sleep(250);
            }
        }
    }

    /** The last {@code lines} lines of the process's output. */
    String tail(int lines) throws IOException {
        List<String> all = new String(Files.readAllBytes(log), java.nio.charset.StandardCharsets.UTF_8).lines().toList();
        return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    }

    private void check(long deadline, String what) throws IOException {
        if (!process.isAlive()) {
            throw new IOException(name + " exited (" + process.exitValue() + ") before " + what + "; its last lines:\n" + tail(30));
        }
        if (System.nanoTime() > deadline) {
            throw new IOException("timed out waiting for " + what + " of " + name + "; its last lines:\n" + tail(30));
        }
    }

    int waitFor(Duration timeout) throws IOException, InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new IOException(name + " did not finish within " + timeout + "; see " + log);
        }
        return process.exitValue();
    }

    /** SIGKILL, as a crash would end it; returns once it is gone. */
    void kill() throws InterruptedException {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
