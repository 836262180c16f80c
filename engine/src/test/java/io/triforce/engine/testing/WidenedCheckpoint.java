package io.triforce.engine.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.triforce.engine.model.CheckpointLoader;
import io.triforce.engine.model.LayerWeights;
import io.triforce.engine.model.LlamaCheckpoint;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.tensor.DType;
import io.triforce.engine.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongUnaryOperator;

/**
 * A trained checkpoint written again at a larger shape that computes the same function, so a
 * GPU can be timed on a model of a real model's size that still predicts like the trained one
 * (the trained pair's acceptance, at a 7B model's bytes a step).
 *
 * <p>The source's weights fill the top-left corner of each wider matrix and everything else is
 * zero, so the residual stream keeps the source's values in its first {@code dim} dims and zeros
 * in the rest: q heads past the source's see zero keys and values; key/value heads are copied
 * to every wider head their query heads read (the wider group must lie inside one source group);
 * the extra hidden units have zero gate and up rows; layers past the source's have zero matrices
 * and add nothing. RMSNorm averages over the wider dim, so its weights are scaled by
 * sqrt(dim / dim') and its epsilon by dim / dim', which leaves the normalised values as they were
 * (norm weights are written as F32 to keep the scale's precision). The logits are the source's,
 * up to fp32 rounding. Matrices keep the source's dtype; all-zero rows are left as holes in the
 * files. Tokenizer files are copied.
 */
public final class WidenedCheckpoint {

    /**
     * The wider shape: hidden_size, heads, key/value heads, intermediate_size, layers; and a YaRN factor
     * that stretches an unscaled source's positions (1: none), as a user would run a model past the
     * context it was trained on.
     */
    public record Shape(int dim, int heads, int kvHeads, int hiddenDim, int layers, int yarnFactor) {
        public Shape(int dim, int heads, int kvHeads, int hiddenDim, int layers) {
            this(dim, heads, kvHeads, hiddenDim, layers, 1);
        }
    }

    /**
     * One tensor of the output: row r is row {@code rowOf(r)} of {@code source} in the first columns
     * (zero where that is -1, and everywhere when there is no source), or, for a norm, {@code values}.
     */
    private record Out(String name, DType dtype, long rows, long cols, Tensor source, LongUnaryOperator rowOf,
                       float[] values) {
        long bytes() {
            return rows * cols * dtype.bytes;
        }
    }

    private WidenedCheckpoint() {
    }

