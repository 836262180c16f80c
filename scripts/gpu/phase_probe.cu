// How fast can one decode step's bytes stream when the step is split into dependent phases?
// A probe for the floor goal (engine/src/main/cuda/PERFORMANCE.md, "What the floor goal would
// take"): no model, no arithmetic, only the step's byte pattern -- per layer the q/k/v, KV-cache,
// o_proj, gate/up and down reads of a shape, then the logits -- streamed these ways:
//   one      all bytes in one kernel (the read roofline)
//   kernels  a kernel per phase, launched with programmatic dependent launch (as the step's graph),
//            each thread streaming the phase at a grid stride ("dD": D loads in flight a thread,
//            4 if not named; "R/SM": R blocks a SM, as many as fit if not named)
//   items    the same, the phase cut into 128 KiB items as a GEMV's blocks take a row tile and a
//            slice of k: a block per item ("waves"; "3/SM": 64 KiB of shared memory holds 3 a SM,
//            as the GEMVs' staging does) or R blocks a SM looping over the items ("loop R/SM");
//            "NK": items of N KiB instead; "woven": an item's 32 KiB rounds interleaved with the
//            other items' (round r of item i reads the phase's piece r x items + i)
//   barrier  one persistent kernel, a grid-wide barrier between phases
//   prefetch the same, every thread issuing its first P loads of the next phase before the
//            barrier (P = 2, 4, 8: 16 bytes each)
//   l2       the barrier form, the blocks prefetching the next phase's first X MB into L2
//            (cp.async.bulk.prefetch, a slice a block) at the start of each phase ("l2start")
//            or just before the barrier ("l2end")
//   ring     one block a SM whose producer warp bulk-copies the block's share of every phase into
//            a shared-memory ring of S x B KiB ahead of the barriers, the other warps reading it
//            ("ring SxBK"; "one": all bytes as one phase, the ring's own streaming rate; "+D us": the
//            consumers busy D us after each hand-off, as a step's RMSNorm, staging and epilogues are;
//            "wW": the producer keeps at most W copies in flight, waiting for copy i - W to land
//            before it issues copy i). Each ring form also prints how many of its buffers had
//            landed when the consumers came back from a hand-off, and in the middle of a phase.
// Each phase ends by writing a word that the next phase reads after its wait (the activation
// hand-off), so no phase can run ahead. Build here (nvcc 13) and run on the device machine:
//   nvcc -O3 -std=c++17 -arch=sm_90 -o .device/phase_probe scripts/gpu/phase_probe.cu
//   .device/phase_probe [llama2-7b|llama31-8b] [context]
#include <cooperative_groups.h>
#include <cstring>
#include <vector>

#include "ring.cuh"

struct Phase {
    size_t offset, count;  // in 16-byte words
};

__device__ __forceinline__ uint4 load_stream(const uint4* p) {
    uint4 r;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}

// Thread `tid` of `threads` reads words tid, tid + threads, ... of the phase, DEPTH in flight.
template <int DEPTH = 4>
__device__ __forceinline__ uint32_t stream_phase(const uint4* base, Phase ph, size_t tid, size_t threads,
                                                 size_t skip) {
    const uint4* p = base + ph.offset;
    uint32_t acc = 0;
    size_t i = tid + skip * threads;
    for (; i + (DEPTH - 1) * threads < ph.count; i += DEPTH * threads) {
        uint4 v[DEPTH];
#pragma unroll
        for (int d = 0; d < DEPTH; d++) v[d] = load_stream(p + i + d * threads);
#pragma unroll
        for (int d = 0; d < DEPTH; d++) acc ^= v[d].x + d;
    }
    for (; i < ph.count; i += threads) acc ^= load_stream(p + i).x;
    return acc;
}

// The hand-off: the phase's result word, written by one thread, read by every block after the wait.
__device__ __forceinline__ uint32_t hand_off_read(const volatile uint32_t* word) { return *word; }

