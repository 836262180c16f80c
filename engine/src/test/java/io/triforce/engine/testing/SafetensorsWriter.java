package io.triforce.engine.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.triforce.engine.tensor.DType;
import io.triforce.engine.tensor.Tensor;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Writes {@code .safetensors} files for tests: add tensors as fp32 values, each stored in its
 * dtype (BF16 rounded to nearest even, F16 by {@link Float#floatToFloat16}), then {@link #write}.
 * The header carries {@code __metadata__: {"format": "pt"}} and is padded with spaces to a
 * multiple of 8 bytes, as the reference writer does. {@link #writeRaw} writes arbitrary
 * (malformed) files for error tests.
 */
public final class SafetensorsWriter {

    private record Entry(String name, DType dtype, long[] shape, byte[] bytes) {
    }

    private final List<Entry> entries = new ArrayList<>();

    /** Adds a tensor; {@code values.length} must equal the product of {@code shape}. */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, float[] values) {
        if (values.length != Tensor.elementCount(shape)) {
            throw new IllegalArgumentException(name + ": " + values.length + " values for shape "
                    + Arrays.toString(shape));
        }
        entries.add(new Entry(name, dtype, shape.clone(), encode(dtype, values)));
        return this;
    }

    /** Size of the data section written so far. */
    public long dataBytes() {
        return entries.stream().mapToLong(e -> e.bytes.length).sum();
    }

    public void write(Path file) {
        try (OutputStream out = Files.newOutputStream(file)) {
            out.write(header(entries.stream().map(e -> new Layout(e.name, e.dtype, e.shape)).toList()));
            for (Entry e : entries) {
                out.write(e.bytes);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Where a tensor goes in a file: its name, dtype and shape, its data after the previous one's. */
    public record Layout(String name, DType dtype, long[] shape) {
        public long bytes() {
            return Tensor.elementCount(shape) * dtype.bytes;
        }
    }

    /**
     * What precedes the data of a file holding {@code tensors} in order: the 8-byte little-endian length
     * of the header, then the header ({@code __metadata__: {"format": "pt"}}, each tensor's dtype, shape
     * and data offsets), padded with spaces to a multiple of 8 bytes.
     */
    public static byte[] header(List<Layout> tensors) {
        ObjectNode header = new ObjectMapper().createObjectNode();
        header.putObject("__metadata__").put("format", "pt");
        long offset = 0;
        for (Layout t : tensors) {
            ObjectNode node = header.putObject(t.name());
            node.put("dtype", t.dtype().name());
            ArrayNode shape = node.putArray("shape");
            for (long d : t.shape()) {
                shape.add(d);
            }
            node.putArray("data_offsets").add(offset).add(offset + t.bytes());
            offset += t.bytes();
        }
        byte[] text = header.toString().getBytes(StandardCharsets.UTF_8);
        byte[] padded = (header + " ".repeat((8 - text.length % 8) % 8)).getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + padded.length).order(ByteOrder.LITTLE_ENDIAN).putLong(padded.length)
                .put(padded).array();
    }

    /** Hugging Face's name for shard {@code index} (from 0) of {@code count}. */
    public static String shardName(int index, int count) {
        return String.format("model-%05d-of-%05d.safetensors", index + 1, count);
    }

    /** Writes {@code model.safetensors.index.json} into {@code dir}: the shards' total size and each tensor's file. */
    public static void writeIndex(Path dir, long totalBytes, Map<String, String> weightMap) {
        ObjectNode index = new ObjectMapper().createObjectNode();
        index.putObject("metadata").put("total_size", totalBytes);
        ObjectNode files = index.putObject("weight_map");
        weightMap.forEach(files::put);
        try {
            Files.writeString(dir.resolve("model.safetensors.index.json"), index.toPrettyString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes an 8-byte little-endian {@code headerLength}, then {@code header}, then {@code data}. */
    public static void writeRaw(Path file, long headerLength, String header, byte[] data) {
        try (OutputStream out = Files.newOutputStream(file)) {
            out.write(littleEndianLong(headerLength));
            out.write(header.getBytes(StandardCharsets.UTF_8));
            out.write(data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes a well-formed file whose header is exactly {@code header} (no metadata, no padding). */
    public static void writeRaw(Path file, String header, byte[] data) {
        writeRaw(file, header.getBytes(StandardCharsets.UTF_8).length, header, data);
    }

    /** {@code v} as it reads back after being stored in {@code dtype}. */
    public static float roundTo(DType dtype, float v) {
        return switch (dtype) {
            case F32 -> v;
            case F16 -> Float.float16ToFloat(Float.floatToFloat16(v));
            case BF16 -> Float.intBitsToFloat((toBf16(v) & 0xffff) << 16);
        };
    }

    /** Little-endian bytes of {@code values} in {@code dtype}. */
    public static byte[] encode(DType dtype, float[] values) {
        ByteBuffer buf = ByteBuffer.allocate(values.length * dtype.bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            switch (dtype) {
                case F32 -> buf.putFloat(v);
                case F16 -> buf.putShort(Float.floatToFloat16(v));
                case BF16 -> buf.putShort(toBf16(v));
            }
        }
        return buf.array();
    }

    private static short toBf16(float v) {
        if (Float.isNaN(v)) {
            return (short) 0x7fc0;
        }
        int bits = Float.floatToRawIntBits(v);
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    private static byte[] littleEndianLong(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }
}
