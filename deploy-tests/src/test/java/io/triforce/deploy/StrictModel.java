package io.triforce.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KubernetesResource;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Binds a rendered object to its fabric8 Kubernetes model class and rejects every field the
 * class does not declare. fabric8's classes keep unknown fields in {@code additionalProperties}
 * instead of failing, so strictness is a walk over the bound object graph.
 */
final class StrictModel {
  /** The API versions the manifests may use: current GA versions only. */
  static final Set<String> GA_API_VERSIONS =
      Set.of("v1", "apps/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1");

  private static final ObjectMapper JSON = new ObjectMapper();

  private StrictModel() {}

  /** The typed object; throws with every unknown field's path if the object is not strictly valid. */
  static HasMetadata bind(JsonNode node) {
    String id = node.path("apiVersion").asText() + " " + node.path("kind").asText() + " "
        + node.path("metadata").path("name").asText();
    if (!GA_API_VERSIONS.contains(node.path("apiVersion").asText())) {
      throw new AssertionError(id + ": not a GA Kubernetes API version");
    }
    HasMetadata bound;
    try {
      bound = (HasMetadata) JSON.treeToValue(node, KubernetesResource.class);
    } catch (Exception e) {
      throw new AssertionError(id + ": does not bind to the Kubernetes model: " + e.getMessage(), e);
    }
    if (bound instanceof GenericKubernetesResource) {
      throw new AssertionError(id + ": no Kubernetes model class for this kind");
    }
    List<String> unknown = new ArrayList<>();
    walk(bound, node.path("kind").asText(), unknown, new IdentityHashMap<>());
    if (!unknown.isEmpty()) {
      throw new AssertionError(id + ": unknown fields " + unknown);
    }
    return bound;
  }

  private static void walk(Object o, String path, List<String> unknown, Map<Object, Object> seen) {
    if (o == null || seen.put(o, o) != null) {
      return;
    }
    if (o instanceof Collection<?> c) {
      int i = 0;
      for (Object e : c) {
        walk(e, path + "[" + i++ + "]", unknown, seen);
      }
      return;
    }
    if (o instanceof Map<?, ?> m) {
      m.forEach((k, v) -> walk(v, path + "." + k, unknown, seen));
      return;
    }
    if (!o.getClass().getName().startsWith("io.fabric8.")) {
      return;
    }
    for (Method getter : o.getClass().getMethods()) {
      if (getter.getParameterCount() != 0 || Modifier.isStatic(getter.getModifiers())
          || !getter.getName().startsWith("get") || getter.getDeclaringClass() == Object.class) {
        continue;
      }
      Object value;
      try {
        value = getter.invoke(o);
      } catch (ReflectiveOperationException e) {
        throw new IllegalStateException(e);
      }
      if (getter.getName().equals("getAdditionalProperties")) {
        ((Map<?, ?>) value).keySet().forEach(k -> unknown.add(path + "." + k));
      } else {
        walk(value, path + "." + field(getter), unknown, seen);
      }
    }
  }

  private static String field(Method getter) {
    String name = getter.getName().substring(3);
    return Character.toLowerCase(name.charAt(0)) + name.substring(1);
  }
}
