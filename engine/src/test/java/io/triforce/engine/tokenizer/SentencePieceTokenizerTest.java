package io.triforce.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.triforce.engine.testing.TestTokenizers;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Llama-2-style tokenizer (metaspace, byte fallback, BOS from the post-processor): its decoder
 * drops the leading space of a decode, which streaming must not lose mid-text.
 */
class SentencePieceTokenizerTest {

    @TempDir
    static Path dir;
    static Tokenizer tokenizer;

    @BeforeAll
    static void load() {
        tokenizer = Tokenizer.load(TestTokenizers.writeSentencePieceBpe(dir));
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    @Test
    void encodeAddsBosAsThePostProcessorSays() {
        int[] ids = tokenizer.encode("the cat");
        assertEquals(TestTokenizers.SP_BOS, ids[0]);
        assertArrayEquals(Arrays.copyOfRange(ids, 1, ids.length), tokenizer.encode("the cat", false));
        assertEquals(OptionalInt.of(TestTokenizers.SP_BOS), tokenizer.bosId());
        assertEquals(OptionalInt.of(TestTokenizers.SP_EOS), tokenizer.eosId());
        assertEquals(TestTokenizers.VOCAB_SIZE, tokenizer.vocabSize());
    }

    @Test
    void roundTripsWithByteFallback() {
        String text = "the interval = f(x_1)\n  Ünïcödé 中文 😀 end.";
        assertEquals(text, tokenizer.decode(tokenizer.encode(text, false)));
    }

    @Test
    void streamsWithoutLosingSpaces() {
        String text = "in the inner loop, then 中 😀 the end";
        int[] ids = tokenizer.encode(text, false);
        IncrementalDecoder decoder = new IncrementalDecoder(tokenizer);
        StringBuilder out = new StringBuilder();
        for (int id : ids) {
            String chunk = decoder.accept(id);
            IncrementalDecoderTest.assertWellFormed(chunk);
            out.append(chunk);
        }
        out.append(decoder.flush());
        assertEquals(text, out.toString());
    }

    @Test
    void streamsAfterAPromptWithItsLeadingSpace() {
        int[] prompt = tokenizer.encode("the question:");
        int[] generated = tokenizer.encode(" the answer", false);
        generated = Arrays.copyOfRange(generated, 1, generated.length); // drop the prepended lone "▁"
        IncrementalDecoder decoder = new IncrementalDecoder(tokenizer, prompt);
        StringBuilder out = new StringBuilder();
        for (int id : generated) {
            out.append(decoder.accept(id));
        }
        out.append(decoder.flush());
        int[] all = new int[prompt.length + generated.length];
        System.arraycopy(prompt, 0, all, 0, prompt.length);
        System.arraycopy(generated, 0, all, prompt.length, generated.length);
        String full = tokenizer.decode(all);
        assertEquals(full.substring(tokenizer.decode(prompt).length()), out.toString());
        assertEquals(" the answer", out.toString());
    }
}
