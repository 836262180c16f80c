package io.triforce.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/** Topics, ports, env vars and images named by the manifests match the services and the Dockerfiles. */
class ManifestsMatchServicesTest {
  static final List<String> OVERLAYS = Manifests.OVERLAYS;
  private static final Path MODELS = Path.of(System.getProperty("triforce.models", "/work/shared/models"));
  private static final List<String> JVM_FLAGS =
      List.of("\"--add-modules\", \"jdk.incubator.vector\"", "\"--enable-native-access=ALL-UNNAMED\"");

  @ParameterizedTest
  @FieldSource("OVERLAYS")
  void kafkaTopicsAreExactlyTheProtocolTopicsAndCoPartitioned(String overlay) {
    List<JsonNode> topics = StrimziShapes.ofKind(Manifests.of(overlay).raw(), "KafkaTopic");
    assertEquals(Repo.topicConstants(), topics.stream().map(StrimziShapes::topicName).collect(Collectors.toSet()));
    assertEquals(1, topics.stream().map(t -> t.path("spec").path("partitions").asInt()).distinct().count(),
        "every topic has the same partition count");
  }

  @ParameterizedTest
  @FieldSource("OVERLAYS")
  void everyChannelOfEveryServiceUsesADeclaredTopic(String overlay) {
    Set<String> declared = StrimziShapes.ofKind(Manifests.of(overlay).raw(), "KafkaTopic").stream()
        .map(StrimziShapes::topicName).collect(Collectors.toSet());
    for (String service : Repo.SERVICES) {
      ServiceConfig config = ServiceConfig.of(service);
      assertTrue(!config.channelTopics().isEmpty(), service + " has Kafka channels");
      config.channelTopics().forEach((channel, used) -> used.forEach(topic ->
          assertTrue(declared.contains(topic), service + " channel " + channel + " uses undeclared topic " + topic)));
    }
  }

  @ParameterizedTest
  @FieldSource("OVERLAYS")
  void portsAgreeBetweenServiceConfigManifestAndDockerfile(String overlay) {
    Manifests m = Manifests.of(overlay);
    for (String service : Repo.SERVICES) {
      int port = ServiceConfig.of(service).httpPort();
      assertEquals(port, m.container(service).getPorts().getFirst().getContainerPort(), service + ": containerPort");
      assertEquals(port, Repo.exposedPort(service), service + ": Dockerfile EXPOSE");
    }
  }

  @ParameterizedTest
  @FieldSource("OVERLAYS")
  void everyEnvVarIsReadByItsServiceAndEveryRequiredOneIsSet(String overlay) {
    Manifests m = Manifests.of(overlay);
    for (String service : Repo.SERVICES) {
      ServiceConfig config = ServiceConfig.of(service);
      Container c = m.container(service);
      Set<String> names = c.getEnv().stream().map(EnvVar::getName).collect(Collectors.toSet());
      for (EnvVar env : c.getEnv()) {
        assertTrue(config.reads(env.getName()), service + " does not read env var " + env.getName());
        String value = env.getValueFrom() != null && env.getValueFrom().getConfigMapKeyRef() != null
            ? m.config(env.getValueFrom().getConfigMapKeyRef().getKey())
            : env.getValue();
        if (value.startsWith("/models/")) {
          assertTrue(Files.isDirectory(MODELS.resolve(value.substring("/models/".length()))),
              service + ": " + env.getName() + "=" + value + " is not a model directory in " + MODELS);
        }
      }
      assertTrue(names.containsAll(config.requiredEnvVars()),
          service + " needs env vars " + config.requiredEnvVars() + ", the manifest sets " + names);
    }
  }

  @ParameterizedTest
  @FieldSource("OVERLAYS")
  void everyImageIsOneBuildImagesBuildsWithTheEngineJvmFlags(String overlay) {
    Manifests m = Manifests.of(overlay);
    String script = Repo.read(Repo.DOCKER.resolve("build-images.sh"));
    for (String service : Repo.SERVICES) {
      assertEquals("triforce/" + service + ":" + Repo.imageTag(), m.container(service).getImage(), service + ": image");
      assertTrue(script.contains(" " + service), "build-images.sh builds " + service);
      String dockerfile = Repo.dockerfile(service);
      assertTrue(dockerfile.contains(service + "/target/quarkus-app"), service + "'s Dockerfile packages its own fast-jar");
      JVM_FLAGS.forEach(flag -> assertTrue(dockerfile.contains(flag), service + "'s Dockerfile runs java with " + flag));
    }
  }
}
