package io.triforce.engine.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.triforce.engine.spec.LevelStats;
import io.triforce.engine.spec.SpeculationStats;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** JSON in and out for the CLI. */
final class Json {

    static final ObjectMapper MAPPER = new ObjectMapper();

    private Json() {
    }

    /** Reads a JSON array of token ids, with a message that names the file on any problem. */
    static int[] readTokenIds(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("prompt ids file not found: " + file);
        }
        JsonNode node;
        try {
            node = MAPPER.readTree(file.toFile());
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("prompt ids file " + file + " is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read prompt ids file " + file + ": " + e.getMessage());
        }
        if (node == null || !node.isArray() || node.isEmpty()) {
            throw new IllegalArgumentException("prompt ids file " + file + " must hold a non-empty JSON array of token ids");
        }
        int[] ids = new int[node.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode id = node.get(i);
            if (!id.canConvertToInt() || !id.isIntegralNumber()) {
                throw new IllegalArgumentException("prompt ids file " + file + ": element " + i + " is not an integer: " + id);
            }
            ids[i] = id.asInt();
        }
        return ids;
    }

    static ObjectNode stats(SpeculationStats stats) {
        ObjectNode node = MAPPER.createObjectNode();
        node.set("level1", level(stats.level1()));
        node.set("level2", level(stats.level2()));
        node.put("target_forward_passes", stats.targetForwardPasses());
        node.put("retrieval_rebuilds", stats.rebuilds());
        return node;
    }

    private static ObjectNode level(LevelStats level) {
        ObjectNode node = MAPPER.createObjectNode();
        node.put("proposed", level.proposed());
        node.put("accepted", level.accepted());
        node.put("recovered", level.recovered());
        node.put("bonus", level.bonus());
        node.put("acceptance", level.acceptance());
        return node;
    }
}
