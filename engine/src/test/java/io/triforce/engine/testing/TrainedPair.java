package io.triforce.engine.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Backend;
import io.triforce.engine.backend.Transformer;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.Generation;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.spec.RebuildPolicy;
import io.triforce.engine.spec.SpeculationStats;
import io.triforce.engine.spec.TriForceConfig;
import io.triforce.engine.spec.TriForceDecoder;
import io.triforce.engine.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * The trained pair from the shared directory, ready for TriForce: the target and the draft on
 * the backends given, the tokenizer and the first dev documents. Skips the calling test where the shared directory is absent.
 */
public final class TrainedPair implements AutoCloseable {

    private static final int DOCUMENTS = 3;

    private final LlamaCheckpoint targetCheckpoint;
    private final LlamaCheckpoint draftCheckpoint;
    private final Transformer target;
    private final Transformer draft;
    private final Tokenizer tokenizer;
    private final List<String> documents;

    private TrainedPair(Backend targetBackend, Backend draftBackend) {
        Path shared = SharedData.requireRoot();
        targetCheckpoint = CheckpointLoader.load(shared.resolve(SharedData.TARGET));
        draftCheckpoint = CheckpointLoader.load(shared.resolve(SharedData.DRAFT));
        target = targetBackend.load(targetCheckpoint.weights());
        draft = draftBackend.load(draftCheckpoint.weights());
        tokenizer = Tokenizer.load(targetCheckpoint.tokenizerJson());
        documents = SharedData.documentTexts(DOCUMENTS);
    }

    public static TrainedPair load(Backend targetBackend, Backend draftBackend) {
        return new TrainedPair(targetBackend, draftBackend);
    }

    /**
     * The first {@code context} tokens of dev document {@code doc} as the prompt: greedy TriForce
     * (gamma1 4, gamma2 12, chunks of 8, draft window 256 with 16 sinks) must commit exactly
     * greedy AR's {@code newTokens} tokens on the same target, and in fewer target passes.
     */
    public Generation assertTriForceEqualsAutoregressive(int doc, int context, int budget, int newTokens) {
        int[] all = tokenizer.encode(documents.get(doc));
        assertTrue(all.length >= context, "document " + doc + " has " + all.length + " tokens");
        int[] prompt = Arrays.copyOf(all, context);
        Generation ar = new AutoregressiveDecoder(target).generate(prompt, newTokens, SamplingParams.GREEDY,
                TokenSink.IGNORE);
        TriForceConfig config = new TriForceConfig(4, 12, budget, 8, 16, 256, new RebuildPolicy.AtPrefill());
        Generation tf = new TriForceDecoder(target, draft, config).generate(prompt, newTokens, SamplingParams.GREEDY,
                TokenSink.IGNORE);
        assertArrayEquals(ar.tokens(), tf.tokens());
        SpeculationStats s = tf.stats();
        assertTrue(s.targetForwardPasses() < ar.tokens().length, "speculation saved target passes: "
                + s.targetForwardPasses());
        System.out.printf("doc %d ctx %d budget %d: level1 %.2f level2 %.2f, %d target passes for %d tokens;"
                        + " decode %.1f tok/s AR, %.1f tok/s TriForce%n", doc, context, budget,
                s.level1().acceptance(), s.level2().acceptance(), s.targetForwardPasses(), tf.tokens().length,
                ar.decodeTokensPerSecond(), tf.decodeTokensPerSecond());
        return tf;
    }

    @Override
    public void close() throws Exception {
        tokenizer.close();
        draft.close();
        target.close();
        targetCheckpoint.close();
        draftCheckpoint.close();
    }
}
