package io.triforce.engine.safetensors;

import io.triforce.engine.tensor.DType;
import io.triforce.engine.tensor.Tensor;
import io.triforce.engine.testing.SafetensorsWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static io.triforce.engine.testing.ErrorMessages.assertMentions;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsStoreTest {

    private static final String SHARD1 = "model-00001-of-00002.safetensors";
    private static final String SHARD2 = "model-00002-of-00002.safetensors";

    @TempDir
    Path dir;

    private static SafetensorsWriter one(String name, float value) {
        return new SafetensorsWriter().add(name, DType.F32, new long[] {1}, new float[] {value});
    }

    private void writeIndex(String weightMapJson) throws IOException {
        Files.writeString(dir.resolve(SafetensorsStore.INDEX_FILE),
                "{\"metadata\": {\"total_size\": 8}, \"weight_map\": " + weightMapJson.replace('\'', '"') + "}");
    }

    private void writeTwoShards() throws IOException {
        one("a", 1).write(dir.resolve(SHARD1));
        one("b", 2).write(dir.resolve(SHARD2));
        writeIndex("{'a': '" + SHARD1 + "', 'b': '" + SHARD2 + "'}");
    }

    @Test
    void singleFile() {
        new SafetensorsWriter()
                .add("a", DType.F16, new long[] {2}, new float[] {1, 2})
                .add("b", DType.BF16, new long[] {1}, new float[] {3})
                .write(dir.resolve(SafetensorsStore.SINGLE_FILE));
        try (SafetensorsStore store = SafetensorsStore.open(dir)) {
            assertEquals(Set.of("a", "b"), store.names());
            assertEquals(List.of(dir.resolve(SafetensorsStore.SINGLE_FILE)), store.files());
            assertArrayEquals(new float[] {1, 2}, store.find("a").orElseThrow().toFloatArray());
            assertEquals(DType.BF16, store.find("b").orElseThrow().dtype());
            assertTrue(store.find("c").isEmpty());
        }
    }

    @Test
    void shardsListedByTheIndex() throws IOException {
        writeTwoShards();
        try (SafetensorsStore store = SafetensorsStore.open(dir)) {
            assertEquals(List.of(dir.resolve(SHARD1), dir.resolve(SHARD2)), store.files());
            assertEquals(1f, store.find("a").orElseThrow().get(0));
            assertEquals(2f, store.find("b").orElseThrow().get(0));
        }
    }

    @Test
    void closeUnmapsEveryShard() throws IOException {
        writeTwoShards();
        Tensor b;
        try (SafetensorsStore store = SafetensorsStore.open(dir)) {
            b = store.find("b").orElseThrow();
        }
        assertThrows(IllegalStateException.class, () -> b.get(0));
    }

    @Test
    void noWeightsAtAll() {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsStore.open(dir));
        assertMentions(e, dir.toString(), "model.safetensors", "model.safetensors.index.json");
    }

    @Test
    void missingShardFile() throws IOException {
        one("a", 1).write(dir.resolve(SHARD1));
        writeIndex("{'a': '" + SHARD1 + "', 'b': '" + SHARD2 + "'}");
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsStore.open(dir));
        assertMentions(e, dir.resolve(SHARD2).toString(), "no such file");
    }

    @Test
    void weightMapNamingTheWrongShard() throws IOException {
        writeTwoShards();
        writeIndex("{'a': '" + SHARD1 + "', 'b': '" + SHARD1 + "', 'c': '" + SHARD2 + "'}");
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsStore.open(dir));
        assertMentions(e, SafetensorsStore.INDEX_FILE, "tensor 'b'", SHARD1, "has no such tensor");
    }

    @Test
    void tensorInTwoShards() throws IOException {
        one("a", 1).write(dir.resolve(SHARD1));
        new SafetensorsWriter().add("a", DType.F32, new long[] {1}, new float[] {1})
                .add("b", DType.F32, new long[] {1}, new float[] {2}).write(dir.resolve(SHARD2));
        writeIndex("{'a': '" + SHARD1 + "', 'b': '" + SHARD2 + "'}");
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsStore.open(dir));
        assertMentions(e, "tensor 'a' is in two shards", SHARD1, SHARD2);
    }

    @Test
    void shardOutsideTheDirectory() throws IOException {
        writeIndex("{'a': '../elsewhere.safetensors'}");
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsStore.open(dir));
        assertMentions(e, SafetensorsStore.INDEX_FILE, "tensor 'a'", "file name in the same directory");
    }

    @Test
    void indexWithoutWeightMap() throws IOException {
        Files.writeString(dir.resolve(SafetensorsStore.INDEX_FILE), "{\"metadata\": {}}");
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsStore.open(dir));
        assertMentions(e, SafetensorsStore.INDEX_FILE, "no \"weight_map\"");
    }
}
