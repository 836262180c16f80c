package io.triforce.gateway;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.tokenizer.Tokenizer;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads and validates an OpenAI completion or chat request (strict UTF-8 JSON, known fields only),
 * before anything is sent to Kafka; every problem is a 400 (404 for an unknown model) naming the
 * parameter. Chat messages are rendered with the fallback template
 * {@code "<role>: <content>\n"} per message followed by {@code "assistant: "} (the checkpoints
 * served here carry no chat template).
 */
final class RequestParser {

    static final int DEFAULT_MAX_TOKENS = 16;
    private static final Set<String> COMMON_FIELDS = Set.of("model", "max_tokens", "temperature", "top_p", "seed", "stop",
            "stream", "n", "user");
    private static final Set<String> COMPLETION_FIELDS = union(COMMON_FIELDS, "prompt");
    private static final Set<String> CHAT_FIELDS = union(COMMON_FIELDS, "messages", "max_completion_tokens");
    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant");

    private final ObjectMapper json;
    private final ServedModel model;

    RequestParser(ObjectMapper json, ServedModel model) {
        this.json = json;
        this.model = model;
    }

    GenerationRequest parse(byte[] body, boolean chat) {
        JsonNode root;
        try {
            root = json.readTree(UTF_8.newDecoder().decode(ByteBuffer.wrap(body)).toString());
        } catch (CharacterCodingException e) {
            throw ApiException.invalid(null, "the request body is not valid UTF-8");
        } catch (Exception e) {
            String why = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
            throw ApiException.invalid(null, "the request body is not valid JSON: " + clip(String.valueOf(why)));
        }
        if (root == null || !root.isObject()) {
            throw ApiException.invalid(null, "the request body must be a JSON object");
        }
        Set<String> known = chat ? CHAT_FIELDS : COMPLETION_FIELDS;
        root.fieldNames().forEachRemaining(f -> {
            if (!known.contains(f)) {
                throw ApiException.invalid(clip(f), "Unrecognized request argument supplied: " + clip(f));
            }
        });
        String modelName = text(root, "model", true);
        if (!model.id().equals(modelName)) {
            throw new ApiException(404, "invalid_request_error", "model", "model_not_found",
                    "The model '" + clip(modelName) + "' does not exist; this gateway serves '" + model.id() + "'");
        }
        if (integer(root, "n", 1) != 1) {
            throw ApiException.invalid("n", "only n = 1 is supported");
        }
        text(root, "user", false);
        int[] prompt = chat ? model.tokenizer().encode(chatPrompt(root)) : prompt(root, model.tokenizer());
        if (prompt.length == 0) {
            throw ApiException.invalid(chat ? "messages" : "prompt", "the prompt is empty");
        }
        String maxField = chat && root.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        int maxTokens = integer(root, maxField, DEFAULT_MAX_TOKENS);
        if (maxTokens <= 0) {
            throw ApiException.invalid(maxField, maxField + " must be >= 1, got " + maxTokens);
        }
        int context = model.contextLength();
        if (prompt.length >= context || (long) prompt.length + maxTokens > context) {
            throw new ApiException(400, "invalid_request_error", prompt.length >= context ? (chat ? "messages" : "prompt")
                    : maxField, "context_length_exceeded", "This model's maximum context length is " + context
                    + " tokens, however you requested " + ((long) prompt.length + maxTokens) + " tokens ("
                    + prompt.length + " in the prompt, " + maxTokens + " for the completion)");
        }
        double temperature = number(root, "temperature", 1.0);
        if (!(temperature >= 0 && temperature <= 2)) {
            throw ApiException.invalid("temperature", "temperature must be in [0, 2], got " + temperature);
        }
        double topP = number(root, "top_p", 1.0);
        if (!(topP > 0 && topP <= 1)) {
            throw ApiException.invalid("top_p", "top_p must be in (0, 1], got " + topP);
        }
        long seed = root.has("seed") && !root.get("seed").isNull() ? longValue(root, "seed") : System.nanoTime();
        return new GenerationRequest(chat, modelName, prompt, maxTokens, new SamplingParams(temperature, 0, topP, seed),
                stop(root), bool(root, "stream"));
    }

