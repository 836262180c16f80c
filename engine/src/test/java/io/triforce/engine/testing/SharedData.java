package io.triforce.engine.testing;

import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Finds the project's shared data directory (models, eval sets): {@code $TRIFORCE_SHARED}, else
 * a directory named {@code shared} next to the working directory or one of its parents (so
 * {@code ../shared} from the project root, {@code ../../shared} from a module) that holds
 * {@code models/} or {@code DESIGN.md}. Tests that need it call {@link #require}, which skips
 * them when it is absent.
 */
public final class SharedData {

    public static final String ENV = "TRIFORCE_SHARED";

    private SharedData() {
    }

    public static Optional<Path> root() {
        String env = System.getenv(ENV);
        if (env != null && !env.isBlank()) {
            Path p = Path.of(env).toAbsolutePath();
            return Files.isDirectory(p) ? Optional.of(p) : Optional.empty();
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("shared");
            if (Files.isDirectory(candidate.resolve("models")) || Files.isRegularFile(candidate.resolve("DESIGN.md"))) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    /** The shared directory, or aborts the calling test (skipped, not failed) when there is none. */
    public static Path requireRoot() {
        Optional<Path> root = root();
        Assumptions.assumeTrue(root.isPresent(), "../shared not found: set " + ENV);
        return root.get();
    }

    /** {@code relative} inside the shared directory (e.g. "models/pycode-target-23m"), or aborts the test. */
    public static Path require(String relative) {
        Path p = requireRoot().resolve(relative);
        Assumptions.assumeTrue(Files.exists(p), p + " not found in the shared directory");
        return p;
    }
}
