package io.triforce.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.triforce.engine.testing.RandomCheckpoint;
import io.triforce.engine.testing.TestTokenizers;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench} on a small random model: its last stdout line is the summary, naming where each
 * model ran, and greedy TriForce's output is AR's (about 10 s: each mode warms up for 8).
 */
class BenchCommandTest {

    @TempDir
    Path tmp;

    /** What a run of the CLI printed, and its exit code. */
    private record Run(int exit, String out, String err) {
    }

    /** A small random model with a byte-level tokenizer. */
    private String model() throws Exception {
        Path model = tmp.resolve("model");
        RandomCheckpoint.builder().dim(64).heads(2).kvHeads(1).headDim(64).vocab(TestTokenizers.VOCAB_SIZE).writeTo(model);
        TestTokenizers.writeByteLevelBpe(model);
        return model.toString();
    }

    /** A docs file of one JSON line. */
    private String docs(String line) throws Exception {
        return Files.writeString(tmp.resolve("docs.jsonl"), line + "\n").toString();
    }

    private static Run cli(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int exit = TriForceCli.run(args);
            return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test
    void summaryNamesTheBackendsAndTriForceMatchesAutoregressive() throws Exception {
        String model = model();
        String docs = docs("{\"text\": \"def add(a, b):\\n    return a + b\\n\\nprint(add(1, 2))\\n\"}");
        Run run = cli("bench", "--model", model, "--backend", "cpu", "--draft-model", model, "--draft-backend", "cpu",
                "--docs", docs, "--context", "16", "--new-tokens", "8", "--docs-limit", "1");
        assertEquals(0, run.exit(), run.err());
        String[] lines = run.out().strip().split("\n");
        JsonNode summary = Json.MAPPER.readTree(lines[lines.length - 1]);
        assertEquals("cpu", summary.at("/backend").asText(), summary.toString());
        assertEquals("cpu", summary.at("/draft_backend").asText(), summary.toString());
        assertEquals(16, summary.at("/context").asInt());
        assertTrue(summary.at("/documents/0/identical_to_ar").asBoolean(), summary.toString());
        assertEquals(8, summary.at("/modes/triforce/tokens").asInt(), summary.toString());
    }

    @Test
    void documentsShorterThanTheContextAreAnErrorNotAnEmptySummary() throws Exception {
        Run run = cli("bench", "--model", model(), "--backend", "cpu", "--docs", docs("{\"text\": \"x = 1\"}"),
                "--context", "100", "--new-tokens", "8", "--modes", "ar");
        assertEquals(1, run.exit());
        assertTrue(run.err().contains("none of the first 1 documents") && run.err().contains("has 100 tokens"),
                run.err());
        assertEquals("", run.out());
    }
}