    private static int[] prompt(JsonNode root, Tokenizer tokenizer) {
        JsonNode p = root.get("prompt");
        if (p == null || p.isNull()) {
            throw ApiException.invalid("prompt", "prompt is required");
        }
        if (p.isTextual()) {
            return tokenizer.encode(p.asText());
        }
        if (p.isArray() && p.size() > 0 && p.get(0).isTextual() && p.size() == 1) {
            return tokenizer.encode(p.get(0).asText());
        }
        if (p.isArray()) {
            int[] ids = new int[p.size()];
            for (int i = 0; i < ids.length; i++) {
                if (!p.get(i).canConvertToInt() || !p.get(i).isIntegralNumber() || p.get(i).asInt() < 0
                        || p.get(i).asInt() >= tokenizer.vocabSize()) {
                    throw ApiException.invalid("prompt", "prompt must be a string, or an array of token ids in [0, "
                            + tokenizer.vocabSize() + ")");
                }
                ids[i] = p.get(i).asInt();
            }
            return ids;
        }
        throw ApiException.invalid("prompt", "prompt must be a string or an array of token ids");
    }

    private static String chatPrompt(JsonNode root) {
        JsonNode messages = root.get("messages");
        if (messages == null || !messages.isArray() || messages.isEmpty()) {
            throw ApiException.invalid("messages", "messages must be a non-empty array");
        }
        StringBuilder text = new StringBuilder();
        for (JsonNode m : messages) {
            if (!m.isObject() || !m.path("role").isTextual() || !m.path("content").isTextual()) {
                throw ApiException.invalid("messages", "each message needs a string 'role' and a string 'content'");
            }
            if (!ROLES.contains(m.get("role").asText())) {
                throw ApiException.invalid("messages", "a message's role must be one of " + ROLES + ", got '"
                        + clip(m.get("role").asText()) + "'");
            }
            text.append(m.get("role").asText()).append(": ").append(m.get("content").asText()).append('\n');
        }
        return text.append("assistant: ").toString();
    }

    private static List<String> stop(JsonNode root) {
        JsonNode s = root.get("stop");
        List<String> stops = new ArrayList<>();
        if (s == null || s.isNull()) {
            return stops;
        }
        if (s.isTextual()) {
            stops.add(s.asText());
        } else if (s.isArray() && s.size() <= 4) {
            for (JsonNode x : s) {
                if (!x.isTextual()) {
                    throw ApiException.invalid("stop", "stop must be a string or an array of up to 4 strings");
                }
                stops.add(x.asText());
            }
        } else {
            throw ApiException.invalid("stop", "stop must be a string or an array of up to 4 strings");
        }
        if (stops.stream().anyMatch(String::isEmpty)) {
            throw ApiException.invalid("stop", "stop strings must not be empty");
        }
        return stops;
    }

    private static String text(JsonNode root, String field, boolean required) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            if (required) {
                throw ApiException.invalid(field, field + " is required");
            }
            return null;
        }
        if (!n.isTextual()) {
            throw ApiException.invalid(field, field + " must be a string");
        }
        return n.asText();
    }

    private static int integer(JsonNode root, String field, int otherwise) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return otherwise;
        }
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw ApiException.invalid(field, field + " must be an integer");
        }
        return n.asInt();
    }

    private static long longValue(JsonNode root, String field) {
        JsonNode n = root.get(field);
        if (!n.isIntegralNumber() || !n.canConvertToLong()) {
            throw ApiException.invalid(field, field + " must be an integer");
        }
        return n.asLong();
    }

    private static double number(JsonNode root, String field, double otherwise) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return otherwise;
        }
        if (!n.isNumber()) {
            throw ApiException.invalid(field, field + " must be a number");
        }
        return n.asDouble();
    }

    private static boolean bool(JsonNode root, String field) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return false;
        }
        if (!n.isBoolean()) {
            throw ApiException.invalid(field, field + " must be a boolean");
        }
        return n.asBoolean();
    }

    /** Client text echoed in an error, cut to a readable length. */
    private static String clip(String s) {
        return s.length() <= 100 ? s : s.substring(0, 100) + "...";
    }

    private static Set<String> union(Set<String> a, String... more) {
        Set<String> all = new HashSet<>(a);
        all.addAll(List.of(more));
        return Set.copyOf(all);
    }
}
