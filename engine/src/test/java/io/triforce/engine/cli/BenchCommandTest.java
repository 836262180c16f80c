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

    @Test
    void summaryNamesTheBackendsAndTriForceMatchesAutoregressive() throws Exception {
        Path model = tmp.resolve("model");
        RandomCheckpoint.builder().dim(64).heads(2).kvHeads(1).headDim(64).vocab(TestTokenizers.VOCAB_SIZE).writeTo(model);
        TestTokenizers.writeByteLevelBpe(model);
        Path docs = Files.writeString(tmp.resolve("docs.jsonl"),
                "{\"text\": \"def add(a, b):\\n    return a + b\\n\\nprint(add(1, 2))\\n\"}\n");
        PrintStream oldOut = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int exit;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            exit = TriForceCli.run("bench", "--model", model.toString(), "--backend", "cpu", "--draft-model",
                    model.toString(), "--draft-backend", "cpu", "--docs", docs.toString(), "--context", "16",
                    "--new-tokens", "8", "--docs-limit", "1");
        } finally {
            System.setOut(oldOut);
        }
        assertEquals(0, exit);
        String[] lines = out.toString(StandardCharsets.UTF_8).strip().split("\n");
        JsonNode summary = Json.MAPPER.readTree(lines[lines.length - 1]);
        assertEquals("cpu", summary.at("/backend").asText(), summary.toString());
        assertEquals("cpu", summary.at("/draft_backend").asText(), summary.toString());
        assertEquals(16, summary.at("/context").asInt());
        assertTrue(summary.at("/documents/0/identical_to_ar").asBoolean(), summary.toString());
        assertEquals(8, summary.at("/modes/triforce/tokens").asInt(), summary.toString());
    }

    @Test
    void documentsShorterThanTheContextAreAnErrorNotAnEmptySummary() throws Exception {
        Path model = tmp.resolve("model");
        RandomCheckpoint.builder().dim(64).heads(2).kvHeads(1).headDim(64).vocab(TestTokenizers.VOCAB_SIZE).writeTo(model);
        TestTokenizers.writeByteLevelBpe(model);
        Path docs = Files.writeString(tmp.resolve("docs.jsonl"), "{\"text\": \"x = 1\"}\n");
        PrintStream oldErr = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit;
        try {
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            exit = TriForceCli.run("bench", "--model", model.toString(), "--backend", "cpu", "--docs",
                    docs.toString(), "--context", "100", "--new-tokens", "8", "--modes", "ar");
        } finally {
            System.setErr(oldErr);
        }
        assertEquals(1, exit);
        String message = err.toString(StandardCharsets.UTF_8);
        assertTrue(message.contains("none of the first 1 documents") && message.contains("has 100 tokens"), message);
    }
}
