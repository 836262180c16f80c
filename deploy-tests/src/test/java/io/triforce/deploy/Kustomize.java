package io.triforce.deploy;

import static org.junit.jupiter.api.Assumptions.abort;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/** Renders a Kustomize directory with {@code kubectl kustomize}; aborts the test when kubectl is absent. */
final class Kustomize {
  static final String INSTALL_HINT =
      "kubectl is not on PATH, so the Kustomize overlays cannot be rendered: install it, e.g."
          + " 'apt-get install -y --no-install-recommends kubernetes-client' on Debian 12";

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final Map<Path, List<JsonNode>> RENDERED = new ConcurrentHashMap<>();
  private static final AtomicBoolean WARNED = new AtomicBoolean();

  private Kustomize() {}

  /** The objects {@code kubectl kustomize dir} prints, in order; rendered once per directory. */
  static List<JsonNode> render(Path dir) {
    Path kubectl = kubectl();
    return RENDERED.computeIfAbsent(dir, d -> run(kubectl, d));
  }

  private static Path kubectl() {
    for (String entry : System.getenv().getOrDefault("PATH", "").split(":")) {
      Path candidate = Path.of(entry, "kubectl");
      if (Files.isExecutable(candidate)) {
        return candidate;
      }
    }
    if (!WARNED.getAndSet(true)) {
      System.err.println("SKIPPED: " + INSTALL_HINT);
    }
    return abort(INSTALL_HINT);
  }

  private static List<JsonNode> run(Path kubectl, Path dir) {
    try {
      Process p = new ProcessBuilder(kubectl.toString(), "kustomize", dir.toString()).start();
      byte[] out = p.getInputStream().readAllBytes();
      String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IllegalStateException("kubectl kustomize " + dir + " failed: " + err);
      }
      List<JsonNode> docs = new ArrayList<>();
      try (var parser = YAML.getFactory().createParser(out)) {
        YAML.readValues(parser, JsonNode.class).forEachRemaining(doc -> {
          if (doc != null && !doc.isNull() && !doc.isEmpty()) {
            docs.add(doc);
          }
        });
      }
      return docs;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
