package io.triforce.engine.cuda;

import io.triforce.engine.backend.GreedyRun;
import io.triforce.engine.kv.KvCache;
import io.triforce.engine.kv.KvCacheSpec;
import io.triforce.engine.model.ModelConfig;
import io.triforce.engine.sampling.Sampler;
import io.triforce.engine.sampling.SamplingParams;
import io.triforce.engine.spec.ProbabilityRow;
import io.triforce.engine.spec.Proposal;
import io.triforce.engine.spec.TokenPicker;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUgraphExec;

/**
 * GPU step times on random bf16 weights generated on the device from a seed, with a KV cache
 * filled with random values up to the context length (no prefill). Per shape and context:
 * autoregressive decode, verify blocks, a retrieval-cache rebuild (chunk scores, top-k, gather)
 * and the retrieval-draft step (the target's weights over the {@code budget} slots it selected),
 * each step a CUDA graph replayed back to back, timed with events, beside its memory-bound
 * floor (bytes read / bandwidth; for the rebuild, the keys it scores). First line: the read
 * roofline, what a kernel that only streams memory reaches on this device.
 *
 * <pre>
 * GpuBench [--shapes llama2-7b:4096:65536,llama31-8b:32768:131072] [--contexts 4096]
 *          [--blocks 1,4,8,16] [--budget 4096] [--prefill 0] [--seed 1] [--reps 20] [--trials 5]
 *          [--bandwidth 3.2e12] [--pdl on|off] [--streaming 16:256] [--breakdown]
 * </pre>
 * Shapes: {@link ModelShapes#NAMES}; each --shapes entry may carry its own contexts
 * ({@code llama2-7b:4096:65536}), else --contexts applies. {@code --prefill N} also times a forward
 * of N random tokens; {@code --streaming S:W} a level-1 draft step over a full StreamingLLM cache of
 * S sinks and a window of W (the view built, the step, the key banked: one graph), replayed and as
 * TriForce calls it (greedy, or sampled with q built on the GPU or the host); {@code --breakdown}
 * times every kernel of one uncaptured step.
 */
public final class GpuBench {

    private final long seed;
    private final int reps;
    private final int trials;
    private final double bandwidth;
    private final boolean breakdown;
    private final CudaDevice dev = CudaDevice.get();

    private GpuBench(long seed, int reps, int trials, double bandwidth, boolean breakdown) {
        this.breakdown = breakdown;
        this.seed = seed;
        this.reps = reps;
        this.trials = trials;
        this.bandwidth = bandwidth;
    }

    public static void main(String[] args) {
        try {
            run(args);
        } catch (IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(2);
        }
    }

