package io.triforce.engine.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalInt;

/**
 * A checkpoint's Hugging Face tokenizer ({@code tokenizer.json}), run by the Rust
 * {@code tokenizers} library through DJL, fully offline.
 *
 * <p>Truncation and padding are off: DJL would otherwise cut every encoding to 512 tokens.
 * Decoding keeps special tokens and applies no clean-up of tokenization spaces, so that
 * {@code decode} of a concatenation is the concatenation of the pieces (what streaming needs).
 *
 * <p>Special tokens: {@link #bosId()} and {@link #eosId()} come from the {@code bos_token} and
 * {@code eos_token} of {@code tokenizer_config.json} next to {@code tokenizer.json}, when that
 * file is present.
 */
public final class Tokenizer implements AutoCloseable {

    static {
        // DJL's native library is inside its jar: offline mode keeps it from probing EC2
        // metadata for telemetry and from downloading a CUDA flavour of the library.
        if (System.getenv("DJL_OFFLINE") == null && System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final HuggingFaceTokenizer tokenizer;
    private final int vocabSize;
    private final OptionalInt bosId;
    private final OptionalInt eosId;

    private Tokenizer(HuggingFaceTokenizer tokenizer, int vocabSize, OptionalInt bosId, OptionalInt eosId) {
        this.tokenizer = tokenizer;
        this.vocabSize = vocabSize;
        this.bosId = bosId;
        this.eosId = eosId;
    }

    /**
     * Loads a tokenizer.
     *
     * @param path a checkpoint directory holding {@code tokenizer.json} (and optionally
     *             {@code tokenizer_config.json}), or the {@code tokenizer.json} file itself
     * @throws IllegalArgumentException naming the file when {@code tokenizer.json} is missing or
     *                                  invalid, or {@code tokenizer_config.json} is invalid
     */
    public static Tokenizer load(Path path) {
        Path file = Files.isDirectory(path) ? path.resolve("tokenizer.json") : path;
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("tokenizer.json not found: " + file);
        }
        Vocabulary vocabulary;
        HuggingFaceTokenizer tokenizer;
        try {
            vocabulary = new Vocabulary(JSON.readTree(file.toFile()));
            tokenizer = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(file)
                    .optTruncation(false)
                    .optPadding(false)
                    .build();
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("invalid tokenizer.json " + file + ": " + message(e), e);
        }
        try {
            Path config = file.resolveSibling("tokenizer_config.json");
            if (!Files.isRegularFile(config)) {
                return new Tokenizer(tokenizer, vocabulary.size(), OptionalInt.empty(), OptionalInt.empty());
            }
            JsonNode json = readConfig(config);
            return new Tokenizer(tokenizer, vocabulary.size(),
                    specialId(json, "bos_token", vocabulary, config),
                    specialId(json, "eos_token", vocabulary, config));
        } catch (RuntimeException e) {
            tokenizer.close();
            throw e;
        }
    }

    private static JsonNode readConfig(Path config) {
        try {
            return JSON.readTree(config.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException("invalid tokenizer_config.json " + config + ": " + message(e), e);
        }
    }

    /** A special token given as a string, as an AddedToken object ({"content": ...}), or null. */
    private static OptionalInt specialId(JsonNode config, String field, Vocabulary vocabulary, Path file) {
        JsonNode node = config.path(field);
        String token = node.isObject() ? node.path("content").asText(null) : node.isTextual() ? node.asText() : null;
        if (token == null) {
            return OptionalInt.empty();
        }
        OptionalInt id = vocabulary.id(token);
        if (id.isEmpty()) {
            throw new IllegalArgumentException(
                    "tokenizer_config.json " + file + ": " + field + " '" + token + "' is not in tokenizer.json");
        }
        return id;
    }

    private static String message(Exception e) {
        return e instanceof JacksonException j ? j.getOriginalMessage() : String.valueOf(e.getMessage());
    }

    /**
     * Encodes text as Hugging Face's {@code tokenizer(text)} does: with the special tokens its
     * post-processor adds (Llama-2/3 prepend BOS; the pycode tokenizer adds nothing).
     */
    public int[] encode(String text) {
        return encode(text, true);
    }

    /** Encodes text, with or without the special tokens of the tokenizer's post-processor. */
    public int[] encode(String text, boolean addSpecialTokens) {
        long[] ids = tokenizer.encode(text, addSpecialTokens, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    /** Decodes ids to text, special tokens included. */
    public String decode(int[] ids) {
        return decode(ids, 0, ids.length);
    }

    /** Decodes {@code ids[from, to)} to text, special tokens included. */
    public String decode(int[] ids, int from, int to) {
        long[] wide = new long[to - from];
        for (int i = from; i < to; i++) {
            wide[i - from] = ids[i];
        }
        return tokenizer.decode(wide, false);
    }

    /** One more than the largest token id of {@code tokenizer.json} (vocabulary plus added tokens). */
    public int vocabSize() {
        return vocabSize;
    }

    /** The id of tokenizer_config.json's {@code bos_token}; empty when not given. */
    public OptionalInt bosId() {
        return bosId;
    }

    /** The id of tokenizer_config.json's {@code eos_token}; empty when not given. */
    public OptionalInt eosId() {
        return eosId;
    }

    /** Frees the native tokenizer. */
    @Override
    public void close() {
        tokenizer.close();
    }
}