__global__ void one_kernel(const uint4* base, Phase all, uint32_t* sink) {
    uint32_t acc = stream_phase(base, all, blockIdx.x * (size_t) blockDim.x + threadIdx.x,
                                (size_t) gridDim.x * blockDim.x, 0);
    if (acc == 0x9e3779b9u) *sink = acc;
}

template <int DEPTH>
__global__ void phase_kernel(const uint4* base, Phase ph, uint32_t* words, int index) {
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
    asm volatile("griddepcontrol.wait;" ::: "memory");
    uint32_t in = index > 0 ? hand_off_read(words + index - 1) : 0;
    uint32_t acc = stream_phase<DEPTH>(base, ph, blockIdx.x * (size_t) blockDim.x + threadIdx.x,
                                       (size_t) gridDim.x * blockDim.x, 0);
    if (blockIdx.x == 0 && threadIdx.x == 0) words[index] = in + 1;
    if (acc == 0x9e3779b9u) words[index] = acc;
}

// The phase cut into items of `itemWords` (as a GEMV's blocks each take a row tile and a slice of
// k): LOOP = false, a block per item (waves); LOOP = true, each block takes items blockIdx.x,
// blockIdx.x + gridDim.x, ... (a grid sized to stay resident beside the next kernel's blocks).
template <bool LOOP, int DEPTH = 4>
__global__ void item_kernel(const uint4* base, Phase ph, uint32_t* words, int index, size_t itemWords) {
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
    asm volatile("griddepcontrol.wait;" ::: "memory");
    uint32_t in = index > 0 ? hand_off_read(words + index - 1) : 0;
    const size_t items = (ph.count + itemWords - 1) / itemWords;
    uint32_t acc = 0;
    for (size_t it = blockIdx.x; it < items; it += LOOP ? gridDim.x : items) {
        const size_t first = it * itemWords;
        Phase item{ph.offset + first, min(itemWords, ph.count - first)};
        acc ^= stream_phase<DEPTH>(base, item, threadIdx.x, blockDim.x, 0);
    }
    if (blockIdx.x == 0 && threadIdx.x == 0) words[index] = in + 1;
    if (acc == 0x9e3779b9u) words[index] = acc;
}

// Items of `itemWords` whose 32 KiB rounds are interleaved across the items: round r of item i
// reads the phase's piece r * items + i, so the blocks streaming at once read neighbouring pieces
// (as 32 KiB items do) while each block still reads itemWords in all.
__global__ void woven_item_kernel(const uint4* base, Phase ph, uint32_t* words, int index, size_t itemWords) {
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
    asm volatile("griddepcontrol.wait;" ::: "memory");
    uint32_t in = index > 0 ? hand_off_read(words + index - 1) : 0;
    const size_t round = (size_t) blockDim.x * 8, pieces = (ph.count + round - 1) / round;
    const size_t items = (ph.count + itemWords - 1) / itemWords, rounds = itemWords / round;
    uint32_t acc = 0;
    for (size_t r = 0; r < rounds; r++) {
        const size_t piece = r * items + blockIdx.x;
        if (piece >= pieces) break;
        Phase item{ph.offset + piece * round, min(round, ph.count - piece * round)};
        acc ^= stream_phase<8>(base, item, threadIdx.x, blockDim.x, 0);
    }
    if (blockIdx.x == 0 && threadIdx.x == 0) words[index] = in + 1;
    if (acc == 0x9e3779b9u) words[index] = acc;
}

// Where the persistent form prefetches the next phase's first `prefetch` words into L2: nowhere,
// at the start of the current phase, or just before the barrier.
enum { NO_L2 = 0, L2_START = 1, L2_END = 2 };

// Thread 0 of each block issues the bulk L2 prefetch of its slice of the first `prefetch` words of nx.
__device__ __forceinline__ void prefetch_l2(const uint4* base, Phase nx, size_t prefetch) {
    if (threadIdx.x != 0) return;
    size_t total = prefetch < nx.count ? prefetch : nx.count;
    size_t per = (total + gridDim.x - 1) / gridDim.x, first = blockIdx.x * per;
    if (first >= total) return;
    size_t count = total - first < per ? total - first : per;
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(base + nx.offset + first),
                 "r"((uint32_t) (count * 16)) : "memory");
}

