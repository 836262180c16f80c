package io.triforce.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.triforce.engine.testing.ReferenceOutputs;
import io.triforce.engine.testing.SharedData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The trained pair's tokenizer against the evaluation data (skipped without ../shared).
 *
 * <p>The 4 distinct reference prompts of reference_outputs.json are the first 1024 tokens of
 * dev_docs.jsonl documents 0-3 (numpy, numpy, pytorch_lightning, numba_cuda), encoded with no
 * BOS in front: they start with the '#' of "# file: ...". The pycode tokenizer's post-processor
 * adds no special tokens, so {@link Tokenizer#encode(String)} (Hugging Face's default, special
 * tokens on) reproduces them.
 */
class PycodeTokenizerTest {

    static final ObjectMapper JSON = new ObjectMapper();
    private static Tokenizer tokenizer;

    /** The target's tokenizer, loaded on first use; skips the calling test without ../shared. */
    static Tokenizer tokenizer() {
        Path dir = SharedData.require(SharedData.TARGET);
        if (tokenizer == null) {
            tokenizer = Tokenizer.load(dir);
        }
        return tokenizer;
    }

    @AfterAll
    static void close() {
        if (tokenizer != null) {
            tokenizer.close();
        }
    }

    static List<JsonNode> devDocs() throws IOException {
        List<JsonNode> docs = new ArrayList<>();
        for (String line : Files.readAllLines(SharedData.require("eval/dev_docs.jsonl"))) {
            docs.add(JSON.readTree(line));
        }
        return docs;
    }

    @Test
    void vocabularyAndSpecialTokens() {
        assertEquals(8192, tokenizer().vocabSize());
        assertEquals(OptionalInt.of(0), tokenizer().bosId());
        assertEquals(OptionalInt.of(0), tokenizer().eosId());
    }

    @Test
    void reproducesReferencePromptIds() throws IOException {
        List<JsonNode> docs = devDocs();
        List<List<Integer>> prompts = new ArrayList<>(); // distinct prompts, in order of appearance
        int checked = 0;
        for (ReferenceOutputs.Entry entry : ReferenceOutputs.load()) {
            int[] expected = entry.promptIds();
            List<Integer> key = Arrays.stream(expected).boxed().toList();
            if (!prompts.contains(key)) {
                prompts.add(key);
            }
            int doc = prompts.indexOf(key);
            checked++;
            assertEquals(entry.packageName(), docs.get(doc).get("package").asText());
            int[] ids = tokenizer().encode(docs.get(doc).get("text").asText());
            assertTrue(ids.length > 512, "truncated to " + ids.length);
            assertArrayEquals(expected, Arrays.copyOf(ids, expected.length), "prompt " + doc + " (" + entry.model() + ")");
        }
        assertEquals(4, prompts.size());
        assertEquals(8, checked);
    }

    @Test
    void encodesWholeDocumentsAndRoundTrips() throws IOException {
        for (JsonNode doc : devDocs().subList(0, 8)) {
            String text = doc.get("text").asText();
            int[] ids = tokenizer().encode(text);
            assertTrue(ids.length > 10_000, doc.get("package") + ": " + ids.length + " ids");
            assertEquals(text, tokenizer().decode(ids));
        }
    }

    @Test
    void streamsDocumentsIncrementally() throws IOException {
        String text = devDocs().get(1).get("text").asText().substring(0, 20_000) + "\n# 数值 计算 😀🎉 naïve ∑ é\n";
        int[] ids = tokenizer().encode(text);
        IncrementalDecoder decoder = new IncrementalDecoder(tokenizer());
        StringBuilder out = new StringBuilder();
        for (int id : ids) {
            String chunk = decoder.accept(id);
            IncrementalDecoderTest.assertWellFormed(chunk);
            out.append(chunk);
        }
        out.append(decoder.flush());
        assertEquals(tokenizer().decode(ids), out.toString());
        assertEquals(text, out.toString());
    }
}
