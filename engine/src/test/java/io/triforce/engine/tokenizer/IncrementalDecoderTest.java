package io.triforce.engine.tokenizer;

import static io.triforce.engine.testing.TestTokenizers.byteToken;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.testing.TestTokenizers;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Streaming decode on the test tokenizer, where every non-ASCII character spans byte tokens. */
class IncrementalDecoderTest {

    @TempDir
    static Path dir;
    static Tokenizer tokenizer;

    @BeforeAll
    static void load() {
        tokenizer = Tokenizer.load(TestTokenizers.writeByteLevelBpe(dir));
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    /** No replacement character, no lone surrogate. */
    static void assertWellFormed(String chunk) {
        assertFalse(chunk.contains("\uFFFD"), () -> "broken character in " + chunk);
        for (int i = 0; i < chunk.length(); i++) {
            char c = chunk.charAt(i);
            if (Character.isHighSurrogate(c)) {
                assertTrue(i + 1 < chunk.length() && Character.isLowSurrogate(chunk.charAt(++i)), chunk);
            } else {
                assertFalse(Character.isLowSurrogate(c), chunk);
            }
        }
    }

    private static int[] bytesOf(String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            ids[i] = byteToken(bytes[i] & 0xFF);
        }
        return ids;
    }

    private static List<String> stream(IncrementalDecoder decoder, int[] ids) {
        List<String> chunks = new ArrayList<>();
        for (int id : ids) {
            chunks.add(decoder.accept(id));
        }
        return chunks;
    }

    @Test
    void holdsBackAFourByteCharacterUntilItsLastByte() {
        IncrementalDecoder decoder = new IncrementalDecoder(tokenizer);
        assertEquals(List.of("a", "", "", "", "😀", "b"), stream(decoder, bytesOf("a😀b")));
        assertEquals("", decoder.flush());
    }

    @Test
    void emitsTheCompletePartOfATokenAtOnce() {
        int[] ids = tokenizer.encode("x 中");
        IncrementalDecoder decoder = new IncrementalDecoder(tokenizer);
        StringBuilder out = new StringBuilder();
        for (int id : ids) {
            String chunk = decoder.accept(id);
            assertWellFormed(chunk);
            out.append(chunk);
        }
        assertEquals("x 中", out.toString());
    }

    @Test
    void concatenationEqualsDecodeForMixedText() {
        String text = "def 计算(x):\n    return x  # 😀 naïve café — 한국어 🎉🎉 end\n".repeat(20);
        int[] ids = tokenizer.encode(text);
        IncrementalDecoder decoder = new IncrementalDecoder(tokenizer);
        StringBuilder out = new StringBuilder();
        for (String chunk : stream(decoder, ids)) {
            assertWellFormed(chunk);
            out.append(chunk);
        }
        out.append(decoder.flush());
        assertEquals(text, out.toString());
    }

    @Test
    void randomTokenStreamsMatchDecode() {
        SplittableRandom random = new SplittableRandom(7);
        for (int trial = 0; trial < 50; trial++) {
            int[] ids = random.ints(200, 0, TestTokenizers.VOCAB_SIZE).toArray();
            IncrementalDecoder decoder = new IncrementalDecoder(tokenizer);
            StringBuilder out = new StringBuilder();
            stream(decoder, ids).forEach(out::append);
            out.append(decoder.flush());
            assertEquals(tokenizer.decode(ids), out.toString(), "trial " + trial);
        }
    }

    @Test
    void flushReleasesAnUnfinishedCharacter() {
        IncrementalDecoder decoder = new IncrementalDecoder(tokenizer);
        int[] partial = {byteToken('a'), byteToken(0xE4), byteToken(0xB8)};
        assertEquals(List.of("a", "", ""), stream(decoder, partial));
        String rest = decoder.flush();
        assertEquals(tokenizer.decode(partial), "a" + rest);
        assertTrue(rest.startsWith("\uFFFD"), rest);
    }

    @Test
    void contextIsNotEmittedButCompletesCharacters() {
        int[] euro = bytesOf("€");
        int[] prompt = tokenizer.encode("prompt text ");
        int[] context = new int[prompt.length + 1];
        System.arraycopy(prompt, 0, context, 0, prompt.length);
        context[prompt.length] = euro[0];
        IncrementalDecoder decoder = new IncrementalDecoder(tokenizer, context);
        assertEquals(List.of("", "€", "x"), stream(decoder, new int[] {euro[1], euro[2], byteToken('x')}));
    }
}
