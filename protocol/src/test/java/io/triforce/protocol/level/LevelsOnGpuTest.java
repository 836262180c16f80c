package io.triforce.protocol.level;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.backend.Backends;
import io.triforce.engine.backend.Transformer;
import io.triforce.engine.cuda.ModelShapes;
import io.triforce.engine.cuda.RandomWeights;
import io.triforce.engine.generate.AutoregressiveDecoder;
import io.triforce.engine.generate.TokenSink;
import io.triforce.engine.model.LlamaWeights;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.testing.RequiresGpu;
import io.triforce.protocol.Sampling;
import io.triforce.protocol.SessionEvent;
import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What verify-service and kv-retrieval-service run on a GPU ({@code TRIFORCE_BACKEND=auto}
 * there): the three level sessions with the target on CUDA (retrieval and full caches on the
 * device) and the draft on the CPU (as draft-service runs it by default) or the GPU
 * ({@code TRIFORCE_DRAFT_BACKEND=cuda}), wired by in-memory queues. The committed log equals greedy
 * autoregressive decoding on the GPU. Skipped where no CUDA GPU is present; run on the device
 * with {@code scripts/gpu/run-on-device.sh test}.
 */
@RequiresGpu
class LevelsOnGpuTest {

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda"})
    void greedyCommittedLogOnTheGpuEqualsAutoregressive(String draftBackend) {
        ModelConfig config = ModelShapes.get("pycode-target");
        try (Arena arena = Arena.ofShared()) {
            LlamaWeights weights = RandomWeights.create(config, 21, arena);
            LlamaWeights draftWeights = RandomWeights.create(ModelShapes.get("pycode-draft"), 22, arena);
            try (Transformer gpu = Backends.named("auto").load(weights);
                 Transformer draft = Backends.named(draftBackend).load(draftWeights)) {
                assertEquals("cuda", Backends.named("auto").name(), "auto picks the GPU where one is usable");
                int[] prompt = new Random(5).ints(700, 1, config.vocabSize()).toArray();
                int maxTokens = 40;
                int[] expected = new AutoregressiveDecoder(gpu).generate(prompt, maxTokens, SamplingParams.GREEDY,
                        TokenSink.IGNORE).tokens();
                SessionEvent start = SessionEvent.start("gpu", prompt, maxTokens, Sampling.of(SamplingParams.GREEDY));
                for (long seed : new long[] {1, 2}) {
                    assertArrayEquals(expected, Loopback.run(gpu, draft, start, LevelSettings.DEFAULTS, new Random(seed)),
                            "interleaving " + seed);
                }
                // a budget covering the prompt (level 2 sees what level 3 sees) and level-2 self-drafting on
                LevelSettings wide = new LevelSettings(1, 3, 1024, 8, 16, 256, 6, 2);
                assertArrayEquals(expected, Loopback.run(gpu, draft, start, wide, new Random(3)), "level2-ahead 2, budget 1024");
                SessionEvent sampled = SessionEvent.start("gpu-sampled", prompt, 20, new Sampling(0.8, 0, 0.95, 7));
                int[] tokens = Loopback.run(gpu, draft, sampled, LevelSettings.DEFAULTS, new Random(4));
                assertTrue(tokens.length > 0 && tokens.length <= 20
                                && IntStream.of(tokens).allMatch(t -> t >= 0 && t < config.vocabSize()),
                        "a sampled session commits at most max_tokens valid ids");
            }
        }
    }
}
