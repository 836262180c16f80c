package io.triforce.engine.model;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Path;

/**
 * Typed access to the fields of one JSON object of a config.json, with errors that name the
 * file and the field. A field set to JSON null counts as absent.
 *
 * @param file   the config.json, for messages
 * @param prefix dotted path of this object inside the file ("" at top level, else e.g. "rope_scaling.")
 * @param node   the object
 */
record ConfigFields(Path file, String prefix, JsonNode node) {

    boolean has(String key) {
        JsonNode v = node.get(key);
        return v != null && !v.isNull();
    }

    JsonNode get(String key) {
        return has(key) ? node.get(key) : null;
    }

    /** The nested object {@code key}, or null when absent. */
    ConfigFields object(String key) {
        if (!has(key)) {
            return null;
        }
        if (!node.get(key).isObject()) {
            throw error(key, "must be an object, got " + node.get(key));
        }
        return new ConfigFields(file, prefix + key + ".", node.get(key));
    }

    int requiredInt(String key) {
        if (!has(key)) {
            throw new CheckpointException(file + ": missing required field \"" + prefix + key + "\"");
        }
        return toInt(key, node.get(key));
    }

    int optionalInt(String key, int absent) {
        return has(key) ? toInt(key, node.get(key)) : absent;
    }

    double requiredDouble(String key) {
        if (!has(key)) {
            throw new CheckpointException(file + ": missing required field \"" + prefix + key + "\"");
        }
        return optionalDouble(key, 0);
    }

    double optionalDouble(String key, double absent) {
        if (!has(key)) {
            return absent;
        }
        JsonNode v = node.get(key);
        if (!v.isNumber()) {
            throw error(key, "must be a number, got " + v);
        }
        return v.asDouble();
    }

    boolean optionalBoolean(String key, boolean absent) {
        if (!has(key)) {
            return absent;
        }
        JsonNode v = node.get(key);
        if (!v.isBoolean()) {
            throw error(key, "must be true or false, got " + v);
        }
        return v.asBoolean();
    }

    String optionalString(String key, String absent) {
        if (!has(key)) {
            return absent;
        }
        JsonNode v = node.get(key);
        if (!v.isTextual()) {
            throw error(key, "must be a string, got " + v);
        }
        return v.asText();
    }

    int toInt(String key, JsonNode v) {
        if (!v.isNumber() || !v.canConvertToExactIntegral() || !v.canConvertToInt()) {
            throw error(key, "must be an integer, got " + v);
        }
        return v.asInt();
    }

    CheckpointException error(String key, String problem) {
        return new CheckpointException(file + ": \"" + prefix + key + "\" " + problem);
    }
}
