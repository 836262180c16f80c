package io.triforce.engine.safetensors;

import io.triforce.engine.tensor.DType;
import io.triforce.engine.tensor.Tensor;
import io.triforce.engine.testing.SafetensorsWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;

import static io.triforce.engine.testing.ErrorMessages.assertMentions;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsFileTest {

    @TempDir
    Path dir;

    private Path file() {
        return dir.resolve("model.safetensors");
    }

    /** Safetensors header JSON written with single quotes for readability. */
    private static String json(String singleQuoted) {
        return singleQuoted.replace('\'', '"');
    }

    private SafetensorsException mapFails(Path file) {
        try (Arena arena = Arena.ofConfined()) {
            return assertThrows(SafetensorsException.class, () -> SafetensorsFile.map(file, arena));
        }
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void readsBackWhatWasWritten(DType dtype) {
        float[] matrix = {1.5f, -2.25f, 3.1f, 1e-3f, -7f, 0.333f};
        float[] vector = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
        new SafetensorsWriter()
                .add("m", dtype, new long[] {2, 3}, matrix)
                .add("scalar", dtype, new long[] {}, new float[] {42f})
                .add("empty", dtype, new long[] {0, 4}, new float[0])
                .add("v", dtype, new long[] {5}, vector)
                .write(file());
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> tensors = SafetensorsFile.map(file(), arena).tensors();
            assertEquals(List.of("m", "scalar", "empty", "v"), List.copyOf(tensors.keySet()), "__metadata__ ignored");
            Tensor m = tensors.get("m");
            assertEquals(dtype, m.dtype());
            assertArrayEquals(new long[] {2, 3}, m.shape());
            assertArrayEquals(rounded(dtype, matrix), m.toFloatArray());
            assertArrayEquals(rounded(dtype, vector), tensors.get("v").toFloatArray());
            assertEquals(42f, tensors.get("scalar").get(0));
            assertEquals(0, tensors.get("empty").size());
        }
    }

    private static float[] rounded(DType dtype, float[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = SafetensorsWriter.roundTo(dtype, values[i]);
        }
        return out;
    }

    @Test
    void tensorsAreSlicesOfTheMappingAndDieWithTheArena() {
        new SafetensorsWriter().add("w", DType.F32, new long[] {2}, new float[] {1, 2}).write(file());
        Tensor w;
        try (Arena arena = Arena.ofShared()) {
            w = SafetensorsFile.map(file(), arena).tensors().get("w");
            assertTrue(w.data().isMapped(), "memory-mapped, not copied");
            assertEquals(2f, w.get(1));
        }
        assertThrows(IllegalStateException.class, () -> w.get(0));
    }

    @Test
    void tooShortForTheHeaderLength() throws IOException {
        Files.write(file(), new byte[] {1, 2, 3});
        assertMentions(mapFails(file()), file().toString(), "truncated", "3 bytes");
    }

    @Test
    void headerLengthPastTheEndOfTheFile() {
        SafetensorsWriter.writeRaw(file(), 10_000,
                json("{'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}"), new byte[4]);
        assertMentions(mapFails(file()), file().toString(), "header length 10000 runs past the end of the file");
    }

    @Test
    void negativeHeaderLength() {
        SafetensorsWriter.writeRaw(file(), -1, "{}", new byte[0]);
        assertMentions(mapFails(file()), file().toString(), "header length 18446744073709551615 runs past the end");
    }

    @Test
    void truncatedDataNamesTheCutTensor() throws IOException {
        new SafetensorsWriter()
                .add("first", DType.BF16, new long[] {4}, new float[4])
                .add("last", DType.BF16, new long[] {4}, new float[4])
                .write(file());
        try (FileChannel ch = FileChannel.open(file(), StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - 3);
        }
        assertMentions(mapFails(file()), file().toString(), "tensor 'last'", "truncated");
    }

    @Test
    void offsetsPastTheDataSection() {
        SafetensorsWriter.writeRaw(file(), json("{'w': {'dtype': 'F32', 'shape': [4], 'data_offsets': [0, 16]}}"),
                new byte[8]);
        assertMentions(mapFails(file()), file().toString(), "tensor 'w'", "[0, 16]",
                "run past the end of the data section (8 bytes)");
    }

    @Test
    void offsetsThatDoNotMatchDtypeTimesShape() {
        SafetensorsWriter.writeRaw(file(), json("{'w': {'dtype': 'F32', 'shape': [3], 'data_offsets': [0, 8]}}"),
                new byte[12]);
        assertMentions(mapFails(file()), file().toString(), "tensor 'w'", "span 8 bytes", "shape [3] of F32 needs 12");
    }

    @Test
    void offsetsThatEndBeforeTheyBegin() {
        SafetensorsWriter.writeRaw(file(), json("{'w': {'dtype': 'F32', 'shape': [2], 'data_offsets': [8, 0]}}"),
                new byte[8]);
        assertMentions(mapFails(file()), file().toString(), "tensor 'w'", "end before they begin");
    }

    @Test
    void overlappingTensors() {
        SafetensorsWriter.writeRaw(file(), json("{'a': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]},"
                + " 'b': {'dtype': 'F32', 'shape': [2], 'data_offsets': [4, 12]}}"), new byte[12]);
        assertMentions(mapFails(file()), file().toString(), "tensor 'b'", "overlap tensor 'a'");
    }

    @Test
    void unsupportedDtypeNamesTheTensor() {
        SafetensorsWriter.writeRaw(file(), json("{'q': {'dtype': 'I8', 'shape': [4], 'data_offsets': [0, 4]}}"),
                new byte[4]);
        assertMentions(mapFails(file()), file().toString(), "tensor 'q'", "unsupported tensor dtype 'I8'");
    }

    @Test
    void negativeShape() {
        SafetensorsWriter.writeRaw(file(), json("{'w': {'dtype': 'F32', 'shape': [-1], 'data_offsets': [0, 4]}}"),
                new byte[4]);
        assertMentions(mapFails(file()), file().toString(), "tensor 'w'",
                "\"shape\" must be an array of non-negative integers");
    }

    @Test
    void duplicateTensorNames() {
        SafetensorsWriter.writeRaw(file(), json("{'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]},"
                + " 'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [4, 8]}}"), new byte[8]);
        assertMentions(mapFails(file()), file().toString(), "not valid JSON", "Duplicate field 'w'");
    }

    @Test
    void headerThatIsNotJson() {
        SafetensorsWriter.writeRaw(file(), "{not json", new byte[0]);
        assertMentions(mapFails(file()), file().toString(), "header is not valid JSON");
    }

    @Test
    void missingFile() {
        assertMentions(mapFails(dir.resolve("absent.safetensors")), "absent.safetensors", "no such file");
    }
}
