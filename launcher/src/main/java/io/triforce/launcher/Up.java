package io.triforce.launcher;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code triforce up --model DIR --draft-model DIR [--port N] [--api-key KEY[,KEY...]] [--timeout SECONDS]}:
 * starts a local KRaft broker and the four services, prints the gateway URL, and stops them all
 * on Ctrl-C / SIGTERM. The project root is the working directory, or {@code -Dtriforce.home}.
 */
public final class Up {

    private Up() {
    }

    public static void main(String[] args) throws Exception {
        Path model = null;
        Path draft = null;
        int port = 8080;
        String apiKey = null;
        int timeout = 180;
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--model" -> model = Path.of(require(args[i], value));
                case "--draft-model" -> draft = Path.of(require(args[i], value));
                case "--port" -> port = Integer.parseInt(require(args[i], value));
                case "--api-key" -> apiKey = require(args[i], value);
                case "--timeout" -> timeout = Integer.parseInt(require(args[i], value));
                case "-h", "--help" -> usage(0, null);
                default -> usage(2, "unknown option " + args[i]);
            }
            i++;
        }
        if (model == null || draft == null) {
            usage(2, "--model and --draft-model are required");
        }
        Path home = Path.of(System.getProperty("triforce.home", ".")).toAbsolutePath().normalize();
        System.out.println("starting a Kafka broker and 4 services (logs under a temporary directory) ...");
        LocalStack stack;
        try {
            stack = LocalStack.start(new LocalStack.Options(home, model, draft, port, apiKey,
                    Duration.ofSeconds(timeout), Map.of()));
        } catch (Exception e) {
            System.err.println("triforce up failed: " + e.getMessage());
            System.exit(1);
            return;
        }
        AtomicBoolean stopping = new AtomicBoolean();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stopping.set(true);
            System.out.println("stopping ...");
            stack.close();
        }));
        String auth = apiKey == null ? "" : " -H 'Authorization: Bearer " + apiKey.split(",")[0].strip() + "'";
        System.out.println("TriForce Serve is up: " + stack.url() + "  (logs: " + stack.logs() + ")");
        System.out.println("try: curl -N " + stack.url() + "/v1/completions -H 'Content-Type: application/json'" + auth
                + " -d '{\"model\":\"" + model.toAbsolutePath().normalize().getFileName()
                + "\",\"prompt\":\"def fibonacci(n):\",\"max_tokens\":64,\"temperature\":0,\"stream\":true}'");
        System.out.println("Ctrl-C stops everything.");
        while (true) {
            Thread.sleep(1000);
            var dead = stack.deadChild();
            if (dead.isPresent() && !stopping.get()) {
                System.err.println("a process exited unexpectedly: " + dead.get());
                System.exit(1);
            }
        }
    }

    private static String require(String option, String value) {
        if (value == null) {
            usage(2, option + " needs a value");
        }
        return value;
    }

    private static void usage(int status, String problem) {
        if (problem != null) {
            System.err.println(problem);
        }
        System.err.println("usage: triforce up --model DIR --draft-model DIR [--port N] [--api-key KEY] [--timeout SECONDS]");
        System.exit(status);
    }
}
