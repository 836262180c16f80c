package io.triforce.launcher;

import io.triforce.engine.cpu.CpuBackend;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.Generation;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.tokenizer.IncrementalDecoder;
import io.triforce.engine.tokenizer.Tokenizer;
import io.triforce.protocol.testing.SharedModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * What a stream must deliver: the target's own greedy autoregressive continuation, computed in
 * this JVM, of prompts cut from the shared dev documents (sent to the gateway as token ids).
 *
 * @param tokenEnds for each generated token, the length of the streamed text once it is decoded
 */
record GreedyReference(int[] prompt, int[] tokens, String text, int[] tokenEnds, String finishReason) {

    /** {@code count} (up to 47) prompts of {@code promptTokens} tokens (dev documents i and i + 1), continued greedily. */
    static List<GreedyReference> compute(Path targetDir, int count, int promptTokens, int newTokens) throws Exception {
        List<GreedyReference> refs = new ArrayList<>();
        try (LlamaCheckpoint target = CheckpointLoader.load(targetDir);
             Tokenizer tokenizer = Tokenizer.load(target.tokenizerJson())) {
            AutoregressiveDecoder decoder = new AutoregressiveDecoder(new CpuBackend().load(target.weights()));
            for (int i = 0; i < count; i++) {
                int[] ids = tokenizer.encode(SharedModels.devDocument(i) + "\n" + SharedModels.devDocument(i + 1));
                int[] prompt = Arrays.copyOf(ids, promptTokens);
                Generation g = decoder.generate(prompt, newTokens, SamplingParams.GREEDY, TokenSink.IGNORE);
                IncrementalDecoder text = new IncrementalDecoder(tokenizer, prompt);
                StringBuilder sb = new StringBuilder();
                int[] ends = new int[g.tokens().length];
                for (int t = 0; t < ends.length; t++) {
                    sb.append(text.accept(g.tokens()[t]));
                    ends[t] = sb.length();
                }
                sb.append(text.flush());
                if (ends.length > 0) {
                    ends[ends.length - 1] = sb.length();
                }
                refs.add(new GreedyReference(prompt, g.tokens(), sb.toString(), ends, g.finishReason().openAiName()));
            }
        }
        return refs;
    }

    /** The streaming greedy request for this prompt (as token ids) and token count. */
    Map<String, Object> request() {
        return Map.of("model", "pycode-target-23m", "prompt", prompt, "max_tokens", tokens.length, "temperature", 0,
                "stream", true);
    }
}
