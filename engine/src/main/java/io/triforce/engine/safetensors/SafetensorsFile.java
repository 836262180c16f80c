package io.triforce.engine.safetensors;

import io.triforce.engine.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One memory-mapped {@code .safetensors} file: an 8-byte little-endian header length N, N bytes
 * of JSON header, then the data section. Its tensors are slices of the mapping, never copies;
 * they stay valid until the arena the file was mapped into is closed.
 */
public final class SafetensorsFile {

    /** Largest header accepted (the limit of the reference implementation). */
    public static final long MAX_HEADER_BYTES = 100L << 20;

    private static final ValueLayout.OfLong LENGTH = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path path;
    private final Map<String, Tensor> tensors;

    private SafetensorsFile(Path path, Map<String, Tensor> tensors) {
        this.path = path;
        this.tensors = tensors;
    }

    /**
     * Maps {@code file} read-only into {@code arena}, which owns the mapping from then on, and
     * slices out every tensor its header names.
     *
     * @throws SafetensorsException if the file cannot be read, is truncated or its header is
     *                              malformed or inconsistent (the message names file and tensor)
     */
    public static SafetensorsFile map(Path file, Arena arena) {
        MemorySegment all;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            all = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
        } catch (NoSuchFileException e) {
            throw new SafetensorsException(file + ": no such file", e);
        } catch (IOException e) {
            throw new SafetensorsException(file + ": cannot map: " + e, e);
        }
        long size = all.byteSize();
        if (size < Long.BYTES) {
            throw new SafetensorsException(file + ": truncated: " + size
                    + " bytes, too short for the 8-byte header length");
        }
        long headerLength = all.get(LENGTH, 0);
        if (headerLength < 0 || headerLength > size - Long.BYTES) {
            throw new SafetensorsException(file + ": header length " + Long.toUnsignedString(headerLength)
                    + " runs past the end of the file (" + size + " bytes): the file is truncated or not safetensors");
        }
        if (headerLength > MAX_HEADER_BYTES) {
            throw new SafetensorsException(file + ": header length " + headerLength + " is beyond the "
                    + MAX_HEADER_BYTES + "-byte limit");
        }
        long dataStart = Long.BYTES + headerLength;
        byte[] json = all.asSlice(Long.BYTES, headerLength).toArray(ValueLayout.JAVA_BYTE);
        SafetensorsHeader header = SafetensorsHeader.parse(file, json, size - dataStart);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (SafetensorsHeader.Entry e : header.entries()) {
            MemorySegment data = all.asSlice(dataStart + e.begin(), e.end() - e.begin());
            tensors.put(e.name(), new Tensor(e.name(), e.dtype(), e.shape(), data));
        }
        return new SafetensorsFile(file, Collections.unmodifiableMap(tensors));
    }

    public Path path() {
        return path;
    }

    /** Every tensor of the file by name, in header order. */
    public Map<String, Tensor> tensors() {
        return tensors;
    }
}
