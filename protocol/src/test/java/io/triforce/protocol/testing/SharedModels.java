package io.triforce.protocol.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;

/**
 * Finds the shared data directory ($TRIFORCE_SHARED, else a {@code shared} directory holding
 * {@code models/} next to the working directory or one of its parents) and the pycode pair in it;
 * tests that need them are skipped, with the reason, when they are absent.
 */
public final class SharedModels {

    public static final String ENV = "TRIFORCE_SHARED";

    private SharedModels() {
    }

    public static Optional<Path> root() {
        String env = System.getenv(ENV);
        if (env != null && !env.isBlank()) {
            return Optional.of(Path.of(env).toAbsolutePath()).filter(Files::isDirectory);
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isDirectory(dir.resolve("shared/models"))) {
                return Optional.of(dir.resolve("shared"));
            }
        }
        return Optional.empty();
    }

    /** {@code relative} in the shared directory, or skips the calling test. */
    public static Path require(String relative) {
        Optional<Path> root = root();
        Assumptions.assumeTrue(root.isPresent(), "shared data not found: set " + ENV + " or provide ../shared");
        Path p = root.get().resolve(relative);
        Assumptions.assumeTrue(Files.exists(p), p + " not found: the test needs it");
        return p;
    }

    public static Path target() {
        return require("models/pycode-target-23m");
    }

    public static Path draft() {
        return require("models/pycode-draft-3.7m");
    }

    /** The first {@code tokens} tokens' worth of dev document {@code index} as text. */
    public static String devDocument(int index) throws java.io.IOException {
        try (var lines = Files.lines(require("eval/dev_docs.jsonl"))) {
            String line = lines.skip(index).findFirst().orElseThrow();
            return new com.fasterxml.jackson.databind.ObjectMapper().readTree(line).get("text").asText();
        }
    }
}
