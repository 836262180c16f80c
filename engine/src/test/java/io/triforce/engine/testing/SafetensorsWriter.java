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
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        header.putObject("__metadata__").put("format", "pt");
        long offset = 0;
        for (Entry e : entries) {
            ObjectNode t = header.putObject(e.name);
            t.put("dtype", e.dtype.name());
            ArrayNode shape = t.putArray("shape");
            for (long d : e.shape) {
                shape.add(d);
            }
            t.putArray("data_offsets").add(offset).add(offset + e.bytes.length);
            offset += e.bytes.length;
        }
        byte[] text = header.toString().getBytes(StandardCharsets.UTF_8);
        String padded = header + " ".repeat((8 - text.length % 8) % 8);
        try (OutputStream out = Files.newOutputStream(file)) {
            byte[] headerBytes = padded.getBytes(StandardCharsets.UTF_8);
            out.write(littleEndianLong(headerBytes.length));
            out.write(headerBytes);
            for (Entry e : entries) {
                out.write(e.bytes);
            }
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