// One cooperative kernel, a grid barrier between phases; before the barrier every thread may load
// its first P words of the next phase into registers, and the blocks may prefetch into L2 (L2).
template <int P, int L2>
__global__ void persistent(const uint4* base, const Phase* phases, int n, uint32_t* words, size_t prefetch) {
    namespace cg = cooperative_groups;
    cg::grid_group grid = cg::this_grid();
    const size_t tid = blockIdx.x * (size_t) blockDim.x + threadIdx.x, threads = (size_t) gridDim.x * blockDim.x;
    uint32_t acc = 0, in = 0;
    uint4 next[P > 0 ? P : 1];
    for (int k = 0; k < n; k++) {
        Phase ph = phases[k];
        if (L2 == L2_START && k + 1 < n) prefetch_l2(base, phases[k + 1], prefetch);
        size_t skip = 0;
        if (P > 0 && k > 0) {   // the words loaded before the barrier
#pragma unroll
            for (int j = 0; j < P; j++) acc ^= next[j].x;
            skip = P;
        }
        acc ^= stream_phase(base, ph, tid, threads, skip);
        if (blockIdx.x == 0 && threadIdx.x == 0) words[k] = in + 1;
        if (P > 0 && k + 1 < n) {
            Phase nx = phases[k + 1];
#pragma unroll
            for (int j = 0; j < P; j++) next[j] = load_stream(base + nx.offset + tid + j * threads);
        }
        if (L2 == L2_END && k + 1 < n) prefetch_l2(base, phases[k + 1], prefetch);
        grid.sync();
        in = hand_off_read(words + k);
    }
    if (acc == 0x9e3779b9u) words[n] = acc;
}

// ---- The ring form: weights stream into shared memory ahead of the phase barriers ----------------
// One block a SM: warp 0 is the producer, the others consume. The producer walks the block's slice
// of every phase in order and bulk-copies it (cp.async.bulk, completion on an mbarrier) into a
// ring of STAGES buffers of `chunk` bytes, never waiting on a phase barrier: only on a free buffer.
// The consumers wait for the previous phase's hand-off (a grid-wide counter), read each buffer as
// it fills and give it back. So HBM keeps streaming across phase boundaries for as long as the
// ring holds, and only the consumers (in a decode step: the arithmetic on the activations) wait.
// Every consumer reads every buffer in order, so it waits on a buffer's fill only after it read
// the buffer's previous round: a parity is then enough, even with copies completing out of order.

// Block b's chunks of a phase: b, b + blocks, b + 2 blocks, ... of `chunkWords` 16-byte words each
// (interleaved, so that at any time the blocks read neighbouring chunks, as a grid-stride loop does).
// Chunk c of the block starts at word `first(c)` and has `words(c)` words.
struct BlockChunks {
    size_t count, chunkWords, stride;
    uint32_t chunks;
    __device__ BlockChunks(Phase ph, uint32_t cw) : count(ph.count), chunkWords(cw), stride((size_t) gridDim.x * cw) {
        size_t all = (count + cw - 1) / cw;
        chunks = (uint32_t) (all > blockIdx.x ? (all - blockIdx.x + gridDim.x - 1) / gridDim.x : 0);
    }
    __device__ size_t first(uint32_t c) const { return blockIdx.x * chunkWords + c * stride; }
    __device__ uint32_t words(uint32_t c) const { return (uint32_t) min(chunkWords, count - first(c)); }
};

constexpr int RING_CONSUMERS = 8;   // consumer warps a block

// How full the ring is when the consumers come back from a hand-off ([0]) and in the middle of a
// phase ([1]): buffers landed, summed over blocks and phases, and the number of samples.
__device__ unsigned long long landedSamples[2][2];

