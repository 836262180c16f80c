package io.triforce.engine.model;

import io.triforce.engine.safetensors.SafetensorsException;
import io.triforce.engine.tensor.DType;
import io.triforce.engine.tensor.Tensor;
import io.triforce.engine.testing.RandomCheckpoint;
import io.triforce.engine.testing.RandomCheckpoint.ConfigStyle;
import io.triforce.engine.testing.SafetensorsWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static io.triforce.engine.testing.ErrorMessages.assertMentions;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class CheckpointLoaderTest {

    private static final String K_PROJ = "model.layers.1.self_attn.k_proj.weight";

    @TempDir
    Path dir;

    static Stream<Arguments> layouts() {
        List<Arguments> all = new ArrayList<>();
        for (int shards : new int[] {1, 3}) {
            for (DType dtype : DType.values()) {
                for (boolean tied : new boolean[] {false, true}) {
                    for (int kvHeads : new int[] {4, 2}) {
                        ConfigStyle style = ConfigStyle.values()[all.size() % 2];
                        all.add(Arguments.of(shards, dtype, tied, kvHeads, style));
                    }
                }
            }
        }
        return all.stream();
    }

    @ParameterizedTest(name = "shards={0} {1} tied={2} kvHeads={3} {4}")
    @MethodSource("layouts")
    void readsBackWhatWasWritten(int shards, DType dtype, boolean tied, int kvHeads, ConfigStyle style)
            throws Exception {
        RandomCheckpoint written = RandomCheckpoint.builder().dim(32).layers(2).heads(4).kvHeads(kvHeads).vocab(40)
                .hiddenDim(48).dtype(dtype).tied(tied).sharded(shards).configStyle(style).seed(shards * 7L + kvHeads)
                .writeTo(dir);
        try (LlamaCheckpoint ckpt = CheckpointLoader.load(dir)) {
            ModelConfig c = ckpt.config();
            assertEquals(kvHeads, c.nKvHeads());
            assertEquals(tied, c.tiedEmbeddings());
            assertEquals(dir, ckpt.directory());
            assertEquals(dir.resolve("tokenizer.json"), ckpt.tokenizerJson());
            List<Tensor> all = tensors(ckpt.weights());
            assertEquals(2 + 9 * 2 + 1, all.size());
            for (Tensor t : all) {
                assertEquals(dtype, t.dtype(), t.name());
                assertArrayEquals(written.values(t.name()), t.toFloatArray(), t.name());
            }
            Tensor lmHead = ckpt.weights().lmHead();
            if (tied) {
                assertSame(ckpt.weights().tokenEmbedding(), lmHead);
            } else {
                assertEquals("lm_head.weight", lmHead.name());
            }
            assertEquals(written.tensorNames().size(), all.stream().map(Tensor::name).distinct().count());
        }
    }

    /** Every tensor of the weights, the embedding once even when tied. */
    private static List<Tensor> tensors(LlamaWeights w) {
        List<Tensor> all = new ArrayList<>(List.of(w.tokenEmbedding(), w.finalNorm(), w.lmHead()));
        for (LayerWeights l : w.layers()) {
            all.addAll(List.of(l.attentionNorm(), l.wq(), l.wk(), l.wv(), l.wo(), l.ffnNorm(), l.wGate(), l.wUp(),
                    l.wDown()));
        }
        return all;
    }

    @Test
    void shapesFollowTheConfig() throws Exception {
        RandomCheckpoint.builder().dim(48).layers(1).heads(6).kvHeads(2).headDim(16).vocab(20).hiddenDim(80)
                .writeTo(dir);
        try (LlamaCheckpoint ckpt = CheckpointLoader.load(dir)) {
            LlamaWeights w = ckpt.weights();
            LayerWeights l = w.layers()[0];
            assertArrayEquals(new long[] {20, 48}, w.tokenEmbedding().shape());
            assertArrayEquals(new long[] {96, 48}, l.wq().shape());
            assertArrayEquals(new long[] {32, 48}, l.wk().shape());
            assertArrayEquals(new long[] {32, 48}, l.wv().shape());
            assertArrayEquals(new long[] {48, 96}, l.wo().shape());
            assertArrayEquals(new long[] {80, 48}, l.wGate().shape());
            assertArrayEquals(new long[] {48, 80}, l.wDown().shape());
            assertArrayEquals(new long[] {48}, w.finalNorm().shape());
            assertSame(ckpt.config(), w.config());
        }
    }

    @Test
    void mixedDtypes() throws Exception {
        RandomCheckpoint written = RandomCheckpoint.builder().dtype(DType.BF16)
                .dtype("model.norm.weight", DType.F32).dtype(K_PROJ, DType.F16).writeTo(dir);
        try (LlamaCheckpoint ckpt = CheckpointLoader.load(dir)) {
            assertEquals(DType.F32, ckpt.weights().finalNorm().dtype());
            Tensor k = ckpt.weights().layers()[1].wk();
            assertEquals(DType.F16, k.dtype());
            assertArrayEquals(written.values(K_PROJ), k.toFloatArray());
            assertEquals(DType.BF16, ckpt.weights().tokenEmbedding().dtype());
        }
    }

    @Test
    void closeUnmapsTheWeights() throws Exception {
        RandomCheckpoint.builder().sharded(2).writeTo(dir);
        LlamaCheckpoint ckpt = CheckpointLoader.load(dir);
        Tensor norm = ckpt.weights().finalNorm();
        ckpt.close();
        assertThrows(IllegalStateException.class, () -> norm.get(0));
    }

    @Test
    void tokenizerIsCopiedWhenGiven() throws Exception {
        Path tokenizer = Files.writeString(dir.resolve("source-tokenizer.json"), "{}");
        Path ckptDir = dir.resolve("checkpoint");
        RandomCheckpoint.builder().tokenizerJson(tokenizer).writeTo(ckptDir);
        try (LlamaCheckpoint ckpt = CheckpointLoader.load(ckptDir)) {
            assertEquals("{}", Files.readString(ckpt.tokenizerJson()));
        }
    }

    @Test
    void missingDirectory() {
        Path absent = dir.resolve("nope");
        assertMentions(assertThrows(CheckpointException.class, () -> CheckpointLoader.load(absent)), absent.toString(),
                "does not exist");
    }

    @Test
    void missingConfig() throws IOException {
        RandomCheckpoint.builder().writeTo(dir);
        Files.delete(dir.resolve("config.json"));
        assertMentions(assertThrows(CheckpointException.class, () -> CheckpointLoader.load(dir)),
                dir.resolve("config.json").toString(), "no config.json");
    }

    @Test
    void missingWeights() throws IOException {
        RandomCheckpoint.builder().writeTo(dir);
        Files.delete(dir.resolve("model.safetensors"));
        assertMentions(assertThrows(SafetensorsException.class, () -> CheckpointLoader.load(dir)), dir.toString(),
                "no weights", "model.safetensors");
    }

    @Test
    void missingTensorsAreAllNamed() {
        RandomCheckpoint.builder().omitTensor("model.norm.weight").omitTensor(K_PROJ).writeTo(dir);
        assertMentions(assertThrows(CheckpointException.class, () -> CheckpointLoader.load(dir)), dir.toString(),
                "2 problems", "missing tensor model.norm.weight", "missing tensor " + K_PROJ);
    }

    @Test
    void wrongShape() {
        RandomCheckpoint.builder().dim(64).heads(4).kvHeads(2).tensorShape(K_PROJ, 64, 64).writeTo(dir);
        assertMentions(assertThrows(CheckpointException.class, () -> CheckpointLoader.load(dir)),
                "tensor " + K_PROJ + " has shape [64, 64], expected [32, 64]");
    }

    @Test
    void untiedWithoutLmHead() {
        RandomCheckpoint.builder().tied(false).omitTensor("lm_head.weight").writeTo(dir);
        assertMentions(assertThrows(CheckpointException.class, () -> CheckpointLoader.load(dir)),
                "missing tensor lm_head.weight", "tie_word_embeddings is false");
    }

    @Test
    void truncatedWeights() throws IOException {
        RandomCheckpoint.builder().sharded(2).writeTo(dir);
        Path shard = dir.resolve("model-00002-of-00002.safetensors");
        try (FileChannel ch = FileChannel.open(shard, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - 1);
        }
        assertMentions(assertThrows(SafetensorsException.class, () -> CheckpointLoader.load(dir)), shard.toString(),
                "lm_head.weight", "truncated");
    }

    @Test
    void unsupportedTensorDtype() {
        RandomCheckpoint.builder().writeTo(dir);
        SafetensorsWriter.writeRaw(dir.resolve("model.safetensors"),
                "{\"model.embed_tokens.weight\": {\"dtype\": \"I8\", \"shape\": [4], \"data_offsets\": [0, 4]}}",
                new byte[4]);
        assertMentions(assertThrows(SafetensorsException.class, () -> CheckpointLoader.load(dir)),
                "model.safetensors", "tensor 'model.embed_tokens.weight'", "unsupported tensor dtype 'I8'");
    }

    @Test
    void unsupportedConfig() {
        RandomCheckpoint.builder().configField("hidden_act", "gelu_pytorch_tanh").writeTo(dir);
        assertMentions(assertThrows(CheckpointException.class, () -> CheckpointLoader.load(dir)),
                dir.resolve("config.json").toString(), "hidden_act");
    }
}