    private static void run(String[] args) {
        String shapes = "llama2-7b:4096:65536,llama31-8b:32768:131072";
        int[] contexts = {4096};
        int[] blocks = {1, 4, 8, 16};
        int budget = 4096;
        int prefill = 0;
        long seed = 1;
        int reps = 20;
        int trials = 5;
        double bandwidth = 3.2e12;
        boolean breakdown = false;
        boolean pdl = true;
        int[] streaming = null;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--breakdown")) {
                breakdown = true;
                continue;
            }
            String v = i + 1 < args.length ? args[i + 1] : "";
            switch (args[i]) {
                case "--shapes" -> shapes = v;
                case "--contexts" -> contexts = ints(v);
                case "--blocks" -> blocks = ints(v);
                case "--budget" -> budget = Integer.parseInt(v);
                case "--prefill" -> prefill = Integer.parseInt(v);
                case "--seed" -> seed = Long.parseLong(v);
                case "--reps" -> reps = Integer.parseInt(v);
                case "--trials" -> trials = Integer.parseInt(v);
                case "--bandwidth" -> bandwidth = Double.parseDouble(v);
                case "--pdl" -> pdl = !v.equals("off");
                case "--streaming" -> {
                    streaming = Arrays.stream(v.split(":")).mapToInt(Integer::parseInt).toArray();
                    if (streaming.length != 2) {
                        throw new IllegalArgumentException("--streaming takes SINKS:WINDOW, got '" + v + "'");
                    }
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + " (options: --shapes --contexts --blocks --budget --prefill --seed --reps --trials"
                        + " --bandwidth --pdl --streaming --breakdown)");
            }
            i++;
        }
        String unavailable = CudaBackend.unavailableReason();
        if (unavailable != null) {
            System.err.println("error: bench-gpu needs a CUDA GPU: " + unavailable.lines().findFirst().orElse(unavailable));
            System.exit(1);
        }
        GpuBench bench = new GpuBench(seed, reps, trials, bandwidth, breakdown);
        bench.dev.pdl = pdl;
        System.out.printf("device: %s, %d SMs; programmatic dependent launch %s; floor = bytes read / %.2f TB/s%n",
                bench.dev.name, bench.dev.multiprocessors, pdl ? "on" : "off", bandwidth / 1e12);
        bench.readRoofline(8);
        System.out.printf("%-14s %8s %-22s %9s %9s %7s%n", "shape", "context", "step", "ms", "floor ms", "floor%");
        for (String entry : shapes.split(",")) {
            String[] parts = entry.split(":");
            int[] own = parts.length > 1 ? Arrays.stream(parts, 1, parts.length).mapToInt(Integer::parseInt).toArray()
                    : contexts;
            bench.run(parts[0], own, blocks, budget, prefill, streaming);
        }
    }

    /**
     * The read roofline: the best of a few grid sizes streaming {@code gib} GiB with the GEMVs'
     * load instruction, in bytes per second (what "floor%" could reach at most, rather than the
     * nominal bandwidth the floor is computed with).
     */
    private void readRoofline(int gib) {
        long bytes = (long) gib << 30;
        CUdeviceptr buffer = dev.alloc(bytes);
        CUdeviceptr sink = dev.alloc(4);
        double best = 0;
        for (int blocksPerSm : new int[] {2, 4, 8, 16}) {
            int blocks = dev.multiprocessors * blocksPerSm;
            double ms = dev.timeMs(() -> dev.launch("read_bandwidth", blocks, 1, 1, 256, 0, buffer, bytes / 16, sink),
                    reps, 1);
            best = Math.max(best, bytes / (ms / 1e3));
        }
        CudaDevice.free(buffer);
        CudaDevice.free(sink);
        System.out.printf("read roofline: %.2f TB/s (streaming %d GiB with the GEMVs' loads; the floor uses %.2f)%n",
                best / 1e12, gib, bandwidth / 1e12);
    }

    private void run(String shape, int[] contexts, int[] blocks, int budget, int prefill, int[] streaming) {
        ModelConfig c = ModelShapes.get(shape);
        try (CudaTransformer model = new CudaTransformer(dev, DeviceModel.random(dev, c, seed))) {
            long weights = model.model().matrixBytes();
            for (int context : contexts) {
                try (CudaKvCache cache = (CudaKvCache) model.newCache(new KvCacheSpec.Full(context + CudaTransformer.MAX_TOKENS))) {
                    cache.fillRandom(seed, context);
                    for (int n : blocks) {
                        if (n > model.maxBlock()) {
                            continue;
                        }
                        double ms = time(model.prepare(cache, context, context, context, n, true, tokens(c, n)));
                        report(shape, context, n == 1 ? "decode" : "verify " + n, ms,
                                weights + kvBytes(c, context + n));
                        if (breakdown) {
                            breakdown(model, cache, context, n);
                        }
                        if (n == 1) {
                            decodeThroughTheApi(model, cache, shape, context, weights + kvBytes(c, context + 1));
                        }
                    }
                    if (budget > 0 && context >= budget) {
                        retrievalDraft(model, cache, shape, context, budget);
                    }
                }
            }
            if (streaming != null) {
                streamingDraft(model, shape, streaming[0], streaming[1]);
            }
            System.out.printf("%-14s 9-16-token GEMVs: %s; one-token steps: %s%n", shape, model.gemvForm16(),
                    model.oneTokenStep());
            if (prefill > 0) {
                try (CudaKvCache cache = (CudaKvCache) model.newCache(new KvCacheSpec.Full(prefill))) {
                    int[] prompt = new Random(seed).ints(prefill, 0, c.vocabSize()).toArray();
                    long start = System.nanoTime();
                    model.forward(prompt, cache, 1);
                    double s = (System.nanoTime() - start) / 1e9;
                    System.out.printf("%-14s %8d %-22s %9.2f  (%.0f tokens/s, %s)%n", shape, prefill, "prefill (s)", s,
                            prefill / s, model.prefillChunk() > 0 ? "chunks of " + model.prefillChunk()
                                    : "blocks of " + model.maxBlock());
                    if (breakdown) {   // again without logits, kernel by kernel (no step graph is captured)
                        cache.truncate(0);
                        dev.startProfile();
                        model.forward(prompt, cache, 0);
                        Map<String, Double> byKernel = new java.util.TreeMap<>();
                        dev.stopProfile().forEach((label, ms) -> byKernel.merge(label.replaceAll("\\[.*", ""), ms,
                                Double::sum));
                        byKernel.forEach((kernel, ms) -> System.out.printf("    %-24s %9.1f ms%n", kernel, ms));
                    }
                }
            }
        }
    }

    /**
     * Rebuilds a retrieval cache of {@code budget} slots from the filled full cache (whose last
     * query the timed steps left) and times it and one draft step over it.
     */
    private void retrievalDraft(CudaTransformer model, CudaKvCache full, String shape, int context, int budget) {
        ModelConfig c = model.config();
        try (CudaRetrievalKvCache retrieval = (CudaRetrievalKvCache) model.newCache(
                new KvCacheSpec.Retrieval(budget, 8, CudaTransformer.MAX_TOKENS))) {
            long start = System.nanoTime();
            retrieval.rebuild(full);
            dev.synchronize();
            double rebuildMs = (System.nanoTime() - start) / 1e6;
            long keyBytes = kvBytes(c, context) / 2;
            report(shape, context, "retrieval rebuild", rebuildMs, keyBytes);
            CudaKvCache slots = retrieval.storage(1);
            int slot = retrieval.length() + slots.slotShift;
            double ms = time(model.prepare(slots, context, slot, context, 1, true, tokens(c, 1)));
            report(shape, context, "retrieval draft " + budget, ms, model.model().matrixBytes() + kvBytes(c, slot + 1));
        }
    }

    /**
     * A one-token step over a StreamingLLM cache of {@code sinks} + {@code window} whose window is full
     * (the level-1 draft's step): the graph replayed, and as TriForce calls it: greedy
     * ({@code greedyNext}), sampled (temperature 0.8, top-p 0.95) with q and the draw on the GPU (one
     * row of q to the host), or with the row of logits turned into q on the host.
     * Its floor reads the weights and the window twice (the view built from the ring, then attended).
     */
    private void streamingDraft(CudaTransformer model, String shape, int sinks, int window) {
        ModelConfig c = model.config();
        int length = 2 * (sinks + window);
        try (CudaStreamingKvCache cache = (CudaStreamingKvCache) model.newCache(
                new KvCacheSpec.Streaming(sinks, window, 1))) {
            cache.fillRandom(seed, length);
            CudaKvCache view = cache.viewForNextBlock(dev);
            long bytes = model.model().matrixBytes() + 2 * kvBytes(c, sinks + window);
            String step = "streaming " + sinks + "+" + window;
            report(shape, length, step, time(model.prepare(view, view.length(), view.length(), length, 1, true,
                    tokens(c, 1))), bytes);
            oneTokenThroughTheApi(model, cache, shape, step, length, bytes, true);
        }
    }

    /**
     * One token as the decoders take it over {@code cache}, rolled back to {@code length} before each
     * call: its argmax on the GPU, and sampled (temperature 0.8, top-p 0.95) with the row of logits
     * turned into a distribution on the host or with the distribution, draw (and, with {@code keepQ},
     * the row copied back, as a proposing level needs it) on the GPU. Returns the sampling picker.
     */
    private TokenPicker oneTokenThroughTheApi(CudaTransformer model, KvCache cache, String shape, String step,
                                              int length, long bytes, boolean keepQ) {
        int[] token = {tokens(model.config(), 1)[0]};
        report(shape, length, step + ", argmax on GPU", perCall(() -> {
            cache.truncate(length);
            model.greedyNext(token, cache, 1);
        }), bytes);
        TokenPicker picker = new TokenPicker(new SamplingParams(0.8, 0, 0.95, seed));
        report(shape, length, step + ", sampled on host", perCall(() -> {
            cache.truncate(length);
            picker.sample(picker.distribution(model.forward(token, cache, 1)[0]));
        }), bytes);
        report(shape, length, step + ", sampled on GPU", perCall(() -> {
            cache.truncate(length);
            model.scoreAndVerify(token, cache, Proposal.NONE, picker, keepQ);
        }), bytes);
        return picker;
    }

    /**
     * A decode step as the decoders call it, host work included: {@code forward} (the row of
     * logits copied to the host, argmax there) against {@code greedyNext} (argmax on the GPU,
     * one id copied) and a step of a {@code greedyRun} (the next step queued while the host reads
     * a pick), and sampling (temperature 0.8, top-p 0.95) both ways: the rows of logits copied and
     * turned into distributions on the host, or distributions, draws and the rejection test on the
     * GPU ({@code scoreAndVerify}: three ints down), for one token and for the four rows a verify of
     * 3 proposed tokens scores (its q from the host, or kept on the GPU by a level below). Mean over
     * {@code reps} calls, median over trials.
     */
    private void decodeThroughTheApi(CudaTransformer model, CudaKvCache cache, String shape, int context, long bytes) {
        int[] token = {tokens(model.config(), 1)[0]};
        report(shape, context, "decode, logits to host", perCall(() -> {
            cache.truncate(context);
            Sampler.argmax(model.forward(token, cache, 1)[0]);
        }), bytes);
        TokenPicker picker = oneTokenThroughTheApi(model, cache, shape, "decode", context, bytes, false);
        int run = CudaTransformer.MAX_TOKENS;   // the cache's room past the context
        report(shape, context, "decode, greedy run", perCall(() -> {
            cache.truncate(context);
            try (GreedyRun picks = model.greedyRun(token[0], cache, run)) {
                for (int i = 0; i < run; i++) {
                    picks.next();
                }
            }
        }) / run, bytes);
        SamplingParams sampled = picker.params();
        int[] block = Arrays.copyOf(tokens(model.config(), 4), 4);
        cache.truncate(context);
        float[][] rows = model.forward(block, cache, 4);
        cache.truncate(context);
        float[][] q = new float[3][];
        for (int i = 0; i < 3; i++) {   // the verifier's own rows as q: the test accepts (almost) every token
            q[i] = Sampler.distribution(rows[i], sampled);
        }
        Proposal proposal = new Proposal(Arrays.copyOfRange(block, 1, 4), ProbabilityRow.of(q));
        report(shape, context, "verify 3, sampled on GPU, q from host", perCall(() -> {
            cache.truncate(context);
            model.scoreAndVerify(block, cache, proposal, picker, false);
        }), bytes);
        try (KeptRows ring = new KeptRows(dev, model, model.config().vocabSize())) {   // q as a level on the GPU keeps it
            CUdeviceptr staged = dev.alloc(4L * q.length * q[0].length);
            for (int i = 0; i < q.length; i++) {
                dev.toDevice(staged.withByteOffset(4L * i * q[i].length), Pointer.to(q[i]), 4L * q[i].length);
            }
            Proposal kept = new Proposal(proposal.tokens(), ring.keep(staged, q.length));
            CudaDevice.free(staged);
            report(shape, context, "verify 3, sampled on GPU, q on GPU", perCall(() -> {
                cache.truncate(context);
                model.scoreAndVerify(block, cache, kept, picker, false);
            }), bytes);
        }
        if (breakdown) {
            cache.truncate(context);
            dev.startProfile();
            model.scoreAndVerify(block, cache, proposal, picker, false);
            printProfile("sampling kernels of a verify of 3 (the step's graph not included)");
        }
        report(shape, context, "verify 3, picks on GPU", perCall(() -> {
            cache.truncate(context);
            model.greedyNext(block, cache, 4);
        }), bytes);
        report(shape, context, "verify 3, p on host", perCall(() -> {
            cache.truncate(context);
            for (float[] row : model.forward(block, cache, 4)) {
                Sampler.distribution(row, sampled);
            }
        }), bytes);
    }

    private double perCall(Runnable call) {
        for (int i = 0; i < 3; i++) {
            call.run();
        }
        double[] ms = new double[trials];
        for (int t = 0; t < trials; t++) {
            long start = System.nanoTime();
            for (int i = 0; i < reps; i++) {
                call.run();
            }
            ms[t] = (System.nanoTime() - start) / 1e6 / reps;
        }
        Arrays.sort(ms);
        return ms[trials / 2];
    }

    /** Kernel times of one uncaptured step, summed per kernel and grid, largest first. */
    private void breakdown(CudaTransformer model, CudaKvCache cache, int context, int n) {
        model.runUncaptured(cache, context, n, tokens(model.config(), n));
        dev.startProfile();
        model.runUncaptured(cache, context, n, tokens(model.config(), n));
        printProfile("kernels, uncaptured");
        Map<String, Double> phases = n == 1 ? model.timeRingPhases(cache, context, tokens(model.config(), n)) : null;
        if (phases != null) {
            System.out.printf("    the persistent step by kind of phase (block 0's clock), %.3f ms in all:%n",
                    phases.values().stream().mapToDouble(Double::doubleValue).sum());
            phases.forEach((kind, ms) -> System.out.printf("    %-40s %8.3f ms%n", kind, ms));
        }
    }

    /** The kernels launched outside graphs since {@link CudaDevice#startProfile}, longest first. */
    private void printProfile(String what) {
        Map<String, Double> ms = dev.stopProfile();
        double total = ms.values().stream().mapToDouble(Double::doubleValue).sum();
        System.out.printf("    %s, %.3f ms in all:%n", what, total);
        ms.entrySet().stream().sorted(Map.Entry.<String, Double>comparingByValue().reversed())
                .forEach(e -> System.out.printf("    %-40s %8.3f ms%n", e.getKey(), e.getValue()));
    }

    private void report(String shape, int context, String step, double ms, long bytes) {
        double floor = bytes / bandwidth * 1e3;
        System.out.printf("%-14s %8d %-22s %9.3f %9.3f %6.1f%%%n", shape, context, step, ms, floor, 100 * floor / ms);
    }

    /** Median over trials of the mean time of {@code reps} back-to-back launches, in ms. */
    private double time(CUgraphExec graph) {
        return dev.timeMs(() -> dev.launch(graph), reps, trials);
    }

    /** Keys and values read by a step whose queries see {@code slots} slots. */
    private static long kvBytes(ModelConfig c, long slots) {
        return slots * c.nLayers() * c.nKvHeads() * c.headDim() * 2L * 2L;
    }

    private static int[] tokens(ModelConfig c, int n) {
        int[] t = new int[CudaTransformer.MAX_TOKENS];
        for (int i = 0; i < n; i++) {
            t[i] = (i * 7919 + 13) % c.vocabSize();
        }
        return t;
    }

    private static int[] ints(String csv) {
        List<Integer> out = new ArrayList<>();
        for (String s : csv.split(",")) {
            out.add(Integer.parseInt(s.trim()));
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }
}
