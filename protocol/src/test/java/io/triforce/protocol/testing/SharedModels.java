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

    /** The first {@code tokens} token ids of dev document {@code index}, tokenized with the target's tokenizer. */
    public static int[] promptTokens(int index, int tokens) throws java.io.IOException {
        try (var checkpoint = io.triforce.engine.model.CheckpointLoader.load(target());
             var tokenizer = io.triforce.engine.tokenizer.Tokenizer.load(checkpoint.tokenizerJson())) {
            int[] ids = tokenizer.encode(devDocument(index));
            if (ids.length < tokens) {
                throw new IllegalStateException("dev document " + index + " has only " + ids.length + " tokens");
            }
            return java.util.Arrays.copyOf(ids, tokens);
        } catch (java.io.IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Quarkus config for the services under test: absolute model paths (empty when shared data is
     * absent) and the proposal sizes the services' scenarios are written for (gamma1 4, gamma2 12,
     * lookahead 32: long enough proposals that contiguity, lookahead and staleness show; no level-2
     * self-drafting, so every level-2 token comes from a level-1 proposal the scenario sent).
     */
    public static java.util.Map<String, String> serviceConfig() {
        return root().map(r -> java.util.Map.of(
                "triforce.model", r.resolve("models/pycode-target-23m").toString(),
                "triforce.draft-model", r.resolve("models/pycode-draft-3.7m").toString(),
                "triforce.gamma1", "4", "triforce.gamma2", "12", "triforce.lookahead", "32",
                "triforce.level2-ahead", "0"))
                .orElse(java.util.Map.of());
    }
}
