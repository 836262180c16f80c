package io.triforce.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.EnvVar;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.slf4j.LoggerFactory;
import org.testcontainers.containers.BindMode;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.Network;
import org.testcontainers.containers.output.Slf4jLogConsumer;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.lifecycle.Startables;
import org.testcontainers.utility.DockerImageName;

/**
 * The images end to end: Kafka and the four services on one Docker network, configured with
 * the env the dev overlay gives each service, the models mounted read-only. Completions streamed
 * through the gateway's mapped port must equal the in-process engine's greedy output.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ServingInContainersIT {
  private static final Path MODELS = Path.of(System.getProperty("triforce.models", "/work/shared/models"));
  private static final String MODEL_ID = "pycode-target-23m";
  private static final String PROMPT = "def fibonacci(n):\n";
  private static final Duration STREAM_BOUND = Duration.ofSeconds(120);

  private static Network network;
  private static GenericContainer<?> kafka;
  private static final Map<String, GenericContainer<?>> SERVICES = new LinkedHashMap<>();
  private static final int SHORT = 48;
  private static final int LONG = 300;
  private static String shortGreedy;
  private static String longGreedy;

  @BeforeAll
  static void start() throws Exception {
    try (GreedyReference reference = new GreedyReference(MODELS.resolve(MODEL_ID))) {
      shortGreedy = reference.continuation(PROMPT, SHORT);
      longGreedy = reference.continuation(PROMPT, LONG);
    }
    Manifests dev = Manifests.of("dev");
    String tag = Repo.imageTag();
    network = Network.newNetwork();
    kafka = new GenericContainer<>(DockerImageName.parse("triforce/kafka:" + tag))
        .withImagePullPolicy(name -> false)
        .withNetwork(network)
        .withNetworkAliases("kafka")
        .withEnv("KAFKA_ADVERTISED_HOST", "kafka")
        .withLogConsumer(new Slf4jLogConsumer(LoggerFactory.getLogger("kafka")))
        .waitingFor(Wait.forLogMessage(".*Kafka Server started.*\\n", 1));
    kafka.start();
    for (String service : Repo.SERVICES) {
      SERVICES.put(service, service(dev, service, tag));
    }
    // A stream whose pipeline broke must end within the bound: the gateway's no-commit deadline.
    SERVICES.get("gateway").withEnv("TRIFORCE_TOKEN_TIMEOUT", "45s");
    Startables.deepStart(SERVICES.values()).join();
  }

  /** The service's image with the dev overlay's env, Kafka on the network, models read-only. */
  private static GenericContainer<?> service(Manifests dev, String service, String tag) {
    int port = dev.container(service).getPorts().getFirst().getContainerPort();
    GenericContainer<?> c = new GenericContainer<>(DockerImageName.parse("triforce/" + service + ":" + tag))
        .withImagePullPolicy(name -> false)
        .withNetwork(network)
        .withNetworkAliases(service)
        .withFileSystemBind(MODELS.toString(), "/models", BindMode.READ_ONLY)
        .withExposedPorts(port)
        .withLogConsumer(new Slf4jLogConsumer(LoggerFactory.getLogger(service)))
        .waitingFor(Wait.forHttp("/q/health/ready").forPort(port).withStartupTimeout(Duration.ofMinutes(3)));
    for (EnvVar env : dev.container(service).getEnv()) {
      String value = env.getValueFrom() != null ? dev.config(env.getValueFrom().getConfigMapKeyRef().getKey()) : env.getValue();
      c.withEnv(env.getName(), value);
    }
    return c.withEnv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092");
  }

  @AfterAll
  static void stop() {
    SERVICES.values().forEach(GenericContainer::stop);
    if (kafka != null) {
      kafka.stop();
    }
    if (network != null) {
      network.close();
    }
  }

  private static final String TIMEOUT = "timeout: ";

  /** How the stream ended, or "timeout: ..." if it did not within the bound. */
  private static String endOf(CompletionStream stream) {
    return stream.end()
        .completeOnTimeout(TIMEOUT + "no end within " + STREAM_BOUND, STREAM_BOUND.toSeconds(), TimeUnit.SECONDS)
        .join();
  }

  private static String gateway() {
    GenericContainer<?> g = SERVICES.get("gateway");
    return "http://" + g.getHost() + ":" + g.getMappedPort(g.getExposedPorts().getFirst());
  }

  @Test
  @Order(1)
  void streamedCompletionEqualsInProcessGreedyDecoding() throws Exception {
    CompletionStream stream = CompletionStream.start(gateway(), MODEL_ID, PROMPT, SHORT);
    String end = endOf(stream);
    assertTrue(end.startsWith("finish: "), "the stream ended with " + end);
    assertEquals(shortGreedy, stream.text());
  }

  @Test
  @Order(2)
  void stoppingAServiceMidStreamEndsInBoundedTimeWithNothingDuplicated() throws Exception {
    CompletionStream stream = CompletionStream.start(gateway(), MODEL_ID, PROMPT, LONG);
    assertTrue(stream.firstDelta().await(STREAM_BOUND.toSeconds(), TimeUnit.SECONDS), "no token before the stop");
    GenericContainer<?> draft = SERVICES.get("draft-service");
    assertTrue(!stream.end().isDone(), "the stream ended before the stop; raise LONG");
    draft.getDockerClient().stopContainerCmd(draft.getContainerId()).withTimeout(1).exec();
    long stopped = System.nanoTime();

    String end = endOf(stream);
    System.out.printf("draft-service stopped mid-stream; %d s later the stream ended with %s%n",
        (System.nanoTime() - stopped) / 1_000_000_000L, end);
    assertTrue(!end.startsWith(TIMEOUT), end);
    String got = stream.text();
    if (end.startsWith("finish: ")) {
      assertEquals(longGreedy, got, "completed after the stop: the full greedy text");
    } else {
      assertTrue(longGreedy.startsWith(got), "ended with " + end + " after a prefix of the greedy text, got: " + got);
    }
  }
}
