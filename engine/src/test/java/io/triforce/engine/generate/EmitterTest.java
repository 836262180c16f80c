package io.triforce.engine.generate;

import static io.triforce.engine.testing.ErrorMessages.assertMentions;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.model.RopeConfig;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.testing.RandomCheckpoint;
import io.triforce.engine.testing.RandomModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** When generation ends and what reaches the sink. */
class EmitterTest {

    /** Context of 10 positions, EOS ids 2 and 5. */
    private static final ModelConfig CONFIG = new ModelConfig(64, 64, 1, 1, 1, 64, 16, 1e-5f, 10, false,
            RopeConfig.unscaled(10_000), 1, new int[] {2, 5});

    @TempDir
    Path dir;

    @Test
    void aFullContextEndsWithLength() {
        Emitter out = new Emitter(CONFIG, 7, 100, TokenSink.IGNORE);
        assertEquals(3, out.remaining(), "room left in the context, not max tokens");
        assertTrue(out.emit(9));
        assertTrue(out.emit(8));
        assertEquals(1, out.remaining());
        assertNull(out.finishReason());
        assertFalse(out.emit(7), "the 10th position fills the context");
        assertEquals(FinishReason.LENGTH, out.finishReason());
        assertEquals(0, out.remaining());
        assertArrayEquals(new int[] {9, 8, 7}, out.tokens());
        IllegalStateException after = assertThrows(IllegalStateException.class, () -> out.emit(4));
        assertMentions(after, "already finished", "LENGTH");
    }

    @Test
    void maxTokensEndsWithLength() {
        List<Integer> sunk = new ArrayList<>();
        Emitter out = new Emitter(CONFIG, 3, 2, t -> sunk.add(t));
        assertEquals(2, out.remaining(), "max tokens, not the context's 7");
        assertTrue(out.emit(11));
        assertFalse(out.emit(12));
        assertEquals(FinishReason.LENGTH, out.finishReason());
        assertEquals(List.of(11, 12), sunk);
    }

    @Test
    void eosEndsWithStopAndIsNeitherKeptNorSunk() {
        List<Integer> sunk = new ArrayList<>();
        Emitter out = new Emitter(CONFIG, 3, 5, t -> sunk.add(t));
        assertTrue(out.emit(3));
        assertFalse(out.emit(5), "5 is the second EOS id");
        assertEquals(FinishReason.STOP, out.finishReason());
        assertArrayEquals(new int[] {3}, out.tokens());
        assertEquals(List.of(3), sunk);
    }

    @Test
    void aDecliningSinkEndsWithStopAndKeepsItsToken() {
        Emitter out = new Emitter(CONFIG, 3, 5, t -> t != 13);
        assertTrue(out.emit(12));
        assertFalse(out.emit(13));
        assertEquals(FinishReason.STOP, out.finishReason());
        assertArrayEquals(new int[] {12, 13}, out.tokens());
    }

    @Test
    void refusesPromptsThatCannotGenerate() {
        assertMentions(assertThrows(IllegalArgumentException.class, () -> new Emitter(CONFIG, 0, 5, TokenSink.IGNORE)),
                "at least one token");
        assertMentions(assertThrows(IllegalArgumentException.class, () -> new Emitter(CONFIG, 3, 0, TokenSink.IGNORE)),
                "at least 1", "got 0");
        assertMentions(assertThrows(IllegalArgumentException.class, () -> new Emitter(CONFIG, 10, 5, TokenSink.IGNORE)),
                "10 tokens", "context is 10");
    }

    @Test
    void autoregressiveDecodingFillsTheContextAndStops() throws Exception {
        try (RandomModel m = RandomModel.load(RandomCheckpoint.builder().dim(64).heads(1).headDim(64).vocab(32)
                .maxPositions(24).omitConfigField("eos_token_id").seed(4), dir)) {
            Generation g = new AutoregressiveDecoder(m.model())
                    .generate(m.randomTokens(17, 1), 50, SamplingParams.ofTemperature(1, 3), TokenSink.IGNORE);
            assertEquals(7, g.tokens().length, "24 positions - 17 prompt tokens");
            assertEquals(FinishReason.LENGTH, g.finishReason());
            Generation capped = new AutoregressiveDecoder(m.model())
                    .generate(m.randomTokens(17, 1), 4, SamplingParams.ofTemperature(1, 3), TokenSink.IGNORE);
            assertEquals(4, capped.tokens().length);
            assertArrayEquals(java.util.Arrays.copyOf(g.tokens(), 4), capped.tokens(), "seeded: same draws");
        }
    }
}
