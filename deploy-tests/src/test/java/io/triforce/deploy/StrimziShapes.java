package io.triforce.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** Structural checks of the Strimzi custom resources (kafka.strimzi.io/v1beta2), no CRD schema at hand. */
final class StrimziShapes {
  static final String API_VERSION = "kafka.strimzi.io/v1beta2";
  private static final Set<String> KINDS = Set.of("Kafka", "KafkaNodePool", "KafkaTopic");

  private StrimziShapes() {}

  static boolean isStrimzi(JsonNode o) {
    return o.path("apiVersion").asText().startsWith("kafka.strimzi.io/");
  }

  /** Checks every Strimzi object in one rendered overlay against each other. */
  static void check(List<JsonNode> objects) {
    List<JsonNode> strimzi = objects.stream().filter(StrimziShapes::isStrimzi).toList();
    strimzi.forEach(o -> {
      assertEquals(API_VERSION, o.path("apiVersion").asText(), name(o));
      assertTrue(KINDS.contains(o.path("kind").asText()), name(o) + ": unexpected Strimzi kind");
    });
    List<JsonNode> clusters = ofKind(strimzi, "Kafka");
    assertEquals(1, clusters.size(), "exactly one Kafka cluster");
    JsonNode kafka = clusters.getFirst();
    String cluster = kafka.path("metadata").path("name").asText();
    checkKafka(kafka);

    Set<String> roles = new HashSet<>();
    int brokers = 0;
    for (JsonNode pool : ofKind(strimzi, "KafkaNodePool")) {
      assertEquals(cluster, clusterLabel(pool), name(pool) + ": strimzi.io/cluster label");
      int replicas = pool.path("spec").path("replicas").asInt(0);
      assertTrue(replicas >= 1, name(pool) + ": replicas");
      pool.path("spec").path("roles").forEach(r -> roles.add(r.asText()));
      if (hasRole(pool, "broker")) {
        brokers += replicas;
      }
      assertTrue(Set.of("jbod", "ephemeral", "persistent-claim")
          .contains(pool.path("spec").path("storage").path("type").asText()), name(pool) + ": storage type");
    }
    assertEquals(Set.of("broker", "controller"), roles, "node pools cover both KRaft roles");

    for (JsonNode topic : ofKind(strimzi, "KafkaTopic")) {
      assertEquals(cluster, clusterLabel(topic), name(topic) + ": strimzi.io/cluster label");
      JsonNode spec = topic.path("spec");
      assertTrue(spec.path("partitions").asInt(0) >= 1, name(topic) + ": partitions");
      int replicas = spec.path("replicas").asInt(0);
      assertTrue(replicas >= 1 && replicas <= brokers, name(topic) + ": replicas within broker count");
      assertTrue(spec.path("config").path("retention.ms").canConvertToLong(), name(topic) + ": retention.ms");
    }
  }

  /** The bootstrap address Strimzi gives the cluster's plain listener. */
  static String bootstrap(List<JsonNode> objects) {
    JsonNode kafka = ofKind(objects, "Kafka").getFirst();
    for (JsonNode l : kafka.path("spec").path("kafka").path("listeners")) {
      if (!l.path("tls").asBoolean() && l.path("type").asText().equals("internal")) {
        return kafka.path("metadata").path("name").asText() + "-kafka-bootstrap:" + l.path("port").asInt();
      }
    }
    throw new AssertionError("Kafka has no plain internal listener");
  }

  /** Topic name as Kafka sees it: spec.topicName, else the resource name. */
  static String topicName(JsonNode topic) {
    return topic.path("spec").path("topicName").asText(topic.path("metadata").path("name").asText());
  }

  static List<JsonNode> ofKind(List<JsonNode> objects, String kind) {
    return objects.stream().filter(o -> o.path("kind").asText().equals(kind)).toList();
  }

  private static void checkKafka(JsonNode kafka) {
    JsonNode annotations = kafka.path("metadata").path("annotations");
    assertEquals("enabled", annotations.path("strimzi.io/kraft").asText(), "Kafka runs in KRaft mode");
    assertEquals("enabled", annotations.path("strimzi.io/node-pools").asText(), "Kafka uses node pools");
    JsonNode spec = kafka.path("spec");
    assertTrue(spec.path("zookeeper").isMissingNode(), "no ZooKeeper section in KRaft mode");
    assertTrue(spec.path("kafka").path("version").asText().matches("4\\.\\d+\\.\\d+"), "Kafka 4.x version");
    assertFalse(spec.path("kafka").path("listeners").isEmpty(), "listeners");
    for (JsonNode l : spec.path("kafka").path("listeners")) {
      assertTrue(l.path("name").asText().matches("[a-z0-9]{1,11}"), "listener name " + l);
      assertTrue(l.path("port").asInt() >= 9092, "listener port " + l);
      assertTrue(Set.of("internal", "route", "loadbalancer", "nodeport", "ingress", "cluster-ip")
          .contains(l.path("type").asText()), "listener type " + l);
      assertTrue(l.path("tls").isBoolean(), "listener tls " + l);
    }
    assertTrue(spec.path("entityOperator").path("topicOperator").isObject(),
        "the topic operator manages the KafkaTopic resources");
  }

  private static boolean hasRole(JsonNode pool, String role) {
    for (JsonNode r : pool.path("spec").path("roles")) {
      if (r.asText().equals(role)) {
        return true;
      }
    }
    return false;
  }

  private static String clusterLabel(JsonNode o) {
    return o.path("metadata").path("labels").path("strimzi.io/cluster").asText();
  }

  static String name(JsonNode o) {
    return o.path("kind").asText() + "/" + o.path("metadata").path("name").asText();
  }
}
