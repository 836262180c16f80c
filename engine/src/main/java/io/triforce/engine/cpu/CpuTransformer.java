package io.triforce.engine.cpu;

import io.triforce.engine.backend.Transformer;
import io.triforce.engine.kv.FullKvCache;
import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.kv.RetrievalKvCache;
import io.triforce.engine.kv.StreamingKvCache;
import io.triforce.engine.model.LlamaWeights;
import io.triforce.engine.model.ModelConfig;
import java.lang.foreign.Arena;

/**
 * The Llama forward pass on the CPU: RMSNorm, RoPE, GQA attention over a {@link CpuKvCache},
 * SwiGLU, all in fp32 from bf16/f16/f32 weights. Long blocks run in chunks of
 * {@link #BLOCK} tokens; since no kernel's arithmetic depends on the block, chunking, block
 * and token-by-token forwards give the same bits.
 */
public final class CpuTransformer implements Transformer {

    static final int BLOCK = 256;
    private static final int QUERY_CHUNK = 16;

    private final LlamaWeights weights;
    private final ModelConfig config;
    private final Parallel parallel;
    private final MatMul matmul;
    private final RotaryEmbedding rope;
    private final float[][] attentionNorms;  // [layer][dim]
    private final float[][] ffnNorms;        // [layer][dim]
    private final float[] finalNorm;         // [dim]
    private final Arena packedArena = Arena.ofShared();
    private final PackedLayer[] packed;      // [layer]
    private final PackedMatrix lmHead;       // [vocab][dim]
    private final float attentionScale;
    private final KvSlots[] viewScratch;     // per worker
    private final Attention.Scratch[] attentionScratch; // per worker

    CpuTransformer(LlamaWeights weights, Parallel parallel) {
        this.weights = weights;
        this.config = weights.config();
        if (config.headDim() % (4 * VectorMath.LANES) != 0) {
            throw new IllegalArgumentException("CPU backend needs head_dim to be a multiple of "
                    + 4 * VectorMath.LANES + "; got " + config.headDim());
        }
        this.parallel = parallel;
        this.matmul = new MatMul(parallel);
        this.rope = new RotaryEmbedding(config);
        int layers = config.nLayers();
        this.attentionNorms = new float[layers][];
        this.ffnNorms = new float[layers][];
        for (int l = 0; l < layers; l++) {
            attentionNorms[l] = weights.layers()[l].attentionNorm().toFloatArray();
            ffnNorms[l] = weights.layers()[l].ffnNorm().toFloatArray();
        }
        this.finalNorm = weights.finalNorm().toFloatArray();
        this.packed = new PackedLayer[layers];
        for (int l = 0; l < layers; l++) {
            packed[l] = PackedLayer.pack(weights.layers()[l], packedArena);
        }
        this.lmHead = PackedMatrix.pack(weights.lmHead(), packedArena);
        this.attentionScale = (float) (1.0 / Math.sqrt(config.headDim()));
        this.viewScratch = new KvSlots[parallel.threads()];
        this.attentionScratch = new Attention.Scratch[parallel.threads()];
        for (int w = 0; w < viewScratch.length; w++) {
            viewScratch[w] = new KvSlots(config.headDim(), 256);
            attentionScratch[w] = new Attention.Scratch();
        }
    }

    /** Frees the packed weights. */
    @Override
    public void close() {
        packedArena.close();
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public KvCache newCache(KvCacheSpec spec) {
        return switch (spec) {
            case KvCacheSpec.Full f -> new FullKvCache(config, f.capacity());
            case KvCacheSpec.Streaming s -> new StreamingKvCache(config, s.sinks(), s.window(), s.slack());
            case KvCacheSpec.Retrieval r -> new RetrievalKvCache(config, r.budget(), r.chunk());
        };
    }

    @Override
    public float[][] forward(int[] tokens, KvCache cache, int logitRows) {
        if (!(cache instanceof CpuKvCache cpuCache)) {
            throw new IllegalArgumentException("the CPU backend cannot use a " + cache.getClass().getSimpleName());
        }
        if (logitRows < 0 || logitRows > tokens.length) {
            throw new IllegalArgumentException("logitRows " + logitRows + " outside [0, " + tokens.length + "]");
        }
        for (int token : tokens) {
            if (token < 0 || token >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + token + " is outside the vocabulary [0, "
                        + config.vocabSize() + ")");
            }
        }
        int n = tokens.length;
        int firstLogitRow = n - logitRows;
        float[][] logits = new float[logitRows][];
        for (int start = 0; start < n; start += BLOCK) {
            int end = Math.min(n, start + BLOCK);
            int rows = Math.max(0, end - Math.max(start, firstLogitRow));
            float[][] part = forwardBlock(java.util.Arrays.copyOfRange(tokens, start, end), cpuCache, rows);
            if (rows > 0) {
                System.arraycopy(part, 0, logits, end - rows - firstLogitRow, rows);
            }
        }
        return logits;
    }

