package io.triforce.engine.safetensors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.triforce.engine.tensor.DType;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * The JSON header of a {@code .safetensors} file, validated against the size of the data section
 * that follows it. {@code __metadata__} is ignored.
 *
 * @param entries one per tensor, in header order
 */
record SafetensorsHeader(List<Entry> entries) {

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    /**
     * Where one tensor lies.
     *
     * @param shape row-major dimensions ([] for a scalar)
     * @param begin first byte, relative to the start of the data section
     * @param end   one past the last byte, relative to the start of the data section
     */
    record Entry(String name, DType dtype, long[] shape, long begin, long end) {
    }

    /**
     * Parses and validates {@code json}: every entry must have a supported dtype, a shape of
     * non-negative dimensions and {@code data_offsets} that lie within {@code dataSize} bytes,
     * span exactly {@code elements * dtype.bytes} bytes and overlap no other tensor.
     *
     * @param file     only for messages
     * @param dataSize bytes after the header
     */
    static SafetensorsHeader parse(Path file, byte[] json, long dataSize) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new SafetensorsException(file + ": header is not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new SafetensorsException(file + ": cannot parse header: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new SafetensorsException(file + ": header is not a JSON object");
        }
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            if (!field.getKey().equals("__metadata__")) {
                entries.add(entry(file, field.getKey(), field.getValue(), dataSize));
            }
        }
        checkNoOverlap(file, entries);
        return new SafetensorsHeader(List.copyOf(entries));
    }

    private static Entry entry(Path file, String name, JsonNode node, long dataSize) {
        String where = file + ": tensor '" + name + "'";
        if (!node.isObject()) {
            throw new SafetensorsException(where + ": header entry is not a JSON object");
        }
        JsonNode dtypeNode = node.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw new SafetensorsException(where + ": missing or non-string \"dtype\"");
        }
        DType dtype;
        try {
            dtype = DType.fromSafetensors(dtypeNode.asText());
        } catch (IllegalArgumentException e) {
            throw new SafetensorsException(where + ": " + e.getMessage(), e);
        }
        long[] shape = longs(where, node.get("shape"), "shape", -1);
        long[] offsets = longs(where, node.get("data_offsets"), "data_offsets", 2);
        long begin = offsets[0];
        long end = offsets[1];
        if (begin > end) {
            throw new SafetensorsException(where + ": data_offsets " + Arrays.toString(offsets)
                    + " end before they begin");
        }
        if (end > dataSize) {
            throw new SafetensorsException(where + ": data_offsets " + Arrays.toString(offsets)
                    + " run past the end of the data section (" + dataSize + " bytes): the file is truncated");
        }
        long expected = byteSize(where, dtype, shape);
        if (end - begin != expected) {
            throw new SafetensorsException(where + ": data_offsets " + Arrays.toString(offsets) + " span "
                    + (end - begin) + " bytes, but shape " + Arrays.toString(shape) + " of " + dtype
                    + " needs " + expected);
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    /** Non-negative integers of a JSON array; {@code length} -1 accepts any length. */
    private static long[] longs(String where, JsonNode node, String key, int length) {
        if (node == null || !node.isArray() || (length >= 0 && node.size() != length)) {
            throw new SafetensorsException(where + ": \"" + key + "\" must be an array of "
                    + (length >= 0 ? length + " " : "") + "non-negative integers, got " + node);
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.canConvertToExactIntegral() || !v.canConvertToLong() || v.asLong() < 0) {
                throw new SafetensorsException(where + ": \"" + key
                        + "\" must be an array of non-negative integers, got " + node);
            }
            out[i] = v.asLong();
        }
        return out;
    }

    private static long byteSize(String where, DType dtype, long[] shape) {
        try {
            long n = dtype.bytes;
            for (long d : shape) {
                n = Math.multiplyExact(n, d);
            }
            return n;
        } catch (ArithmeticException e) {
            throw new SafetensorsException(where + ": shape " + Arrays.toString(shape) + " is too large", e);
        }
    }

    private static void checkNoOverlap(Path file, List<Entry> entries) {
        List<Entry> byOffset = entries.stream()
                .filter(e -> e.end > e.begin)
                .sorted(Comparator.comparingLong(Entry::begin))
                .toList();
        for (int i = 1; i < byOffset.size(); i++) {
            Entry prev = byOffset.get(i - 1);
            Entry cur = byOffset.get(i);
            if (cur.begin < prev.end) {
                throw new SafetensorsException(file + ": tensor '" + cur.name + "' bytes [" + cur.begin + ", " + cur.end
                        + ") overlap tensor '" + prev.name + "' bytes [" + prev.begin + ", " + prev.end + ")");
            }
        }
    }
}
