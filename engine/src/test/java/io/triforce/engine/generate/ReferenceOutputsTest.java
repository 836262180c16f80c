package io.triforce.engine.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.triforce.engine.backend.Transformer;
import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.testing.SharedData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The oracle: Hugging Face transformers' outputs for both trained models on four 1024-token
 * prompts (../shared/eval/reference_outputs.json). Greedy continuations must match exactly and
 * the top-5 logits within 2e-3.
 */
class ReferenceOutputsTest {

    private static final double LOGIT_TOLERANCE = 2e-3;

    @TestFactory
    List<DynamicTest> matchesHuggingFace() throws Exception {
        Path shared = SharedData.requireRoot();
        JsonNode entries = new ObjectMapper().readTree(shared.resolve("eval/reference_outputs.json").toFile());
        List<DynamicTest> tests = new ArrayList<>();
        int index = 0;
        for (JsonNode entry : entries) {
            String model = entry.get("model").asText();
            Path dir = shared.resolve("models/" + (model.equals("target") ? "pycode-target-23m" : "pycode-draft-3.7m"));
            String name = "#" + index++ + " " + model + " " + entry.get("package").asText();
            tests.add(DynamicTest.dynamicTest(name, () -> check(dir, entry)));
        }
        return tests;
    }

    private static void check(Path dir, JsonNode entry) throws Exception {
        int[] prompt = ints(entry.get("prompt_ids"));
        int[] expectedIds = ints(entry.get("last_logits_top5_ids"));
        double[] expectedLogits = doubles(entry.get("last_logits_top5"));
        int[] expectedGreedy = ints(entry.get("greedy_48"));
        try (LlamaCheckpoint checkpoint = CheckpointLoader.load(dir);
             Transformer model = new CpuBackend().load(checkpoint.weights())) {
            float[] logits = model.forward(prompt, model.newCache(new KvCacheSpec.Full(prompt.length + 1)), 1)[0];
            int[] top = IntStream.range(0, logits.length).boxed()
                    .sorted((a, b) -> Float.compare(logits[b], logits[a])).limit(5).mapToInt(Integer::intValue).toArray();
            assertArrayEquals(expectedIds, top, "top-5 ids");
            for (int i = 0; i < 5; i++) {
                assertEquals(expectedLogits[i], logits[top[i]], LOGIT_TOLERANCE, "logit of id " + top[i]);
            }
            Generation g = new AutoregressiveDecoder(model).generate(prompt, 48, SamplingParams.GREEDY, TokenSink.IGNORE);
            assertArrayEquals(expectedGreedy, g.tokens(), "greedy_48");
        }
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    private static double[] doubles(JsonNode array) {
        double[] out = new double[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asDouble();
        }
        return out;
    }
}
