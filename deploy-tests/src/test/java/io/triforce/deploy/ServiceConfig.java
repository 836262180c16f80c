package io.triforce.deploy;

import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** What a service's application.properties reads: channels' topics, its HTTP port, its env vars. */
record ServiceConfig(String service, Map<String, String> props) {
  private static final Pattern EXPRESSION = Pattern.compile("\\$\\{([^:}]+)(?::([^}]*))?}");
  private static final Pattern CHANNEL = Pattern.compile("mp\\.messaging\\.(?:incoming|outgoing)\\.([^.]+)\\..*");

  /**
   * Properties the services may leave to their extension's default instead of naming them in
   * application.properties: quarkus-messaging-kafka reads kafka.bootstrap.servers.
   */
  private static final Set<String> EXTENSION_PROPERTIES = Set.of("kafka.bootstrap.servers");

  static ServiceConfig of(String service) {
    return new ServiceConfig(service, Repo.applicationProperties(service));
  }

  /**
   * Channel name to the topics it uses: its topic property, or its comma-separated topics property
   * (one consumer of several topics), with expressions resolved, or else its own name.
   */
  Map<String, List<String>> channelTopics() {
    Map<String, List<String>> topics = new TreeMap<>();
    for (String key : props.keySet()) {
      Matcher m = CHANNEL.matcher(key);
      if (m.matches()) {
        String channel = m.group(1);
        String topic = props.get("mp.messaging.incoming." + channel + ".topic");
        topic = topic != null ? topic : props.get("mp.messaging.incoming." + channel + ".topics");
        topic = topic != null ? topic : props.get("mp.messaging.outgoing." + channel + ".topic");
        topics.put(channel, topic == null ? List.of(channel) : List.of(resolve(topic).split(",")));
      }
    }
    return topics;
  }

  int httpPort() {
    String port = props.get("quarkus.http.port");
    return port == null ? 8080 : Integer.parseInt(resolve(port));
  }

  /**
   * Whether the service reads this environment variable: it is the MicroProfile Config env name
   * of a property the service sets or relies on, or an expression in a value names it.
   */
  boolean reads(String envVar) {
    Set<String> names = new HashSet<>(props.keySet());
    names.addAll(EXTENSION_PROPERTIES);
    if (names.stream().anyMatch(k -> envName(k).equals(envVar))) {
      return true;
    }
    return props.values().stream().anyMatch(v -> EXPRESSION.matcher(v).results().anyMatch(r -> r.group(1).equals(envVar)));
  }

  /** Env vars that values name with no default: the deployment has to set them. */
  Set<String> requiredEnvVars() {
    Set<String> required = new HashSet<>();
    props.values().forEach(v -> EXPRESSION.matcher(v).results()
        .filter(r -> r.group(2) == null && !props.containsKey(r.group(1)))
        .forEach(r -> required.add(r.group(1))));
    return required;
  }

  String resolve(String value) {
    return EXPRESSION.matcher(value).replaceAll(r -> {
      String ref = props.get(r.group(1));
      String resolved = ref != null ? resolve(ref) : r.group(2);
      if (resolved == null) {
        throw new AssertionError(service + ": cannot resolve " + value);
      }
      return Matcher.quoteReplacement(resolved);
    });
  }

  /** MicroProfile Config's environment name of a property: non-alphanumerics to '_', upper case. */
  static String envName(String property) {
    return property.replaceAll("[^A-Za-z0-9]", "_").toUpperCase(Locale.ROOT);
  }
}
