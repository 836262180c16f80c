package io.triforce.engine.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes small, self-contained tokenizers into a directory, so tests can build random
 * checkpoints that have a working tokenizer. Both have {@value #VOCAB_SIZE} ids and encode every
 * text; a non-ASCII character always spans several byte tokens.
 *
 * <p>{@link #writeByteLevelBpe}: byte-level BPE (GPT-2 / Llama-3 / pycode style). Id
 * {@value #END_OF_TEXT} is {@code <|endoftext|>} (BOS and EOS in {@code tokenizer_config.json});
 * ids 1-256 are the 256 single-byte symbols in GPT-2's {@code bytes_to_unicode} order (printable
 * bytes first, see {@link #byteToken}); ids 257-299 are 43 merges of common English/Python
 * pieces. Its post-processor adds no special tokens.
 *
 * <p>{@link #writeSentencePieceBpe}: SentencePiece-style BPE with byte fallback (Llama-2 style):
 * 0 {@code <unk>}, 1 {@code <s>} (BOS, prepended by its post-processor), 2 {@code </s>} (EOS),
 * 3-258 the byte pieces {@code <0x00>}-{@code <0xFF>}, then {@code ▁}, a-z and a few punctuation
 * marks, then 7 merges.
 */
public final class TestTokenizers {

    /** Number of ids: 1 special + 256 bytes + 43 merges. */
    public static final int VOCAB_SIZE = 300;
    /** Id of {@code <|endoftext|>}. */
    public static final int END_OF_TEXT = 0;

    private static final String[][] MERGES = {
            {"Ġ", "Ġ"}, {"ĠĠ", "ĠĠ"}, {"ĠĠĠĠ", "ĠĠĠĠ"}, {"Ċ", "ĠĠĠĠ"}, {"i", "n"}, {"Ġ", "t"}, {"h", "e"},
            {"Ġt", "he"}, {"e", "r"}, {"o", "n"}, {"r", "e"}, {"a", "t"}, {"e", "n"}, {"o", "r"}, {"s", "e"},
            {"Ġ", "s"}, {"Ġ", "a"}, {"Ġ", "i"}, {"Ġ", "c"}, {"Ġ", "f"}, {"Ġ", "("}, {"d", "e"}, {"Ġ", "="},
            {"Ġ", "d"}, {"Ġ", "p"}, {"l", "e"}, {"i", "s"}, {"a", "l"}, {"e", "s"}, {"Ġ", "in"}, {"Ġ", "x"},
            {"Ġ", "de"}, {"Ġde", "f"}, {"se", "l"}, {"sel", "f"}, {"Ġ", "self"}, {"re", "t"}, {"u", "r"},
            {"ret", "ur"}, {"retur", "n"}, {"Ġ", "return"}, {"Ġf", "or"}, {"i", "m"},
    };

    private static final int[] BYTE_ORDER = byteOrder();

    /** Id of {@code <s>} in the SentencePiece-style tokenizer. */
    public static final int SP_BOS = 1;
    /** Id of {@code </s>} in the SentencePiece-style tokenizer. */
    public static final int SP_EOS = 2;
    private static final String SP_CHARS = "▁abcdefghijklmnopqrstuvwxyz.,():=_";
    private static final String[][] SP_MERGES = {
            {"▁", "t"}, {"h", "e"}, {"▁t", "he"}, {"i", "n"}, {"▁", "in"}, {"e", "r"}, {"o", "n"},
    };

    private TestTokenizers() {
    }

    /** Writes {@code tokenizer.json} and {@code tokenizer_config.json} into {@code dir}; returns dir. */
    public static Path writeByteLevelBpe(Path dir) {
        ObjectMapper json = new ObjectMapper();
        try {
            Files.createDirectories(dir);
            json.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("tokenizer.json").toFile(), tokenizerJson(json));
            ObjectNode config = json.createObjectNode()
                    .put("bos_token", "<|endoftext|>")
                    .put("eos_token", "<|endoftext|>")
                    .put("tokenizer_class", "PreTrainedTokenizerFast");
            json.writeValue(dir.resolve("tokenizer_config.json").toFile(), config);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes a Llama-2-style {@code tokenizer.json} and {@code tokenizer_config.json} into {@code dir}; returns dir. */
    public static Path writeSentencePieceBpe(Path dir) {
        ObjectMapper json = new ObjectMapper();
        try {
            Files.createDirectories(dir);
            json.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("tokenizer.json").toFile(), sentencePieceJson(json));
            ObjectNode config = json.createObjectNode();
            config.putObject("bos_token").put("content", "<s>").put("special", true);
            config.putObject("eos_token").put("content", "</s>").put("special", true);
            json.writeValue(dir.resolve("tokenizer_config.json").toFile(), config);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The id of the token that is the single byte {@code b} (0-255). */
    public static int byteToken(int b) {
        for (int i = 0; i < BYTE_ORDER.length; i++) {
            if (BYTE_ORDER[i] == b) {
                return 1 + i;
            }
        }
        throw new IllegalArgumentException("not a byte: " + b);
    }

    private static ObjectNode tokenizerJson(ObjectMapper json) {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        vocab.put("<|endoftext|>", END_OF_TEXT);
        for (int b : BYTE_ORDER) {
            vocab.put(symbol(b), vocab.size());
        }
        ArrayNode merges = json.createArrayNode();
        for (String[] m : MERGES) {
            if (!vocab.containsKey(m[0]) || !vocab.containsKey(m[1])) {
                throw new IllegalStateException("merge of unknown pieces: " + m[0] + " " + m[1]);
            }
            vocab.putIfAbsent(m[0] + m[1], vocab.size());
            merges.addArray().add(m[0]).add(m[1]);
        }
        if (vocab.size() != VOCAB_SIZE) {
            throw new IllegalStateException("vocabulary of " + vocab.size() + " ids, not " + VOCAB_SIZE);
        }
        ObjectNode root = json.createObjectNode().put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        root.putArray("added_tokens").addObject()
                .put("id", END_OF_TEXT).put("content", "<|endoftext|>").put("single_word", false)
                .put("lstrip", false).put("rstrip", false).put("normalized", false).put("special", true);
        root.putNull("normalizer");
        root.set("pre_tokenizer", byteLevel(json));
        root.putNull("post_processor");
        root.set("decoder", byteLevel(json));
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false).put("byte_fallback", false).put("ignore_merges", false);
        ObjectNode vocabNode = model.putObject("vocab");
        vocab.forEach(vocabNode::put);
        model.set("merges", merges);
        return root;
    }

    private static ObjectNode sentencePieceJson(ObjectMapper json) {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        List<String> specials = List.of("<unk>", "<s>", "</s>");
        specials.forEach(t -> vocab.put(t, vocab.size()));
        for (int b = 0; b < 256; b++) {
            vocab.put(String.format("<0x%02X>", b), vocab.size());
        }
        SP_CHARS.codePoints().forEach(c -> vocab.put(Character.toString(c), vocab.size()));
        ArrayNode merges = json.createArrayNode();
        for (String[] m : SP_MERGES) {
            vocab.putIfAbsent(m[0] + m[1], vocab.size());
            merges.addArray().add(m[0]).add(m[1]);
        }
        if (vocab.size() != VOCAB_SIZE) {
            throw new IllegalStateException("vocabulary of " + vocab.size() + " ids, not " + VOCAB_SIZE);
        }
        ObjectNode root = json.createObjectNode().put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (String t : specials) {
            added.addObject().put("id", vocab.get(t)).put("content", t).put("single_word", false)
                    .put("lstrip", false).put("rstrip", false).put("normalized", false).put("special", true);
        }
        ArrayNode normalizers = root.putObject("normalizer").put("type", "Sequence").putArray("normalizers");
        normalizers.addObject().put("type", "Prepend").put("prepend", "▁");
        normalizers.add(replace(json, " ", "▁"));
        root.putNull("pre_tokenizer");
        ObjectNode post = root.putObject("post_processor").put("type", "TemplateProcessing");
        post.putArray("single").add(specialToken(json, "<s>")).add(sequence(json, "A"));
        post.putArray("pair").add(specialToken(json, "<s>")).add(sequence(json, "A"))
                .add(specialToken(json, "<s>")).add(sequence(json, "B"));
        ObjectNode bos = post.putObject("special_tokens").putObject("<s>").put("id", "<s>");
        bos.putArray("ids").add(SP_BOS);
        bos.putArray("tokens").add("<s>");
        ArrayNode decoders = root.putObject("decoder").put("type", "Sequence").putArray("decoders");
        decoders.add(replace(json, "▁", " "));
        decoders.addObject().put("type", "ByteFallback");
        decoders.addObject().put("type", "Fuse");
        decoders.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout");
        model.put("unk_token", "<unk>");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", true).put("byte_fallback", true).put("ignore_merges", false);
        ObjectNode vocabNode = model.putObject("vocab");
        vocab.forEach(vocabNode::put);
        model.set("merges", merges);
        return root;
    }

    private static ObjectNode replace(ObjectMapper json, String pattern, String content) {
        ObjectNode node = json.createObjectNode().put("type", "Replace");
        node.putObject("pattern").put("String", pattern);
        return node.put("content", content);
    }

    private static ObjectNode specialToken(ObjectMapper json, String token) {
        ObjectNode node = json.createObjectNode();
        node.putObject("SpecialToken").put("id", token).put("type_id", 0);
        return node;
    }

    private static ObjectNode sequence(ObjectMapper json, String id) {
        ObjectNode node = json.createObjectNode();
        node.putObject("Sequence").put("id", id).put("type_id", 0);
        return node;
    }

    private static ObjectNode byteLevel(ObjectMapper json) {
        return json.createObjectNode().put("type", "ByteLevel").put("add_prefix_space", false)
                .put("trim_offsets", true).put("use_regex", true);
    }

    /** GPT-2's bytes_to_unicode order: printable bytes, then the others. */
    private static int[] byteOrder() {
        List<Integer> order = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            if (printable(b)) {
                order.add(b);
            }
        }
        for (int b = 0; b < 256; b++) {
            if (!printable(b)) {
                order.add(b);
            }
        }
        return order.stream().mapToInt(Integer::intValue).toArray();
    }

    private static boolean printable(int b) {
        return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    }

    /** The character GPT-2's byte-level alphabet uses for byte {@code b}. */
    private static String symbol(int b) {
        if (printable(b)) {
            return String.valueOf((char) b);
        }
        int n = 0;
        for (int x = 0; x < b; x++) {
            if (!printable(x)) {
                n++;
            }
        }
        return String.valueOf((char) (256 + n));
    }
}
