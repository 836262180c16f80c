package io.triforce.engine.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code model.safetensors.index.json} of a sharded checkpoint: which shard file holds which
 * tensor ({@code weight_map}). Other fields ({@code metadata}) are ignored.
 *
 * @param file      the index file
 * @param weightMap tensor name to shard file name (a plain file name in the index's directory)
 */
public record SafetensorsIndex(Path file, Map<String, String> weightMap) {

    /** Reads and checks an index: weight_map must map names to file names of the same directory. */
    public static SafetensorsIndex read(Path file) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readAllBytes(file));
        } catch (NoSuchFileException e) {
            throw new SafetensorsException(file + ": no such file", e);
        } catch (IOException e) {
            throw new SafetensorsException(file + ": cannot read shard index: " + e.getMessage(), e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new SafetensorsException(file + ": no \"weight_map\" object");
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            String shard = e.getValue().isTextual() ? e.getValue().asText() : "";
            if (!isPlainFileName(shard)) {
                throw new SafetensorsException(file + ": tensor '" + e.getKey()
                        + "': weight_map value must be a file name in the same directory, got " + e.getValue());
            }
            weightMap.put(e.getKey(), shard);
        }
        return new SafetensorsIndex(file, Collections.unmodifiableMap(weightMap));
    }

    private static boolean isPlainFileName(String name) {
        return !name.isEmpty() && !name.equals(".") && !name.equals("..")
                && !name.contains("/") && !name.contains("\\");
    }
}
