package io.triforce.engine.spec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.triforce.engine.backend.Transformer;
import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.Generation;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.testing.SharedData;
import io.triforce.engine.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Greedy TriForce on the trained pair commits exactly the target's own greedy tokens. */
class TriForceGreedyTest {

    private static LlamaCheckpoint targetCheckpoint;
    private static LlamaCheckpoint draftCheckpoint;
    private static Transformer target;
    private static Transformer draft;
    private static List<String> documents;
    private static Tokenizer tokenizer;

    @BeforeAll
    static void load() throws Exception {
        Path shared = SharedData.requireRoot();
        targetCheckpoint = CheckpointLoader.load(shared.resolve("models/pycode-target-23m"));
        draftCheckpoint = CheckpointLoader.load(shared.resolve("models/pycode-draft-3.7m"));
        target = new CpuBackend().load(targetCheckpoint.weights());
        draft = new CpuBackend().load(draftCheckpoint.weights());
        tokenizer = Tokenizer.load(targetCheckpoint.tokenizerJson());
        ObjectMapper json = new ObjectMapper();
        documents = Files.readAllLines(shared.resolve("eval/dev_docs.jsonl")).stream().limit(3)
                .map(line -> readText(json, line)).toList();
    }

    private static String readText(ObjectMapper json, String line) {
        try {
            return json.readTree(line).get("text").asText();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @AfterAll
    static void close() throws Exception {
        // without ../shared, load() was skipped and nothing was opened
        if (tokenizer != null) {
            tokenizer.close();
        }
        if (targetCheckpoint != null) {
            targetCheckpoint.close();
        }
        if (draftCheckpoint != null) {
            draftCheckpoint.close();
        }
    }

    @ParameterizedTest(name = "doc {0}, context {1}, budget {2}")
    @CsvSource({"0, 1024, 256", "1, 1024, 2048", "2, 2048, 512"})
    void greedyTriForceEqualsAutoregressive(int doc, int context, int budget) {
        int[] prompt = Arrays.copyOf(tokenizer.encode(documents.get(doc)), context);
        Generation ar = new AutoregressiveDecoder(target).generate(prompt, 64, SamplingParams.GREEDY, TokenSink.IGNORE);
        TriForceConfig config = new TriForceConfig(4, 12, budget, 8, 16, 256, new RebuildPolicy.AtPrefill());
        Generation tf = new TriForceDecoder(target, draft, config).generate(prompt, 64, SamplingParams.GREEDY, TokenSink.IGNORE);
        assertArrayEquals(ar.tokens(), tf.tokens());
        SpeculationStats s = tf.stats();
        assertTrue(s.targetForwardPasses() < ar.tokens().length, "speculation saved target passes: " + s.targetForwardPasses());
        System.out.printf("doc %d ctx %d budget %d: level1 %.2f level2 %.2f target passes %d for %d tokens%n", doc, context,
                budget, s.level1().acceptance(), s.level2().acceptance(), s.targetForwardPasses(), tf.tokens().length);
    }
}
