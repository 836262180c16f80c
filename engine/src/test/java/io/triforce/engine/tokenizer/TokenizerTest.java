package io.triforce.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.triforce.engine.testing.TestTokenizers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tokenizer behaviour on the self-contained test tokenizer. */
class TokenizerTest {

    @TempDir
    static Path dir;
    static Tokenizer tokenizer;

    @BeforeAll
    static void load() {
        tokenizer = Tokenizer.load(TestTokenizers.writeByteLevelBpe(dir.resolve("tok")));
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    @Test
    void roundTripsCodeAndMultiByteText() {
        String text = "def f(self, x):\n    return x  # héllo wörld, 中文, 😀🎉 <tab>\t\r\n\u0000end";
        int[] ids = tokenizer.encode(text);
        assertEquals(text, tokenizer.decode(ids));
    }

    @Test
    void appliesMerges() {
        // "Ġreturn" is one merged token; "self" after a space too.
        assertEquals(3, tokenizer.encode("x return self").length);
    }

    @Test
    void vocabularyAndSpecialTokens() {
        assertEquals(TestTokenizers.VOCAB_SIZE, tokenizer.vocabSize());
        assertEquals(OptionalInt.of(TestTokenizers.END_OF_TEXT), tokenizer.bosId());
        assertEquals(OptionalInt.of(TestTokenizers.END_OF_TEXT), tokenizer.eosId());
        assertArrayEquals(new int[] {TestTokenizers.END_OF_TEXT}, tokenizer.encode("<|endoftext|>"));
        assertEquals("a<|endoftext|>b", tokenizer.decode(tokenizer.encode("a<|endoftext|>b")));
    }

    @Test
    void byteTokensDecodeToTheirBytes() {
        int[] euro = {TestTokenizers.byteToken(0xE2), TestTokenizers.byteToken(0x82), TestTokenizers.byteToken(0xAC)};
        assertEquals("€", tokenizer.decode(euro));
        assertArrayEquals(euro, tokenizer.encode("€"));
    }

    @Test
    void doesNotTruncateAt512() {
        String text = "value = compute(alpha, beta) * 12345\n".repeat(200);
        int[] ids = tokenizer.encode(text);
        assertTrue(ids.length > 2000, "got " + ids.length + " ids");
        assertEquals(text, tokenizer.decode(ids));
    }

    @Test
    void withoutTokenizerConfigThereAreNoSpecialIds() throws IOException {
        Path bare = TestTokenizers.writeByteLevelBpe(dir.resolve("bare"));
        Files.delete(bare.resolve("tokenizer_config.json"));
        try (Tokenizer t = Tokenizer.load(bare.resolve("tokenizer.json"))) {
            assertEquals(OptionalInt.empty(), t.bosId());
            assertEquals(OptionalInt.empty(), t.eosId());
            assertEquals(TestTokenizers.VOCAB_SIZE, t.vocabSize());
        }
    }

    @Test
    void missingTokenizerJsonNamesTheFile() throws IOException {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        var e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(empty));
        assertTrue(e.getMessage().contains(empty.resolve("tokenizer.json").toString()), e.getMessage());
        Path absent = dir.resolve("absent");
        e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(absent));
        assertTrue(e.getMessage().contains("tokenizer.json") && e.getMessage().contains(absent.toString()), e.getMessage());
    }

    @Test
    void malformedJsonNamesTheFile() throws IOException {
        Path file = Files.writeString(Files.createDirectories(dir.resolve("malformed")).resolve("tokenizer.json"), "{\"model\": [");
        var e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(file));
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    }

    @Test
    void jsonThatIsNotATokenizerNamesTheFile() throws IOException {
        Path file = Files.writeString(Files.createDirectories(dir.resolve("notok")).resolve("tokenizer.json"),
                "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\", \"zzz\"]]}}");
        var e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(file));
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    }

    @Test
    void unknownSpecialTokenNamesTheConfig() throws IOException {
        Path d = TestTokenizers.writeByteLevelBpe(dir.resolve("badconfig"));
        Files.writeString(d.resolve("tokenizer_config.json"), "{\"bos_token\": {\"content\": \"<s>\"}}");
        var e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(d));
        assertTrue(e.getMessage().contains("tokenizer_config.json") && e.getMessage().contains("<s>"), e.getMessage());
    }
}
