package io.triforce.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.testing.RequiresGpu;
import io.triforce.engine.testing.SharedData;
import io.triforce.engine.testing.WidenedCheckpoint;
import io.triforce.engine.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trained target widened (the stand-in for a large trained model that scripts/gpu/wide-bench.sh
 * times at a 7B model's size) computes the trained target's function on the GPU too: a sharded
 * checkpoint of another shape, through the loader and the CUDA backend, gives the same greedy
 * tokens and logits within the GPU's bf16 tolerance. Skipped without a GPU or the shared directory.
 */
@RequiresGpu
class CudaWidenedCheckpointTest {

    @TempDir
    Path dir;

    @Test
    void theWidenedTrainedTargetGivesTheTargetsTokens() throws Exception {
        Path source = SharedData.requireRoot().resolve(SharedData.TARGET);
        Path wide = dir.resolve("wide");
        WidenedCheckpoint.write(source, wide, new WidenedCheckpoint.Shape(1024, 16, 16, 3072, 8), 2);
        int[] prompt;
        try (Tokenizer tokenizer = Tokenizer.load(source.resolve("tokenizer.json"))) {
            prompt = Arrays.copyOf(tokenizer.encode(SharedData.documentTexts(1).getFirst()), 2000);
        }
        Run trained = run(source, prompt);
        Run widened = run(wide, prompt);
        double worst = 0;
        for (int v = 0; v < trained.logits.length; v++) {
            worst = Math.max(worst, Math.abs(trained.logits[v] - widened.logits[v]));
        }
        assertTrue(worst < 0.05, "max |logit difference| after the prompt: " + worst);
        assertArrayEquals(trained.tokens, widened.tokens);
    }

    private record Run(float[] logits, int[] tokens) {
    }

    private static Run run(Path checkpoint, int[] prompt) throws Exception {
        try (LlamaCheckpoint ckpt = CheckpointLoader.load(checkpoint);
             Transformer model = new CudaBackend().load(ckpt.weights());
             KvCache cache = model.newCache(new KvCacheSpec.Full(prompt.length))) {
            float[] logits = model.forward(prompt, cache, 1)[0];
            int[] tokens = new AutoregressiveDecoder(model).generate(prompt, 48, SamplingParams.GREEDY,
                    TokenSink.IGNORE).tokens();
            return new Run(logits, tokens);
        }
    }
}
