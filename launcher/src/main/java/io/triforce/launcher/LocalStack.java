package io.triforce.launcher;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A single-node KRaft broker (from launcher/target/kafka-libs) and the four services
 * ({@code <module>/target/quarkus-app/quarkus-run.jar}) as local processes, in a temporary
 * directory that {@link #close} deletes after stopping everything in reverse order.
 */
public final class LocalStack implements AutoCloseable {

    /** JVM flags every engine process needs. */
    static final List<String> ENGINE_JVM_FLAGS = List.of("--add-modules", "jdk.incubator.vector",
            "--enable-native-access=ALL-UNNAMED", "-Xss8m");
    static final List<String> SERVICES = List.of("verify-service", "kv-retrieval-service", "draft-service", "gateway");

    /**
     * @param home         the project root (holds launcher/target/kafka-libs and the services' target/)
     * @param timeout      how long the broker and each service may take to become ready
     * @param brokerConfig server.properties lines appended to (and overriding) the defaults, e.g. a SASL listener
     */
    public record Options(Path home, Path model, Path draftModel, int port, String apiKey, Duration timeout,
                          Map<String, String> extraEnv, List<String> brokerConfig) {

        public Options(Path home, Path model, Path draftModel, int port, String apiKey, Duration timeout,
                       Map<String, String> extraEnv) {
            this(home, model, draftModel, port, apiKey, timeout, extraEnv, List.of());
        }
    }

    private final List<ChildProcess> children = new ArrayList<>();
    private final Map<String, Integer> ports = new HashMap<>();
    private final Path work;
    private final Options options;
    private List<String> brokerCommand;
    private String bootstrap;

    private LocalStack(Path work, Options options) {
        this.work = work;
        this.options = options;
        ports.put("gateway", options.port());
    }

    public static LocalStack start(Options o) throws IOException, InterruptedException {
        for (Path p : List.of(o.model(), o.draftModel())) {
            if (!Files.isRegularFile(p.resolve("config.json"))) {
                throw new IOException(p + " is not a model directory (no config.json)");
            }
        }
        Path libs = o.home().resolve("launcher/target/kafka-libs");
        if (!Files.isDirectory(libs)) {
            throw new IOException(libs + " is missing: build first (mvn -DskipTests package)");
        }
        LocalStack stack = new LocalStack(Files.createTempDirectory("triforce-up-"), o);
        try {
            stack.startBroker(libs);
            for (String service : SERVICES) {
                stack.startService(service);
            }
            return stack;
        } catch (IOException | InterruptedException | RuntimeException e) {
            stack.close();
            throw e;
        }
    }

    public String url() {
        return url("gateway");
    }

    /**
     * Starts one more instance of {@code service} (one of {@link #SERVICES} but the gateway): it joins
     * the service's consumer group, so the broker splits the topics' partitions between the
     * instances. Waits until it is ready; returns its name ({@code verify-service#2}) for
     * {@link #url}, {@link #kill} and {@link #restart}.
     */
    public String addInstance(String service) throws IOException, InterruptedException {
        long running = children.stream().filter(c -> c.name.equals(service) || c.name.startsWith(service + "#")).count();
        String instance = service + "#" + (running + 1);
        startService(instance);
        return instance;
    }

    /** The HTTP address of {@code service} (one of {@link #SERVICES}, or an added instance): health, metrics. */
    public String url(String service) {
        return "http://127.0.0.1:" + ports.get(service);
    }

    public String bootstrapServers() {
        return bootstrap;
    }

    /** Kills {@code name} ("kafka" or a service) with SIGKILL, as a crash would. */
    public void kill(String name) throws InterruptedException {
        child(name).kill();
    }

    /**
     * Starts {@code name} again after it stopped, on the same ports (and, for the broker, the same
     * data), and waits until it is ready.
     */
    public void restart(String name) throws IOException, InterruptedException {
        ChildProcess old = child(name);
        old.close();
        children.remove(old);
        if (name.equals("kafka")) {
            launchBroker();
        } else {
            startService(name);
        }
    }

    private ChildProcess child(String name) {
        return children.stream().filter(c -> c.name.equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no process " + name));
    }

    public Path logs() {
        return work;
    }

    /** The first child that exited, if any. */
    public java.util.Optional<String> deadChild() {
        return children.stream().filter(c -> !c.alive()).map(c -> c.name + " (log " + c.log + ")").findFirst();
    }

    private void startBroker(Path libs) throws IOException, InterruptedException {
        int port = freePort();
        int controller = freePort();
        Path data = Files.createDirectories(work.resolve("kafka-data"));
        Path config = work.resolve("server.properties");
        Files.writeString(config, String.join("\n",
                "process.roles=broker,controller", "node.id=1",
                "controller.quorum.voters=1@127.0.0.1:" + controller,
                "listeners=PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controller,
                "advertised.listeners=PLAINTEXT://127.0.0.1:" + port,
                "controller.listener.names=CONTROLLER", "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "log.dirs=" + data, "message.max.bytes=16777216", "num.partitions=4", "auto.create.topics.enable=true",
                "offsets.topic.replication.factor=1", "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1", "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1", "group.initial.rebalance.delay.ms=0", "")
                + String.join("\n", options.brokerConfig()) + "\n");
        Path log4j = work.resolve("log4j2.properties");
        Files.writeString(log4j, String.join("\n", "rootLogger.level=WARN", "rootLogger.appenderRef.out.ref=OUT",
                "appender.out.type=Console", "appender.out.name=OUT", "appender.out.layout.type=PatternLayout",
                "appender.out.layout.pattern=[%d] %p %m (%c)%n",
                "logger.server.name=kafka.server.KafkaRaftServer", "logger.server.level=INFO",
                "logger.kafka.name=kafka.server.BrokerServer", "logger.kafka.level=INFO", ""));
        String classpath = libs + "/*";
        List<String> java = List.of(javaCommand(), "-Xmx512m", "-Dlog4j2.configurationFile=" + log4j, "-cp", classpath);
        formatStorage(java, config);
        brokerCommand = concat(java, List.of("kafka.Kafka", config.toString()));
        bootstrap = "127.0.0.1:" + port;
        launchBroker();
    }

    /**
     * Formats the broker's storage. A failed format is tried once more (its output goes to
     * stderr, since the work directory is deleted on failure) before giving up with the tool's
     * last lines in the exception.
     */
    private void formatStorage(List<String> java, Path config) throws IOException, InterruptedException {
        for (int attempt = 1; ; attempt++) {
            ChildProcess format = ChildProcess.start("kafka-format-" + attempt, concat(java, List.of(
                    "kafka.tools.StorageTool", "format", "--ignore-formatted", "-t", clusterId(), "-c", config.toString())),
                    Map.of(), work);
            int exit = format.waitFor(options.timeout());
            if (exit == 0) {
                return;
            }
            String failure = "formatting the broker's storage failed (exit " + exit + "):\n" + format.tail(20);
            if (attempt == 2) {
                throw new IOException(failure);
            }
            System.err.println(failure + "\ntrying once more");
        }
    }

    private void launchBroker() throws IOException, InterruptedException {
        ChildProcess broker = ChildProcess.start("kafka", brokerCommand, Map.of(), work);
        children.addFirst(broker);
        broker.awaitLogLine("Kafka Server started", options.timeout());
    }

    /** Starts {@code instance}: a service, or an added instance of one ({@code verify-service#2}). */
    private void startService(String instance) throws IOException, InterruptedException {
        Options o = options;
        String service = instance.replaceFirst("#.*", "");
        Path jar = o.home().resolve(service).resolve("target/quarkus-app/quarkus-run.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IOException(jar + " is missing: build first (mvn -DskipTests package)");
        }
        int port = ports.computeIfAbsent(instance, s -> freePort());
        Map<String, String> env = new java.util.HashMap<>(o.extraEnv());
        env.put("PORT", Integer.toString(port));
        env.put("KAFKA_BOOTSTRAP_SERVERS", bootstrap);
        env.put("TRIFORCE_MODEL", o.model().toAbsolutePath().toString());
        env.put("TRIFORCE_DRAFT_MODEL", o.draftModel().toAbsolutePath().toString());
        if (service.equals("gateway")) {
            env.put("HOST", "127.0.0.1");
            env.put("TRIFORCE_API_KEY", o.apiKey() == null ? "" : o.apiKey());
        }
        ChildProcess child = ChildProcess.start(instance, concat(concat(List.of(javaCommand()), ENGINE_JVM_FLAGS),
                List.of("-jar", jar.toString())), env, work);
        children.add(child);
        child.awaitHttpOk("http://127.0.0.1:" + port + "/q/health/ready", o.timeout());
    }

    @Override
    public void close() {
        for (int i = children.size() - 1; i >= 0; i--) {
            children.get(i).close();
        }
        children.clear();
        try (Stream<Path> files = Files.walk(work)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | UncheckedIOException e) {
            System.err.println("could not delete " + work + ": " + e.getMessage());
        }
    }

    private static String javaCommand() {
        return ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    }

    private static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String clusterId() {
        byte[] bytes = new byte[16];
        new SecureRandom().nextBytes(bytes);
        bytes[0] &= 0x7f; // keep it clear of Kafka's reserved ids
        return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }
}
