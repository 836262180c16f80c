package io.triforce.engine.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * Finds the project's shared data directory (models, eval sets): {@code $TRIFORCE_SHARED}, else
 * a directory named {@code shared} next to the working directory or one of its parents (so
 * {@code ../shared} from the project root, {@code ../../shared} from a module) that holds
 * {@code models/} or {@code DESIGN.md}. Tests that need it call {@link #require}, which skips
 * them when it is absent.
 */
public final class SharedData {

    public static final String ENV = "TRIFORCE_SHARED";
    /** The trained pair, relative to the shared directory. */
    public static final String TARGET = "models/pycode-target-23m";
    public static final String DRAFT = "models/pycode-draft-3.7m";

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

    /** {@code relative} inside the shared directory (e.g. {@link #TARGET}), or aborts the test. */
    public static Path require(String relative) {
        Path p = requireRoot().resolve(relative);
        Assumptions.assumeTrue(Files.exists(p), p + " not found in the shared directory");
        return p;
    }

    /** The texts of the first {@code limit} documents of eval/dev_docs.jsonl (aborts the test without the shared directory). */
    public static List<String> documentTexts(int limit) {
        ObjectMapper json = new ObjectMapper();
        try (Stream<String> lines = Files.lines(requireRoot().resolve("eval/dev_docs.jsonl"))) {
            return lines.limit(limit).map(line -> {
                try {
                    return json.readTree(line).get("text").asText();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
