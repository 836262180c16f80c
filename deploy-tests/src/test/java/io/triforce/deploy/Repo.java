package io.triforce.deploy;

import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/** Where the deployment checks find the project's own files, and what those files declare. */
final class Repo {
  static final Path ROOT = Path.of(System.getProperty("triforce.repo.root", "..")).toAbsolutePath().normalize();
  static final List<String> SERVICES = List.of("gateway", "draft-service", "kv-retrieval-service", "verify-service");
  static final Path DOCKER = ROOT.resolve("deploy/docker");

  private static final Pattern STRING_CONSTANT = Pattern.compile("static final String \\w+ = \"([^\"]+)\";");
  private static final Pattern EXPOSE = Pattern.compile("(?m)^EXPOSE (\\d+)$");
  private static final Pattern TAG = Pattern.compile("(?m)^TAG=(\\S+)$");

  private Repo() {}

  /** The topic names in protocol's Topics class. */
  static Set<String> topicConstants() {
    Matcher m = STRING_CONSTANT.matcher(read(ROOT.resolve("protocol/src/main/java/io/triforce/protocol/Topics.java")));
    return m.results().map(r -> r.group(1)).collect(Collectors.toCollection(java.util.TreeSet::new));
  }

  /** A service's application.properties without profile-specific (%dev., %test.) entries. */
  static Map<String, String> applicationProperties(String service) {
    Properties p = new Properties();
    try (Reader r = Files.newBufferedReader(ROOT.resolve(service).resolve("src/main/resources/application.properties"))) {
      p.load(r);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Map<String, String> props = new TreeMap<>();
    p.stringPropertyNames().stream().filter(k -> !k.startsWith("%")).forEach(k -> props.put(k, p.getProperty(k).trim()));
    return props;
  }

  static String dockerfile(String image) {
    return read(DOCKER.resolve(image).resolve("Dockerfile"));
  }

  static int exposedPort(String image) {
    Matcher m = EXPOSE.matcher(dockerfile(image));
    if (!m.find()) {
      throw new AssertionError(image + "'s Dockerfile exposes no port");
    }
    return Integer.parseInt(m.group(1));
  }

  /** The tag build-images.sh gives every image. */
  static String imageTag() {
    Matcher m = TAG.matcher(read(DOCKER.resolve("build-images.sh")));
    if (!m.find()) {
      throw new AssertionError("build-images.sh sets no TAG");
    }
    return m.group(1);
  }

  static String read(Path file) {
    try {
      return Files.readString(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