    /** Writes {@code target} (created if absent) from the checkpoint in {@code source}, in {@code shards} files. */
    public static void write(Path source, Path target, Shape to, int shards) throws Exception {
        try (LlamaCheckpoint ckpt = CheckpointLoader.load(source)) {
            ModelConfig c = ckpt.config();
            check(c, to);
            List<Out> outs = outputs(ckpt, to);
            Files.createDirectories(target);
            writeShards(target, outs, shards);
            writeConfig(source, target, c, to);
            for (String file : new String[] {"tokenizer.json", "tokenizer_config.json"}) {
                if (Files.exists(source.resolve(file))) {
                    Files.copy(source.resolve(file), target.resolve(file), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    private static void check(ModelConfig c, Shape to) {
        if (to.dim() < c.dim() || to.heads() < c.nHeads() || to.hiddenDim() < c.hiddenDim()
                || to.layers() < c.nLayers() || to.kvHeads() < c.nKvHeads()) {
            throw new IllegalArgumentException("the wider shape " + to + " is smaller than the source's in some dim");
        }
        if (to.heads() * c.headDim() != to.dim()) {
            throw new IllegalArgumentException("heads x head_dim (" + to.heads() + " x " + c.headDim()
                    + ") must equal the wider dim " + to.dim());
        }
        if (to.yarnFactor() < 1 || to.yarnFactor() > 1 && !c.rope().type().equals("default")) {
            throw new IllegalArgumentException("a YaRN factor of " + to.yarnFactor() + " needs a factor >= 1 and,"
                    + " above 1, a source without RoPE scaling (this one's: " + c.rope().type() + ")");
        }
        int group = c.groupSize();
        if (to.heads() % to.kvHeads() != 0 || group % (to.heads() / to.kvHeads()) != 0) {
            throw new IllegalArgumentException("a wider key/value group (" + to.heads() + " / " + to.kvHeads()
                    + " heads) must lie inside one source group of " + group);
        }
    }

    private static List<Out> outputs(LlamaCheckpoint ckpt, Shape to) {
        ModelConfig c = ckpt.config();
        int hd = c.headDim();
        int wideGroup = to.heads() / to.kvHeads();
        double normScale = Math.sqrt((double) c.dim() / to.dim());
        // key/value head j' of the wider model serves query heads j' * wideGroup ..: the source's head
        // (j' * wideGroup) / groupSize while those query heads are the source's, else none
        LongUnaryOperator kvRow = r -> {
            long firstQueryHead = r / hd * wideGroup;
            return firstQueryHead < c.nHeads() ? firstQueryHead / c.groupSize() * hd + r % hd : -1;
        };
        List<Out> outs = new ArrayList<>();
        Tensor embedding = ckpt.weights().tokenEmbedding();
        DType dtype = embedding.dtype();
        outs.add(matrix("model.embed_tokens.weight", dtype, c.vocabSize(), to.dim(), embedding,
                firstRows(c.vocabSize())));
        for (int l = 0; l < to.layers(); l++) {
            String p = "model.layers." + l + ".";
            LayerWeights w = l < c.nLayers() ? ckpt.weights().layers()[l] : null;
            long q = (long) to.heads() * hd;
            long kv = (long) to.kvHeads() * hd;
            outs.add(matrix(p + "self_attn.q_proj.weight", dtype, q, to.dim(), w == null ? null : w.wq(),
                    firstRows(c.qDim())));
            outs.add(matrix(p + "self_attn.k_proj.weight", dtype, kv, to.dim(), w == null ? null : w.wk(), kvRow));
            outs.add(matrix(p + "self_attn.v_proj.weight", dtype, kv, to.dim(), w == null ? null : w.wv(), kvRow));
            outs.add(matrix(p + "self_attn.o_proj.weight", dtype, to.dim(), q, w == null ? null : w.wo(),
                    firstRows(c.dim())));
            outs.add(matrix(p + "mlp.gate_proj.weight", dtype, to.hiddenDim(), to.dim(), w == null ? null : w.wGate(),
                    firstRows(c.hiddenDim())));
            outs.add(matrix(p + "mlp.up_proj.weight", dtype, to.hiddenDim(), to.dim(), w == null ? null : w.wUp(),
                    firstRows(c.hiddenDim())));
            outs.add(matrix(p + "mlp.down_proj.weight", dtype, to.dim(), to.hiddenDim(), w == null ? null : w.wDown(),
                    firstRows(c.dim())));
            outs.add(norm(p + "input_layernorm.weight", w == null ? null : w.attentionNorm(), to.dim(), normScale));
            outs.add(norm(p + "post_attention_layernorm.weight", w == null ? null : w.ffnNorm(), to.dim(),
                    normScale));
        }
        outs.add(norm("model.norm.weight", ckpt.weights().finalNorm(), to.dim(), normScale));
        if (!c.tiedEmbeddings()) {
            outs.add(matrix("lm_head.weight", dtype, c.vocabSize(), to.dim(), ckpt.weights().lmHead(),
                    firstRows(c.vocabSize())));
        }
        return outs;
    }

    private static Out matrix(String name, DType dtype, long rows, long cols, Tensor source, LongUnaryOperator rowOf) {
        if (source != null && source.dtype() != dtype) {
            throw new IllegalArgumentException(name + " is " + source.dtype() + " where the embedding is " + dtype
                    + ": a mixed-dtype source is not supported");
        }
        return new Out(name, dtype, rows, cols, source, rowOf, null);
    }

    /** The source's rows 0..n-1 as the output's rows 0..n-1. */
    private static LongUnaryOperator firstRows(long n) {
        return r -> r < n ? r : -1;
    }

    /**
     * A norm weight [dim'] as F32: the source's, scaled, then zeros (those dims of the stream are zero);
     * ones for an added layer.
     */
    private static Out norm(String name, Tensor source, int wideDim, double scale) {
        float[] values = new float[wideDim];
        if (source == null) {
            Arrays.fill(values, 1f);
        } else {
            for (int i = 0; i < source.size(); i++) {
                values[i] = (float) (source.get(i) * scale);
            }
        }
        return new Out(name, DType.F32, 1, wideDim, null, null, values);
    }

    private static void writeShards(Path target, List<Out> outs, int shards) throws IOException {
        long total = outs.stream().mapToLong(Out::bytes).sum();
        long perShard = (total + shards - 1) / shards;
        List<List<Out>> files = new ArrayList<>();
        long filled = Long.MAX_VALUE;
        for (Out o : outs) {
            if (filled >= perShard && files.size() < shards) {
                files.add(new ArrayList<>());
                filled = 0;
            }
            files.getLast().add(o);
            filled += o.bytes();
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (int f = 0; f < files.size(); f++) {
            String name = files.size() == 1 ? "model.safetensors" : SafetensorsWriter.shardName(f, files.size());
            writeFile(target.resolve(name), files.get(f));
            for (Out o : files.get(f)) {
                weightMap.put(o.name(), name);
            }
        }
        if (files.size() > 1) {
            SafetensorsWriter.writeIndex(target, total, weightMap);
        }
    }

    private static void writeFile(Path file, List<Out> outs) throws IOException {
        byte[] header = SafetensorsWriter.header(outs.stream().map(o -> new SafetensorsWriter.Layout(o.name(),
                o.dtype(), o.rows() == 1 ? new long[] {o.cols()} : new long[] {o.rows(), o.cols()})).toList());
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(out, ByteBuffer.wrap(header), 0);
            long at = header.length;
            for (Out o : outs) {
                writeRows(out, at, o);
                at += o.bytes();
            }
            if (out.size() < at) {   // trailing zero rows: a hole up to the end
                out.write(ByteBuffer.allocate(1), at - 1);
            }
        }
    }

    private static void writeRows(FileChannel out, long at, Out o) throws IOException {
        if (o.values() != null) {
            ByteBuffer b = ByteBuffer.allocate(4 * o.values().length).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : o.values()) {
                b.putFloat(v);
            }
            writeFully(out, b.flip(), at);
            return;
        }
        if (o.source() == null) {
            return;   // all zero: a hole
        }
        long rowBytes = (long) o.source().cols() * o.dtype().bytes;
        long wideRowBytes = o.cols() * o.dtype().bytes;
        MemorySegment data = o.source().data();
        for (long r = 0; r < o.rows(); r++) {
            long s = o.rowOf().applyAsLong(r);
            if (s >= 0) {
                writeFully(out, data.asSlice(s * rowBytes, rowBytes).asByteBuffer(), at + r * wideRowBytes);
            }
        }
    }

    private static void writeFully(FileChannel out, ByteBuffer b, long at) throws IOException {
        for (long pos = at; b.hasRemaining(); ) {
            pos += out.write(b, pos);
        }
    }

    private static void writeConfig(Path source, Path target, ModelConfig c, Shape to) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(source.resolve("config.json").toFile());
        config.put("hidden_size", to.dim()).put("num_attention_heads", to.heads())
                .put("num_key_value_heads", to.kvHeads()).put("intermediate_size", to.hiddenDim())
                .put("num_hidden_layers", to.layers()).put("head_dim", c.headDim())
                .put("rms_norm_eps", c.normEps() * c.dim() / to.dim());
        if (to.yarnFactor() > 1) {
            config.remove("rope_scaling");
            config.remove("rope_theta");
            config.putObject("rope_parameters").put("rope_theta", c.rope().theta()).put("rope_type", "yarn")
                    .put("factor", (double) to.yarnFactor()).put("original_max_position_embeddings", c.maxPositions());
            config.put("max_position_embeddings", c.maxPositions() * to.yarnFactor());
        }
        Files.writeString(target.resolve("config.json"), config.toPrettyString());
    }

    /**
     * {@code SOURCE TARGET DIM HEADS KV_HEADS HIDDEN LAYERS [SHARDS [YARN_FACTOR]]}, e.g. the trained target
     * at Llama-2-7B's bytes a step: {@code pycode-target-23m wide-7b 4096 64 64 11008 32 3}.
     */
    public static void main(String[] args) throws Exception {
        if (args.length < 7) {
            System.err.println("usage: WidenedCheckpoint SOURCE TARGET DIM HEADS KV_HEADS HIDDEN LAYERS"
                    + " [SHARDS [YARN_FACTOR]]");
            System.exit(2);
        }
        Shape to = new Shape(Integer.parseInt(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]),
                Integer.parseInt(args[5]), Integer.parseInt(args[6]), args.length > 8 ? Integer.parseInt(args[8]) : 1);
        long start = System.nanoTime();
        write(Path.of(args[0]), Path.of(args[1]), to, args.length > 7 ? Integer.parseInt(args[7]) : 1);
        System.out.printf("wrote %s (%s) in %.1f s%n", args[1], to, (System.nanoTime() - start) / 1e9);
    }
}
