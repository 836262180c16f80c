package io.triforce.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.nio.file.Path;
import java.util.List;

/** One rendered overlay: the raw objects, the Kubernetes ones bound strictly to fabric8's model. */
record Manifests(String overlay, List<JsonNode> raw, List<HasMetadata> kube) {
  static final List<String> OVERLAYS = List.of("dev", "gpu");
  static final String CONFIG_MAP = "triforce-config";

  static Manifests of(String overlay) {
    List<JsonNode> raw = Kustomize.render(Repo.ROOT.resolve(Path.of("deploy", "k8s", "overlays", overlay)));
    List<HasMetadata> kube = raw.stream()
        .filter(o -> !StrimziShapes.isStrimzi(o))
        .map(StrictModel::bind)
        .toList();
    return new Manifests(overlay, raw, kube);
  }

  <T extends HasMetadata> List<T> all(Class<T> type) {
    return kube.stream().filter(type::isInstance).map(type::cast).toList();
  }

  <T extends HasMetadata> T one(Class<T> type, String name) {
    return all(type).stream()
        .filter(o -> o.getMetadata().getName().equals(name))
        .findFirst()
        .orElseThrow(() -> new AssertionError(overlay + ": no " + type.getSimpleName() + " " + name));
  }

  Container container(String service) {
    return one(Deployment.class, service).getSpec().getTemplate().getSpec().getContainers().stream()
        .filter(c -> c.getName().equals(service))
        .findFirst()
        .orElseThrow(() -> new AssertionError(overlay + ": Deployment " + service + " has no container " + service));
  }

  String config(String key) {
    String value = one(ConfigMap.class, CONFIG_MAP).getData().get(key);
    if (value == null) {
      throw new AssertionError(overlay + ": ConfigMap " + CONFIG_MAP + " has no key " + key);
    }
    return value;
  }
}