    /** One block through every layer; logits for its last {@code logitRows} rows. */
    private float[][] forwardBlock(int[] tokens, CpuKvCache cache, int logitRows) {
        int n = tokens.length;
        int dim = config.dim();
        int qDim = config.qDim();
        int kvDim = config.kvDim();
        int hidden = config.hiddenDim();
        float[] x = new float[n * dim];          // [n][dim]    residual stream
        float[] xb = new float[n * dim];         // [n][dim]    normalised input / sublayer output
        float[] q = new float[n * qDim];         // [n][nHeads*headDim]
        float[] k = new float[n * kvDim];        // [n][nKvHeads*headDim]
        float[] v = new float[n * kvDim];        // [n][nKvHeads*headDim]
        float[] att = new float[n * qDim];       // [n][nHeads*headDim] attention output
        float[] gate = new float[n * hidden];    // [n][hiddenDim]
        float[] up = new float[n * hidden];      // [n][hiddenDim]

        for (int t = 0; t < n; t++) {
            WeightRows.widen(weights.tokenEmbedding(), tokens[t], x, t * dim);
        }
        for (int l = 0; l < config.nLayers(); l++) {
            PackedLayer layer = packed[l];
            // attention
            rmsNorm(xb, x, attentionNorms[l], n);
            matmul.apply(layer.wq(), xb, n, q);
            matmul.apply(layer.wk(), xb, n, k);
            matmul.apply(layer.wv(), xb, n, v);
            for (int t = 0; t < n; t++) {
                rope.rotate(q, t * qDim, config.nHeads(), cache.queryPosition(t));
                cache.store(l, t, k, t * kvDim, v, t * kvDim, rope);
            }
            cache.recordLastQuery(l, q, (n - 1) * qDim);
            attention(l, cache, q, n, att);
            matmul.apply(layer.wo(), att, n, xb);
            VectorMath.add(xb, x, 0, n * dim);
            // feed-forward (SwiGLU)
            rmsNorm(xb, x, ffnNorms[l], n);
            matmul.apply(layer.wGate(), xb, n, gate);
            matmul.apply(layer.wUp(), xb, n, up);
            VectorMath.swiglu(gate, up, 0, n * hidden);
            matmul.apply(layer.wDown(), gate, n, xb);
            VectorMath.add(xb, x, 0, n * dim);
        }
        cache.advance(n);
        return logits(x, n, logitRows);
    }

    /**
     * att[t] = attention of query t over what the cache shows it. Tasks are (KV head, chunk of
     * up to {@link #QUERY_CHUNK} tokens); a task serves all its query heads from one pass over
     * the keys when the cache's views share storage.
     */
    private void attention(int layer, CpuKvCache cache, float[] q, int n, float[] att) {
        int kvHeads = config.nKvHeads();
        int group = config.groupSize();
        int headDim = config.headDim();
        int qDim = config.qDim();
        int chunk = cache.viewsShareSlots() ? QUERY_CHUNK : 1;
        int chunks = (n + chunk - 1) / chunk;
        parallel.forRange(kvHeads * chunks, (worker, from, to) -> {
            for (int i = from; i < to; i++) {
                int g = i % kvHeads;
                int t0 = (i / kvHeads) * chunk;
                int t1 = Math.min(n, t0 + chunk);
                int rows = (t1 - t0) * group;
                int[] offsets = new int[rows];
                int[] counts = new int[rows];
                KvSlots slots = null;
                for (int t = t0; t < t1; t++) {
                    KvSlots.View view = cache.view(layer, g, t, viewScratch[worker], rope);
                    slots = view.slots();
                    for (int h = 0; h < group; h++) {
                        int r = (t - t0) * group + h;
                        offsets[r] = t * qDim + (g * group + h) * headDim;
                        counts[r] = view.count();
                    }
                }
                Attention.attend(q, offsets, counts, rows, slots, attentionScale, att, offsets, attentionScratch[worker]);
            }
        });
    }

    /** Final norm and LM head for the last {@code rows} rows of x [n][dim]. */
    private float[][] logits(float[] x, int n, int rows) {
        if (rows == 0) {
            return new float[0][];
        }
        int dim = config.dim();
        int first = n - rows;
        float[] normed = new float[rows * dim];
        System.arraycopy(x, first * dim, normed, 0, rows * dim);
        rmsNorm(normed, normed, finalNorm, rows);
        int vocab = lmHead.rows;
        float[] flat = new float[rows * vocab];
        matmul.apply(lmHead, normed, rows, flat);
        float[][] logits = new float[rows][];
        for (int r = 0; r < rows; r++) {
            logits[r] = java.util.Arrays.copyOfRange(flat, r * vocab, (r + 1) * vocab);
        }
        return logits;
    }

    /** out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight, per row (out may alias x). */
    private void rmsNorm(float[] out, float[] x, float[] weight, int n) {
        int dim = config.dim();
        for (int t = 0; t < n; t++) {
            int off = t * dim;
            float meanSquare = VectorMath.sumOfSquares(x, off, dim) / dim;
            float inv = (float) (1.0 / Math.sqrt(meanSquare + config.normEps()));
            for (int i = 0; i < dim; i++) {
                out[off + i] = x[off + i] * inv * weight[i];
            }
        }
    }
}