// Thread 0 of the consumers: counts the buffers of copies i .. i + STAGES - 1 that have landed into
// landedSamples[at].
template <int STAGES>
__device__ void count_landed(uint64_t* full, uint32_t i, int at) {
    uint32_t landed = 0;
    for (uint32_t j = 0; j < STAGES; j++) landed += mbar_test(&full[(i + j) % STAGES], ((i + j) / STAGES) & 1);
    atomicAdd(&landedSamples[at][0], landed);
    atomicAdd(&landedSamples[at][1], 1ull);
}

template <int STAGES>
__global__ void __launch_bounds__(32 * (RING_CONSUMERS + 1), 1)
ring(const uint4* base, const Phase* phases, int n, uint32_t* words, uint32_t* arrived, uint32_t chunkWords,
     uint32_t delayNs, uint32_t window) {
    extern __shared__ uint4 buf[];              // [STAGES][chunkWords]
    __shared__ uint64_t full[STAGES], empty[STAGES];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    ring_init(full, empty, STAGES, RING_CONSUMERS);
    if (warp == 0) {   // producer
        if (lane != 0) return;
        uint32_t i = 0;
        for (int k = 0; k < n; k++) {
            BlockChunks bc(phases[k], chunkWords);
            for (uint32_t c = 0; c < bc.chunks; c++, i++) {
                const int s = i % STAGES;
                ring_wait_to_issue(full, empty, STAGES, i, window);
                bulk_load(buf + (size_t) s * chunkWords, base + phases[k].offset + bc.first(c), bc.words(c) * 16, &full[s]);
            }
        }
        return;
    }
    const int ctid = threadIdx.x - 32, cthreads = 32 * RING_CONSUMERS;
    uint32_t acc = 0, in = 0, i = 0;
    for (int k = 0; k < n; k++) {
        BlockChunks bc(phases[k], chunkWords);
        for (uint32_t c = 0; c < bc.chunks; c++, i++) {
            const int s = i % STAGES;
            if (ctid == 0 && (c & 7) == 4) count_landed<STAGES>(full, i, 1);   // mid-phase, before the wait
            mbar_wait(&full[s], (i / STAGES) & 1);
            const uint32_t m = bc.words(c);
            const uint4* b = buf + (size_t) s * chunkWords;
            for (uint32_t j = ctid; j < m; j += cthreads) acc ^= b[j].x + in;
            __syncwarp();
            if (lane == 0) mbar_arrive(&empty[s]);
        }
        // The hand-off: every block's consumers done with phase k before any reads phase k + 1.
        asm volatile("bar.sync 1, %0;" ::"r"(cthreads) : "memory");
        if (ctid == 0) {
            if (blockIdx.x == 0) words[k] = in + 1;
            grid_hand_off(arrived, k);
            // A step's consumers have work after the hand-off before they read weights again
            // (RMSNorm, staging, epilogues): `delayNs` of it, the ring filling meanwhile.
            for (uint64_t t0 = globaltimer(); globaltimer() - t0 < delayNs;) {
            }
            count_landed<STAGES>(full, i, 0);
        }
        asm volatile("bar.sync 1, %0;" ::"r"(cthreads) : "memory");
        in = hand_off_read(words + k);
    }
    if (acc == 0x9e3779b9u) words[n] = acc;
}

