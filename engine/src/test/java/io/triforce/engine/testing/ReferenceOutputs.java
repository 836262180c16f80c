package io.triforce.engine.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.triforce.engine.backend.Backend;
import io.triforce.engine.backend.Transformer;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.engine.sampling.Sampler;
import io.triforce.engine.sampling.SamplingParams;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.DynamicTest;

/**
 * The oracle: Hugging Face transformers' outputs for both trained models on four 1024-token
 * prompts ({@code eval/reference_outputs.json} in the shared directory): the 5 largest logits
 * after the prompt and the 48 tokens greedy decoding produces next.
 */
public final class ReferenceOutputs {

    /** One model's outputs on one prompt. */
    public record Entry(String model, String packageName, int[] promptIds, int[] top5Ids, double[] top5Logits,
                        int[] greedy48) {

        /** The checkpoint directory of {@link #model} ("target" or "draft") in the shared directory. */
        public Path checkpoint(Path shared) {
            return shared.resolve(model.equals("target") ? SharedData.TARGET : SharedData.DRAFT);
        }

        @Override
        public String toString() {
            return model + " " + packageName;
        }
    }

    private ReferenceOutputs() {
    }

    /**
     * A test per entry: {@link #compare} on {@code backend}, the comparison printed, then
     * {@code assertions} (skips the calling test where the shared directory is absent).
     */
    public static List<DynamicTest> tests(Backend backend, Consumer<Comparison> assertions) throws IOException {
        Path shared = SharedData.requireRoot();
        List<Entry> entries = load();
        return entries.stream().map(entry -> DynamicTest.dynamicTest("#" + entries.indexOf(entry) + " " + entry, () -> {
            Comparison c = compare(backend, shared, entry);
            System.out.println(entry + ": " + c.summary());
            assertions.accept(c);
        })).toList();
    }

    /** Every entry of the shared directory's reference outputs (skips the calling test where it is absent). */
    public static List<Entry> load() throws IOException {
        Path file = SharedData.require("eval/reference_outputs.json");
        List<Entry> entries = new ArrayList<>();
        for (JsonNode e : new ObjectMapper().readTree(file.toFile())) {
            entries.add(new Entry(e.get("model").asText(), e.get("package").asText(), ints(e.get("prompt_ids")),
                    ints(e.get("last_logits_top5_ids")), doubles(e.get("last_logits_top5")), ints(e.get("greedy_48"))));
        }
        return entries;
    }

    /**
     * How a backend's run of an entry compares with the reference.
     *
     * @param top5Error        the largest absolute difference of the reference's 5 largest logits (by id)
     * @param firstDivergence  the first of the 48 greedy tokens that differs from the reference's, or -1
     * @param largestPathGap   along the reference's greedy path (its tokens fed back), the largest
     *                         amount by which the backend's best logit exceeds that of the reference's
     *                         token: 0 where every step picks the reference's token, small where a
     *                         step differs only at a near-tie
     */
    public record Comparison(double top5Error, int firstDivergence, double largestPathGap) {

        public String summary() {
            return String.format("top-5 logits within %.2e of the reference; greedy_48 %s; largest gap along its path %.2e",
                    top5Error, firstDivergence < 0 ? "equal" : "differs from token " + firstDivergence, largestPathGap);
        }
    }

    /** Runs {@code entry} on {@code backend}: the logits after the prompt, greedy decoding, and the reference's path. */
    public static Comparison compare(Backend backend, Path shared, Entry entry) throws Exception {
        int[] prompt = entry.promptIds();
        int[] greedy = entry.greedy48();
        try (LlamaCheckpoint checkpoint = CheckpointLoader.load(entry.checkpoint(shared));
             Transformer model = backend.load(checkpoint.weights())) {
            KvCache cache = model.newCache(new KvCacheSpec.Full(prompt.length + greedy.length));
            float[] last = model.forward(prompt, cache, 1)[0];
            double top5Error = 0;
            for (int i = 0; i < 5; i++) {
                top5Error = Math.max(top5Error, Math.abs(entry.top5Logits()[i] - last[entry.top5Ids()[i]]));
            }
            // the reference's tokens fed as one block: row r predicts its token r + 1
            float[][] path = model.forward(Arrays.copyOf(greedy, greedy.length - 1), cache, greedy.length - 1);
            double largestPathGap = 0;
            for (int t = 0; t < greedy.length; t++) {
                float[] logits = t == 0 ? last : path[t - 1];
                largestPathGap = Math.max(largestPathGap, logits[Sampler.argmax(logits)] - logits[greedy[t]]);
            }
            int[] tokens = new AutoregressiveDecoder(model).generate(prompt, greedy.length, SamplingParams.GREEDY,
                    TokenSink.IGNORE).tokens();
            int firstDivergence = Arrays.mismatch(tokens, greedy);
            return new Comparison(top5Error, firstDivergence, largestPathGap);
        }
    }

    private static int[] ints(JsonNode array) {
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
