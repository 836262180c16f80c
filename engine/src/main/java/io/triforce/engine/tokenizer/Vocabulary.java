package io.triforce.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalInt;

/**
 * The token-to-id table of a parsed {@code tokenizer.json}: the model's vocabulary
 * ({@code model.vocab}, an object for BPE/WordPiece, a list of [piece, score] pairs for Unigram)
 * plus {@code added_tokens}. Used while loading, to size the vocabulary and resolve the special
 * tokens named by {@code tokenizer_config.json}.
 */
final class Vocabulary {

    private final Map<String, Integer> ids = new HashMap<>();
    private int size;

    Vocabulary(JsonNode tokenizerJson) {
        JsonNode vocab = tokenizerJson.path("model").path("vocab");
        if (vocab.isObject()) {
            for (Map.Entry<String, JsonNode> e : vocab.properties()) {
                put(e.getKey(), e.getValue().asInt());
            }
        } else if (vocab.isArray()) {
            for (int id = 0; id < vocab.size(); id++) {
                put(vocab.get(id).path(0).asText(), id);
            }
        } else {
            throw new IllegalArgumentException("no model.vocab");
        }
        for (JsonNode added : tokenizerJson.path("added_tokens")) {
            put(added.path("content").asText(), added.path("id").asInt());
        }
    }

    private void put(String token, int id) {
        ids.put(token, id);
        size = Math.max(size, id + 1);
    }

    /** One more than the largest id. */
    int size() {
        return size;
    }

    OptionalInt id(String token) {
        Integer id = ids.get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }
}