int main(int argc, char** argv) {
    const char* shape = argc > 1 ? argv[1] : "llama2-7b";
    const size_t context = argc > 2 ? strtoull(argv[2], nullptr, 10) : 4096;
    size_t dim = 4096, hidden = 11008, layers = 32, kvDim = 4096, vocab = 32000;
    if (!strcmp(shape, "llama31-8b")) {
        hidden = 14336, kvDim = 1024, vocab = 128256;
    } else if (strcmp(shape, "llama2-7b")) {
        fprintf(stderr, "shapes: llama2-7b, llama31-8b\n");
        return 2;
    }
    std::vector<Phase> phases;
    size_t words = 0;
    auto add = [&](size_t bytes) {
        phases.push_back({words, bytes / 16});
        words += bytes / 16;
    };
    for (size_t l = 0; l < layers; l++) {
        add(2 * dim * (dim + 2 * kvDim));       // q/k/v
        add(2 * 2 * context * kvDim);           // K and V of the context
        add(2 * dim * dim);                     // o_proj
        add(2 * 2 * hidden * dim);              // gate/up
        add(2 * hidden * dim);                  // down
    }
    add(2 * vocab * dim);                       // logits
    const int n = (int) phases.size();
    const double gb = words * 16.0 / 1e9;

    uint4* base;
    uint32_t* handOff;
    Phase* devPhases;
    CHECK(cudaMalloc(&base, words * 16));
    CHECK(cudaMemset(base, 1, words * 16));
    CHECK(cudaMalloc(&handOff, 4 * (n + 1)));
    CHECK(cudaMemset(handOff, 0, 4 * (n + 1)));
    CHECK(cudaMalloc(&devPhases, sizeof(Phase) * n));
    CHECK(cudaMemcpy(devPhases, phases.data(), sizeof(Phase) * n, cudaMemcpyHostToDevice));
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    // Each form runs as many blocks of 256 threads as fit (the persistent ones must all be resident;
    // they share the grid of the form with the most registers).
    int perSm = 0, perSmPhase = 0;
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, persistent<8, NO_L2>, 256, 0));
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSmPhase, phase_kernel<4>, 256, 0));
    const int grid = prop.multiProcessorCount * perSm, gridPhase = prop.multiProcessorCount * perSmPhase;
    cudaStream_t stream;
    CHECK(cudaStreamCreate(&stream));
    cudaEvent_t t0, t1;
    CHECK(cudaEventCreate(&t0));
    CHECK(cudaEventCreate(&t1));

    auto time = [&](const char* name, auto launch) {
        launch();
        CHECK(cudaStreamSynchronize(stream));
        float best = 1e30f;
        for (int rep = 0; rep < 5; rep++) {
            CHECK(cudaEventRecord(t0, stream));
            launch();
            CHECK(cudaEventRecord(t1, stream));
            CHECK(cudaEventSynchronize(t1));
            float ms;
            CHECK(cudaEventElapsedTime(&ms, t0, t1));
            if (ms < best) best = ms;
        }
        printf("%-24s %8.3f ms  %5.2f TB/s  (floor at 3.2 TB/s: %.3f ms)\n", name, best, gb / best,
               gb / 3.2);
    };
    printf("%s, context %zu: %d phases, %.2f GB; blocks of 256 threads a SM: %d (one, kernels), %d (persistent)\n",
           shape, context, n, gb, perSmPhase, perSm);
    time("one", [&] { one_kernel<<<gridPhase, 256, 0, stream>>>(base, Phase{0, words}, handOff + n); });
    // A graph of a kernel per phase under programmatic dependent launch: launch(k, cfg) launches
    // phase k's kernel with cfg (blocks of 256 threads on the stream, the PDL attribute set).
    auto graphForm = [&](const char* name, auto launch) {
        cudaGraph_t graph;
        cudaGraphExec_t exec;
        CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
        for (int k = 0; k < n; k++) {
            cudaLaunchConfig_t cfg = {};
            cudaLaunchAttribute attr;
            attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
            attr.val.programmaticStreamSerializationAllowed = 1;
            cfg.blockDim = 256;
            cfg.stream = stream;
            cfg.attrs = &attr;
            cfg.numAttrs = 1;
            launch(k, cfg);
        }
        CHECK(cudaStreamEndCapture(stream, &graph));
        CHECK(cudaGraphInstantiate(&exec, graph, 0));
        time(name, [&] { CHECK(cudaGraphLaunch(exec, stream)); });
    };
    auto kernelsForm = [&](const char* name, void (*kernel)(const uint4*, Phase, uint32_t*, int), int blocksPerSm) {
        graphForm(name, [&](int k, cudaLaunchConfig_t& cfg) {
            cfg.gridDim = prop.multiProcessorCount * blocksPerSm;
            CHECK(cudaLaunchKernelEx(&cfg, kernel, (const uint4*) base, phases[k], handOff, k));
        });
    };
    // Items of 128 KiB: a block per item with 64 KiB of shared memory (3 blocks a SM, as the GEMVs'
    // staging holds them), or R blocks a SM looping over the items.
    auto itemsForm = [&](const char* name, bool loop, int blocksPerSm, size_t smem,
                         void (*waves)(const uint4*, Phase, uint32_t*, int, size_t) = item_kernel<false>,
                         size_t itemKiB = 128) {
        const size_t itemWords = itemKiB * 64;
        auto kernel = loop ? item_kernel<true> : waves;
        CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem));
        graphForm(name, [&](int k, cudaLaunchConfig_t& cfg) {
            const size_t items = (phases[k].count + itemWords - 1) / itemWords;
            cfg.gridDim = loop ? (unsigned) min(items, (size_t) prop.multiProcessorCount * blocksPerSm) : (unsigned) items;
            cfg.dynamicSmemBytes = smem;
            CHECK(cudaLaunchKernelEx(&cfg, kernel, (const uint4*) base, phases[k], handOff, k, itemWords));
        });
    };
    itemsForm("items waves 3/SM", false, 0, 64 << 10);
    itemsForm("items waves", false, 0, 0);
    itemsForm("items waves d2 3/SM", false, 0, 64 << 10, item_kernel<false, 2>);
    itemsForm("items waves d8 3/SM", false, 0, 64 << 10, item_kernel<false, 8>);
    itemsForm("items 32K d8 3/SM", false, 0, 64 << 10, item_kernel<false, 8>, 32);
    itemsForm("items 64K d8 3/SM", false, 0, 64 << 10, item_kernel<false, 8>, 64);
    itemsForm("items 256K d8 3/SM", false, 0, 64 << 10, item_kernel<false, 8>, 256);
    itemsForm("items 512K d8 3/SM", false, 0, 64 << 10, item_kernel<false, 8>, 512);
    itemsForm("items 256K woven 3/SM", false, 0, 64 << 10, woven_item_kernel, 256);
    itemsForm("items 128K woven 3/SM", false, 0, 64 << 10, woven_item_kernel, 128);
    itemsForm("items 256K d16 3/SM", false, 0, 64 << 10, item_kernel<false, 16>, 256);
    itemsForm("items 256K d32 2/SM", false, 0, 100 << 10, item_kernel<false, 32>, 256);
    itemsForm("items 128K d16 3/SM", false, 0, 64 << 10, item_kernel<false, 16>, 128);
    itemsForm("items 64K d16 3/SM", false, 0, 64 << 10, item_kernel<false, 16>, 64);
    itemsForm("items 32K d8 6/SM", false, 0, 34 << 10, item_kernel<false, 8>, 32);
    itemsForm("items 16K d4 6/SM", false, 0, 34 << 10, item_kernel<false, 4>, 16);
    itemsForm("items waves 2/SM", false, 0, 100 << 10);
    itemsForm("items waves d8 2/SM", false, 0, 100 << 10, item_kernel<false, 8>);
    itemsForm("items waves 4/SM", false, 0, 52 << 10);
    itemsForm("items waves d2 6/SM", false, 0, 34 << 10, item_kernel<false, 2>);
    itemsForm("items loop 1/SM", true, 1, 64 << 10);
    itemsForm("items loop 2/SM", true, 2, 64 << 10);
    itemsForm("items loop 3/SM", true, 3, 64 << 10);
    kernelsForm("kernels", phase_kernel<4>, perSmPhase);
    kernelsForm("kernels d2", phase_kernel<2>, perSmPhase);
    kernelsForm("kernels d1", phase_kernel<1>, perSmPhase);
    kernelsForm("kernels d8", phase_kernel<8>, perSmPhase);
    kernelsForm("kernels 4/SM", phase_kernel<4>, 4);
    kernelsForm("kernels 2/SM", phase_kernel<4>, 2);

    auto cooperative = [&](const char* name, const void* kernel, size_t prefetch) {
        void* args[] = {&base, &devPhases, (void*) &n, &handOff, &prefetch};
        time(name, [&] { CHECK(cudaLaunchCooperativeKernel(kernel, grid, 256, args, 0, stream)); });
    };
    cooperative("barrier", (const void*) persistent<0, NO_L2>, 0);
    cooperative("prefetch2", (const void*) persistent<2, NO_L2>, 0);
    cooperative("prefetch4", (const void*) persistent<4, NO_L2>, 0);
    cooperative("prefetch8", (const void*) persistent<8, NO_L2>, 0);
    for (size_t mb : {4, 16, 32}) {
        char name[32];
        snprintf(name, sizeof name, "l2start %zu", mb);
        cooperative(name, (const void*) persistent<0, L2_START>, mb << 16);   // in 16-byte words
        snprintf(name, sizeof name, "l2end %zu", mb);
        cooperative(name, (const void*) persistent<0, L2_END>, mb << 16);
    }
    uint32_t* arrived;
    CHECK(cudaMalloc(&arrived, 4));
    Phase* devAll;   // every byte as one phase: the ring's own streaming rate, no barriers
    const Phase all{0, words};
    CHECK(cudaMalloc(&devAll, sizeof(Phase)));
    CHECK(cudaMemcpy(devAll, &all, sizeof(Phase), cudaMemcpyHostToDevice));
    auto ringForm = [&](const void* kernel, int stages, uint32_t chunkBytes, bool one = false, uint32_t delayNs = 0,
                        uint32_t window = 0) {
        uint32_t chunkWords = chunkBytes / 16;
        size_t smem = (size_t) stages * chunkBytes;
        CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem));
        int phaseCount = one ? 1 : n;
        void* args[] = {&base, one ? &devAll : &devPhases, &phaseCount, &handOff, &arrived, &chunkWords, &delayNs, &window};
        char name[64];
        snprintf(name, sizeof name, "ring %dx%uK%s", stages, chunkBytes >> 10, one ? " one" : "");
        if (delayNs > 0) snprintf(name + strlen(name), sizeof name - strlen(name), " +%gus", delayNs / 1000.0);
        if (window > 0) snprintf(name + strlen(name), sizeof name - strlen(name), " w%u", window);
        unsigned long long counts[2][2] = {};
        CHECK(cudaMemcpyToSymbol(landedSamples, counts, sizeof counts));
        time(name, [&] {
            CHECK(cudaMemsetAsync(arrived, 0, 4, stream));
            CHECK(cudaLaunchCooperativeKernel(kernel, prop.multiProcessorCount, 32 * (RING_CONSUMERS + 1), args,
                                              smem, stream));
        });
        CHECK(cudaMemcpyFromSymbol(counts, landedSamples, sizeof counts));
        const char* where[] = {"at a hand-off", "mid-phase"};
        for (int at = 0; at < 2; at++) {
            if (counts[at][1] > 0) {
                printf("    buffers landed %s: %.1f of %d\n", where[at], (double) counts[at][0] / counts[at][1], stages);
            }
        }
    };
    ringForm((const void*) ring<24>, 24, 8 << 10);
    ringForm((const void*) ring<12>, 12, 16 << 10);
    ringForm((const void*) ring<6>, 6, 32 << 10);
    ringForm((const void*) ring<8>, 8, 8 << 10);
    ringForm((const void*) ring<24>, 24, 8 << 10, true);
    for (uint32_t us : {2, 4, 8}) ringForm((const void*) ring<24>, 24, 8 << 10, false, us * 1000);
    for (uint32_t w : {4, 5, 6, 8, 12})
        for (uint32_t ns : {0, 1000, 2000, 3000, 4000}) ringForm((const void*) ring<24>, 24, 8 << 10, false, ns, w);
    for (uint32_t ns : {0, 2000, 4000}) ringForm((const void*) ring<16>, 16, 8 << 10, false, ns, 4);
    return 0;
}
