package io.triforce.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRule;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/** Both overlays render, every object is valid, and the deployment shape holds per overlay. */
class OverlaysRenderTest {
  static final List<String> OVERLAYS = Manifests.OVERLAYS;
  private static final String GPU = "nvidia.com/gpu";
  private static final List<String> GPU_SERVICES = List.of("kv-retrieval-service", "verify-service");

  @ParameterizedTest
  @FieldSource("OVERLAYS")
  void everyObjectIsStrictlyValidAndInTheNamespace(String overlay) {
    Manifests m = Manifests.of(overlay);
    assertEquals(m.raw().size(), m.kube().size() + m.raw().stream().filter(StrimziShapes::isStrimzi).count());
    for (HasMetadata o : m.kube()) {
      if (!(o instanceof Namespace)) {
        assertEquals("triforce", o.getMetadata().getNamespace(), o.getKind() + "/" + o.getMetadata().getName());
      }
    }
    m.raw().stream().filter(StrimziShapes::isStrimzi).forEach(o ->
        assertEquals("triforce", o.path("metadata").path("namespace").asText(), StrimziShapes.name(o)));
  }

  @ParameterizedTest
  @FieldSource("OVERLAYS")
  void kafkaIsStrimziKraftAndServicesPointAtItsBootstrap(String overlay) {
    Manifests m = Manifests.of(overlay);
    StrimziShapes.check(m.raw());
    assertEquals(StrimziShapes.bootstrap(m.raw()), m.config("kafka-bootstrap-servers"));
  }

  @ParameterizedTest
  @FieldSource("OVERLAYS")
  void everyServiceHasProbesResourcesMetricsServiceAndDisruptionBudget(String overlay) {
    Manifests m = Manifests.of(overlay);
    assertEquals(Repo.SERVICES.size(), m.all(Deployment.class).size(), "one Deployment per service");
    for (String service : Repo.SERVICES) {
      Deployment d = m.one(Deployment.class, service);
      Container c = m.container(service);
      int port = c.getPorts().getFirst().getContainerPort();
      assertEquals("/q/health/ready", c.getReadinessProbe().getHttpGet().getPath(), service);
      assertEquals("/q/health/live", c.getLivenessProbe().getHttpGet().getPath(), service);
      Map<String, Quantity> requests = c.getResources().getRequests();
      assertTrue(requests.containsKey("cpu") && requests.containsKey("memory"), service + ": cpu and memory requests");
      assertNotNull(c.getResources().getLimits().get("memory"), service + ": memory limit");

      Map<String, String> annotations = d.getSpec().getTemplate().getMetadata().getAnnotations();
      assertEquals("true", annotations.get("prometheus.io/scrape"), service);
      assertEquals(String.valueOf(port), annotations.get("prometheus.io/port"), service);
      assertEquals("/q/metrics", annotations.get("prometheus.io/path"), service);

      Map<String, String> podLabels = d.getSpec().getTemplate().getMetadata().getLabels();
      assertTrue(podLabels.entrySet().containsAll(d.getSpec().getSelector().getMatchLabels().entrySet()),
          service + ": selector matches its pods");
      Service svc = m.one(Service.class, service);
      assertTrue(podLabels.entrySet().containsAll(svc.getSpec().getSelector().entrySet()), service + ": Service selects pods");
      assertEquals(port, svc.getSpec().getPorts().getFirst().getPort(), service + ": Service port");
      PodDisruptionBudget pdb = m.one(PodDisruptionBudget.class, service);
      assertTrue(podLabels.entrySet().containsAll(pdb.getSpec().getSelector().getMatchLabels().entrySet()),
          service + ": PodDisruptionBudget selects pods");

      PodSpec pod = d.getSpec().getTemplate().getSpec();
      assertTrue(c.getVolumeMounts().stream().allMatch(v -> Boolean.TRUE.equals(v.getReadOnly())), service + ": models read-only");
      assertTrue(pod.getVolumes().stream().allMatch(v -> v.getPersistentVolumeClaim() == null
          || Boolean.TRUE.equals(v.getPersistentVolumeClaim().getReadOnly())), service + ": claim read-only");
    }
  }

  @ParameterizedTest
  @FieldSource("OVERLAYS")
  void gatewayScalesOnCpu(String overlay) {
    Manifests m = Manifests.of(overlay);
    List<HorizontalPodAutoscaler> hpas = m.all(HorizontalPodAutoscaler.class);
    assertEquals(1, hpas.size(), "one HPA");
    var target = hpas.getFirst().getSpec().getScaleTargetRef();
    assertEquals("Deployment", target.getKind());
    assertEquals("gateway", target.getName());
  }

  @ParameterizedTest
  @FieldSource("OVERLAYS")
  void onlyTheGatewayIsReachableFromOutsideTheNamespace(String overlay) {
    Manifests m = Manifests.of(overlay);
    List<NetworkPolicy> policies = m.all(NetworkPolicy.class);
    for (String service : Repo.SERVICES) {
      Map<String, String> labels = m.one(Deployment.class, service).getSpec().getTemplate().getMetadata().getLabels();
      List<NetworkPolicy> selecting = policies.stream()
          .filter(p -> labels.entrySet().containsAll(p.getSpec().getPodSelector().getMatchLabels().entrySet()))
          .toList();
      assertFalse(selecting.isEmpty(), service + ": isolated by some NetworkPolicy");
      boolean fromOutside = selecting.stream()
          .flatMap(p -> p.getSpec().getIngress().stream())
          .anyMatch(OverlaysRenderTest::admitsOtherNamespaces);
      assertEquals(service.equals("gateway"), fromOutside, service + ": reachable from outside the namespace");
    }
  }

  @ParameterizedTest
  @FieldSource("OVERLAYS")
  void gpuOnlyWhereTheOverlaySaysSo(String overlay) {
    Manifests m = Manifests.of(overlay);
    for (String service : Repo.SERVICES) {
      boolean wantsGpu = overlay.equals("gpu") && GPU_SERVICES.contains(service);
      PodSpec pod = m.one(Deployment.class, service).getSpec().getTemplate().getSpec();
      Map<String, Quantity> limits = m.container(service).getResources().getLimits();
      assertEquals(wantsGpu, limits.containsKey(GPU), overlay + "/" + service + ": GPU limit");
      assertEquals(wantsGpu, pod.getTolerations().stream().anyMatch(t -> GPU.equals(t.getKey())),
          overlay + "/" + service + ": GPU toleration");
      assertEquals(wantsGpu, !pod.getNodeSelector().isEmpty(), overlay + "/" + service + ": node selector");
      assertEquals(wantsGpu, m.container(service).getEnv().stream()
              .anyMatch(e -> e.getName().equals("TRIFORCE_BACKEND") && "cuda".equals(e.getValue())),
          overlay + "/" + service + ": the target runs on CUDA exactly on GPU nodes");
      if (overlay.equals("dev")) {
        assertEquals(1, m.one(Deployment.class, service).getSpec().getReplicas(), service + ": one replica in dev");
      }
    }
    if (overlay.equals("dev")) {
      assertEquals(1, m.all(HorizontalPodAutoscaler.class).getFirst().getSpec().getMaxReplicas(), "gateway HPA max in dev");
    }
  }

  /** A rule with no peers admits everyone; a namespaceSelector or ipBlock admits other namespaces. */
  private static boolean admitsOtherNamespaces(NetworkPolicyIngressRule rule) {
    return rule.getFrom().isEmpty()
        || rule.getFrom().stream().anyMatch(p -> p.getNamespaceSelector() != null || p.getIpBlock() != null);
  }
}
