// The one-token step (decode, the retrieval draft) as one persistent kernel: a block per SM, 8
// consumer warps and a producer warp, a grid-wide hand-off between phases (per layer: q/k/v,
// attention, combine, o_proj, gate/up, down; then the logits). No kernel edges: the producer
// bulk-copies the block's weights of the GEMV phases into a shared-memory ring ahead of the
// consumers, across the hand-offs, with at most RING_WINDOW copies in flight (a greedy producer
// fills the ring while the consumers wait at a hand-off, and HBM idles there: scripts/gpu/
// phase_probe.cu). The attention phase runs in the ring's memory, so the ring stops for it.
//
// Same bits as the graph of kernels (CudaBackendTest): a GEMV phase takes the one-token kernels'
// split -- slice s of a row tile is warp task (tile, s), its chunks summed by gemv_chunk in order,
// the slices added in order by the last warp of the tile to finish, which runs the tile's epilogue
// (RoPE + cache append, SwiGLU, residual, logits) as gemv_resid1 and the sliced epilogue do; the
// RMSNorms take their inverse RMS as gemv_qkv8 (from embed's sums) and gemv_*8x (from x) do; the
// attention and combine run the kernels' own code (attention_rows16, combine_body) per (split, KV
// head) and per head.
#pragma once
#include <cstddef>

#include "mbarrier.cuh"

#define RING_CONSUMERS 8
#define RING_THREADS (32 * (RING_CONSUMERS + 1))
#define RING_BUFFER 8192                  // bytes a ring buffer: 8 chunks of a row tile
#define RING_BATCH (RING_BUFFER / 1024)   // chunks a buffer (16 rows x 32 k, bf16: 1 KiB each)
#define RING_MAX_SLOTS 24
#ifndef RING_WINDOW   // -DRING_WINDOW=N: variant builds (scripts/gpu/ab.sh)
#define RING_WINDOW 5     // copies in flight at most (phase_probe: 4-6; decode 7B 4K with 4 / 7: 6.22 / 6.33 ms, 6.21 with 5)
#endif
#define RING_PART_TILES 8                 // row tiles whose slice sums wait for their epilogue at once
#define RING_MAX_LAYERS 80
#define RING_CONSUMERS_BAR 3              // sync_part barrier of the consumer warps (1, 2: attention groups)
#define RING_ALL_BAR 4                    // consumers and producer: the attention's memory is the ring's

// CudaRingStep writes these structs byte by byte.
struct RingMatrix {
    const uint4* W;   // tiled (triforce.cu)
    int rows, kChunks, cps, slices;
    int pad[2];
};
static_assert(sizeof(RingMatrix) == 32, "RingMatrix must match CudaRingStep");

struct RingLayer {
    RingMatrix qkv, wo, gateUp, down;
    const float* attentionNorm;
    const float* ffnNorm;
    uint16_t* kc;       // the cache's keys and values of the layer
    uint16_t* vc;
    float* lastQuery;   // fp32 [nHeads][hd] (retrieval scoring)
};
static_assert(sizeof(RingLayer) == 168, "RingLayer must match CudaRingStep");

struct RingStep {
    RingMatrix lmHead;
    const float* finalNorm;
    const StepParams* p;
    float* x;               // fp32 [dim] residual stream
    const float* ssEmbed;   // embed's sums of squares per 128-row group
    uint16_t* actHi;        // o_proj's and down's inputs (the combine's and gate/up's outputs)
    uint16_t* actLo;
    uint16_t* q;
    const float2* rope;
    float* logits;
    float* po;              // the attention's split partials (the cache's)
    float* pm;
    float* pl;
    uint32_t* arrived;      // the grid hand-off's count, 0 at launch
    uint64_t* times;        // null, or [phases + 1]: block 0's clock at the start and after each phase (profiling)
    int nLayers, withLogits, ssGroups;
    int nHeads, nKv, capacity, splitLength;
    int slots, stageChunks;   // ring buffers; chunks a consumer warp stages at most (the largest cps)
    int pad;
    float eps, scaleLog2;
    RingLayer layers[RING_MAX_LAYERS];
};
static_assert(offsetof(RingStep, layers) == 192, "RingStep must match CudaRingStep");

enum { RING_QKV, RING_ATT, RING_CMB, RING_OPROJ, RING_GATEUP, RING_DOWN, RING_KINDS, RING_LOGITS = RING_KINDS };

__device__ __forceinline__ int ring_phases(const RingStep& s) { return RING_KINDS * s.nLayers + s.withLogits; }

__device__ __forceinline__ int ring_kind(const RingStep& s, int p) {
    return p < RING_KINDS * s.nLayers ? p % RING_KINDS : RING_LOGITS;
}

// The matrix of GEMV phase p; null for the attention and combine phases.
__device__ __forceinline__ const RingMatrix* ring_matrix(const RingStep& s, int p) {
    switch (ring_kind(s, p)) {
        case RING_QKV: return &s.layers[p / RING_KINDS].qkv;
        case RING_OPROJ: return &s.layers[p / RING_KINDS].wo;
        case RING_GATEUP: return &s.layers[p / RING_KINDS].gateUp;
        case RING_DOWN: return &s.layers[p / RING_KINDS].down;
        case RING_LOGITS: return &s.lmHead;
        default: return nullptr;
    }
}

// The block's row tiles of a matrix: blockIdx.x, + gridDim.x, ...
__device__ __forceinline__ int ring_tiles(const RingMatrix& m) {
    const int rowTiles = (m.rows + 15) >> 4;
    return (int) blockIdx.x < rowTiles ? (rowTiles - 1 - (int) blockIdx.x) / (int) gridDim.x + 1 : 0;
}

// Consumer warp w owns buffers w, w + 8, ... (a buffer is read by one warp only, so a warp never
// waits on a buffer's parity two rounds ahead of its copy); its n-th copy goes to the (n mod owned)-th.
__device__ __forceinline__ int ring_owned(int slots, int w) { return (slots - w + RING_CONSUMERS - 1) / RING_CONSUMERS; }

// The producer warp (lane 0 issues): every GEMV phase's chunks in batches of RING_BATCH, task k =
// (tile k / slices, slice k % slices) being warp k % 8's, each warp's tasks and batches in order.
// Across warps it goes round, one copy a warp with a free buffer, skipping the warps whose buffers
// are all full: a warp that stops (staging its next slice, running a tile's epilogue) does not
// stop the stream into the others. (Issued strictly in turn, decode at Llama-2-7B 4K took 6.2 ms
// where the graph of kernels takes 5.7; task by task, 10.1 ms.)
__device__ void ring_produce(const RingStep& s, uint8_t* ring, uint64_t* full, uint64_t* empty) {
    const int lane = threadIdx.x & 31;
    // Per consumer warp (registers: the loops over the warps are unrolled): its buffers, the next one
    // (w + 8 cursor), and that buffer's round.
    int owned[RING_CONSUMERS], cursor[RING_CONSUMERS];
    uint32_t round[RING_CONSUMERS];
#pragma unroll
    for (int w = 0; w < RING_CONSUMERS; w++) {
        owned[w] = ring_owned(s.slots, w);
        cursor[w] = 0;
        round[w] = 0;
    }
    uint32_t slotRound[RING_MAX_SLOTS];   // the round of each buffer's latest copy
    int windowSlot[RING_WINDOW];          // the last RING_WINDOW copies' buffers and rounds, oldest first
    uint32_t windowRound[RING_WINDOW];
#pragma unroll
    for (int h = 0; h < RING_WINDOW; h++) windowSlot[h] = -1;
    for (int p = 0; p < ring_phases(s); p++) {
        if (ring_kind(s, p) == RING_ATT) {   // the attention runs in the ring's memory: wait until it is done
            __syncwarp();
            sync_part(RING_ALL_BAR, RING_THREADS);
            fence_proxy_async();
            continue;
        }
        if (ring_matrix(s, p) == nullptr || lane != 0) continue;
        const RingMatrix m = *ring_matrix(s, p);   // in registers: the waits below clobber memory
        const int tasks = ring_tiles(m) * m.slices;
        // Each warp's current task (k: w, w + 8, ...), its first chunk and chunk count, and the next batch.
        int k[RING_CONSUMERS] = {}, c[RING_CONSUMERS], nc[RING_CONSUMERS];
        const uint4* src[RING_CONSUMERS];
        int busy = 0;   // warps with tasks left
        auto start_task = [&](int w) {
            const int tile = blockIdx.x + (k[w] / m.slices) * gridDim.x, c0 = (k[w] % m.slices) * m.cps;
            nc[w] = min(m.cps, m.kChunks - c0);
            src[w] = m.W + ((size_t) tile * m.kChunks + c0) * 64;
            c[w] = 0;
        };
#pragma unroll
        for (int w = 0; w < RING_CONSUMERS; w++) {
            k[w] = w;
            if (w < tasks) {
                start_task(w);
                busy++;
            }
        }
        while (busy > 0) {
#pragma unroll
            for (int w = 0; w < RING_CONSUMERS; w++) {
                if (k[w] >= tasks) continue;
                const int slot = w + RING_CONSUMERS * cursor[w];
                if (!mbar_test(&empty[slot], (round[w] & 1) ^ 1)) continue;   // its buffers are full
                // At most RING_WINDOW copies in flight: the oldest of the last ones has landed (or its
                // buffer was read and filled again since).
                if (windowSlot[0] >= 0 && slotRound[windowSlot[0]] == windowRound[0]) {
                    mbar_wait(&full[windowSlot[0]], windowRound[0] & 1);
                }
                bulk_load(ring + (size_t) slot * RING_BUFFER, src[w] + (size_t) c[w] * 64,
                          min(RING_BATCH, nc[w] - c[w]) * 1024, &full[slot]);
                slotRound[slot] = round[w];
#pragma unroll
                for (int h = 0; h + 1 < RING_WINDOW; h++) {
                    windowSlot[h] = windowSlot[h + 1];
                    windowRound[h] = windowRound[h + 1];
                }
                windowSlot[RING_WINDOW - 1] = slot;
                windowRound[RING_WINDOW - 1] = round[w];
                if (++cursor[w] == owned[w]) {
                    cursor[w] = 0;
                    round[w]++;
                }
                c[w] += RING_BATCH;
                if (c[w] >= nc[w]) {
                    k[w] += RING_CONSUMERS;
                    if (k[w] < tasks) {
                        start_task(w);
                    } else {
                        busy--;
                    }
                }
            }
        }
    }
}

// Row tile `tile`'s epilogue from its slices' sums [slice][16 rows], by one warp, as gemv_epilogue
// (OUT_ROPE, OUT_SWIGLU, OUT_LOGITS) and gemv_resid1 (OUT_RESID) run it for one token.
template <int OUT>
__device__ __forceinline__ void ring_epilogue(const GemvArgs& a, const float* sums, int slices, int tile, int lane) {
    if (OUT == OUT_ROPE || OUT == OUT_SWIGLU) {
        if (lane < 8) {   // rows g and g + 8 of the tile
            float u = 0.f, v = 0.f;
            for (int s = 0; s < slices; s++) {
                u += sums[s * 16 + lane];
                v += sums[s * 16 + lane + 8];
            }
            finish_pair<OUT>(a, 0, tile, lane, u, v, pair_rope<OUT>(a, 0, tile, lane));
        }
        return;
    }
    const int r = tile * 16 + lane;
    if (lane >= 16 || r >= a.rows) return;
    float sum = 0.f;
    for (int s = 0; s < slices; s++) sum += sums[s * 16 + lane];
    if (OUT == OUT_LOGITS) {
        a.logits[r] = sum;
    } else {
        a.x[r] = __fadd_rn(a.x[r], sum);
    }
}

// Where the consumers of a block keep a GEMV phase's state in shared memory.
struct RingConsumer {
    uint8_t* ring;
    uint64_t* full;
    uint64_t* empty;
    uint4* staged;            // [8 warps][stageChunks x 4 hi, then x 4 lo]
    float* part;              // [RING_PART_TILES][TILE_MAX_SLICES][16]: the slices' sums of a tile
    int* tileCount;           // [RING_PART_TILES]: slices summed of the tile there
    volatile int* tileNext;   // [RING_PART_TILES]: the block's tile (of this phase) that may use it next
    int slots, stageChunks;
    uint32_t taken;           // copies this warp has read
};

// A GEMV phase, by consumer warp w: its tasks k = w, w + 8, ... (row tile b + (k / slices) gridDim.x,
// slice k % slices), each staging its slice's activations (gemv_resid1's compact form; IN_NORM with the
// inverse RMS inv), summing the slice's chunks from the ring, then leaving the sum for the tile's last task.
template <int IN, int OUT>
__device__ __forceinline__ void ring_gemv(const GemvArgs& a, const RingMatrix m, const float* inv, RingConsumer& rc) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int tasks = ring_tiles(m) * m.slices;
    const uint32_t owned = ring_owned(rc.slots, w);
    uint4* xs_hi = rc.staged + (size_t) w * rc.stageChunks * 8;
    uint4* xs_lo = xs_hi + rc.stageChunks * 4;
    int stagedSlice = -1;
    for (int k = w; k < tasks; k += RING_CONSUMERS) {
        const int j = k / m.slices, sl = k % m.slices, tile = blockIdx.x + j * gridDim.x;
        const int c0 = sl * m.cps, nc = min(m.cps, m.kChunks - c0);
        if (sl != stagedSlice) {
            __syncwarp();
            gemv_stage<1, IN, true>(a, xs_hi, xs_lo, c0, nc, inv);
            __syncwarp();
            stagedSlice = sl;
        }
        float acc[1][4] = {{0.f, 0.f, 0.f, 0.f}};
        for (int c = 0; c < nc; c += RING_BATCH, rc.taken++) {
            const int slot = w + RING_CONSUMERS * (rc.taken % owned);
            mbar_wait(&rc.full[slot], (rc.taken / owned) & 1);
            const uint4* buf = (const uint4*) (rc.ring + (size_t) slot * RING_BUFFER) + lane;
            if (nc - c >= RING_BATCH) {
#pragma unroll
                for (int b = 0; b < RING_BATCH; b++) gemv_chunk<1, true>(acc, buf[b * 64], buf[b * 64 + 32], xs_hi, xs_lo, c + b, lane);
            } else {
                for (int b = 0; b < nc - c; b++) gemv_chunk<1, true>(acc, buf[b * 64], buf[b * 64 + 32], xs_hi, xs_lo, c + b, lane);
            }
            __syncwarp();
            if (lane == 0) mbar_arrive(&rc.empty[slot]);
        }
        // The slice's sum of rows g and g + 8 (column 0: the token), then the tile's last slice adds them all.
        const int at = j % RING_PART_TILES;
        while (rc.tileNext[at] != j) {
        }
        float* sums = rc.part + at * TILE_MAX_SLICES * 16;
        if ((lane & 3) == 0) {
            sums[sl * 16 + (lane >> 2)] = acc[0][0];
            sums[sl * 16 + (lane >> 2) + 8] = acc[0][2];
        }
        __threadfence_block();
        __syncwarp();
        int last = 0;
        if (lane == 0) last = atomicAdd(&rc.tileCount[at], 1) == m.slices - 1;
        if (__shfl_sync(0xffffffffu, last, 0)) {
            __threadfence_block();
            ring_epilogue<OUT>(a, sums, m.slices, tile, lane);
            __syncwarp();
            if (lane == 0) {
                rc.tileCount[at] = 0;
                __threadfence_block();
                rc.tileNext[at] = j + RING_PART_TILES;
            }
        }
    }
}

// The attention phase of layer L: items (split, KV head) over the block's two 4-warp groups, each
// running the attention kernels' at-most-16-rows path in its half of the ring's memory.
template <int HD>
__device__ void ring_attention(const RingStep& s, const RingLayer& L, uint8_t* ring) {
    constexpr int LD = HD + 8;
    const int group = threadIdx.x >> 7;
    uint16_t* ks = (uint16_t*) ring + (size_t) group * 4 * ATT_TILE * LD;   // [2][ATT_TILE][LD]
    uint16_t* vs = ks + 2 * ATT_TILE * LD;                                    // [2][ATT_TILE][LD]
    const int slot0 = s.p->slot, total = slot0 + 1, S = s.splitLength;
    const int splits = (total + S - 1) / S;
    // Items split by split, so the last split's (the step's newest keys: often a tile or less) come
    // last and each group takes at most one more full split than any other (split-minor, groups 0-15
    // took three full splits where the rest took two at Llama-2-7B 4K and 64K: 512 + 32 items).
    for (int item = blockIdx.x * 2 + group; item < splits * s.nKv; item += 2 * gridDim.x) {
        const int split = item / s.nKv, kvh = item % s.nKv;
        const int kStart = split * S, kEnd = min(kStart + S, total);
        const uint16_t* kbase = L.kc + (size_t) kvh * s.capacity * HD;
        const uint16_t* vbase = L.vc + (size_t) kvh * s.capacity * HD;
        auto load_tile = [&](int tile, int buf) {
            load_kv_tile<HD>(ks, vs, kbase, vbase, kStart + tile * ATT_TILE, buf, threadIdx.x & 127, 128);
        };
        attention_rows16<HD, 2>(s.q, ks, vs, load_tile, false, 1, s.nHeads, s.nHeads / s.nKv, s.scaleLog2, s.po, s.pm,
                                s.pl, split, kvh, slot0, kStart, kEnd, (kEnd - kStart + ATT_TILE - 1) / ATT_TILE, group);
    }
}

// GemvArgs of GEMV m for the shared functions (one token, no partial sums).
__device__ __forceinline__ GemvArgs ring_args(const RingStep& s, const RingMatrix& m, const float* norm) {
    GemvArgs a = {};
    a.W = m.W;
    a.xhi = (const uint4*) s.actHi;
    a.xlo = (const uint4*) s.actLo;
    a.x = s.x;
    a.ssIn = s.ssEmbed;
    a.normW = norm;
    a.p = s.p;
    a.rope = s.rope;
    a.q = s.q;
    a.actHi = s.actHi;
    a.actLo = s.actLo;
    a.logits = s.logits;
    a.rows = m.rows;
    a.kChunks = m.kChunks;
    a.cps = m.cps;
    a.n = 1;
    a.ssGroups = s.ssGroups;
    a.nHeads = s.nHeads;
    a.nKv = s.nKv;
    a.capacity = s.capacity;
    a.eps = s.eps;
    return a;
}

template <int HD>
__device__ void ring_step_body(const RingStep& s) {
    extern __shared__ uint4 dynamic_smem[];   // ring [slots][RING_BUFFER], staged, part
    uint8_t* smem = (uint8_t*) dynamic_smem;
    __shared__ uint64_t full[RING_MAX_SLOTS], empty[RING_MAX_SLOTS];
    __shared__ int tileCount[RING_PART_TILES];
    __shared__ int tileNext[RING_PART_TILES];
    __shared__ float groups[TILE_MAX_GROUPS];
    if (threadIdx.x < RING_PART_TILES) {
        tileCount[threadIdx.x] = 0;
        tileNext[threadIdx.x] = threadIdx.x;
    }
    ring_init(full, empty, s.slots, 1);
    if (threadIdx.x >> 5 == RING_CONSUMERS) {
        ring_produce(s, smem, full, empty);
        return;
    }
    uint4* staged = (uint4*) (smem + (size_t) s.slots * RING_BUFFER);
    RingConsumer rc = {smem, full, empty, staged, (float*) (staged + RING_CONSUMERS * s.stageChunks * 8), tileCount,
                       tileNext, s.slots, s.stageChunks, 0};
    const int phases = ring_phases(s);
    const bool clock = s.times != nullptr && blockIdx.x == 0 && threadIdx.x == 0;
    if (clock) s.times[0] = globaltimer();
    for (int p = 0; p < phases; p++) {
        const int kind = ring_kind(s, p), l = p / RING_KINDS;
        const RingLayer& L = s.layers[min(l, s.nLayers - 1)];
        if (kind == RING_ATT) {
            ring_attention<HD>(s, L, smem);
            sync_part(RING_ALL_BAR, RING_THREADS);
        } else if (kind == RING_CMB) {
            for (int head = blockIdx.x; head < s.nHeads; head += gridDim.x) {
                combine_body<false>(s.p, s.po, s.pm, s.pl, s.nHeads, HD, s.splitLength, s.actHi, s.actLo, head, 0,
                                    RING_CONSUMERS_BAR);
            }
        } else if (kind == RING_OPROJ || kind == RING_DOWN) {
            const RingMatrix& m = kind == RING_OPROJ ? L.wo : L.down;
            ring_gemv<IN_ACT, OUT_RESID>(ring_args(s, m, nullptr), m, nullptr, rc);
        } else {
            // An RMSNorm GEMV: layer 0's q/k/v from embed's sums (as gemv_qkv8), the rest from x (gemv_*8x).
            const RingMatrix& m = *ring_matrix(s, p);
            GemvArgs a = ring_args(s, m, kind == RING_QKV ? L.attentionNorm : kind == RING_GATEUP ? L.ffnNorm : s.finalNorm);
            const float inv = kind == RING_QKV && l == 0 ? inverse_rms_from_sums<32>(a, 0)
                                                          : inverse_rms_from_x(a, groups, RING_CONSUMERS_BAR);
            if (kind == RING_QKV) {
                a.kc = L.kc;
                a.vc = L.vc;
                a.lastQuery = L.lastQuery;
                a.hd = HD;
                ring_gemv<IN_NORM, OUT_ROPE>(a, m, &inv, rc);
            } else if (kind == RING_GATEUP) {
                ring_gemv<IN_NORM, OUT_SWIGLU>(a, m, &inv, rc);
            } else {
                ring_gemv<IN_NORM, OUT_LOGITS>(a, m, &inv, rc);
            }
        }
        if (p + 1 == phases) {
            if (clock) s.times[phases] = globaltimer();
            break;
        }
        // The hand-off: every block's output of phase p written before any block reads phase p + 1's input.
        sync_part(RING_CONSUMERS_BAR, 32 * RING_CONSUMERS);
        if (threadIdx.x == 0) {
            for (int t = 0; t < RING_PART_TILES; t++) tileNext[t] = t;
            grid_hand_off(s.arrived, p);
            __threadfence();
            if (clock) s.times[p + 1] = globaltimer();
        }
        sync_part(RING_CONSUMERS_BAR, 32 * RING_CONSUMERS);
    }
}

// grid: one block a SM (cooperative launch), RING_THREADS threads; CudaRingStep sizes the shared memory.
#define RING_STEP_KERNEL(name, HD) \
    extern "C" __global__ void __launch_bounds__(RING_THREADS, 1) name(const __grid_constant__ RingStep s) { \
        ring_step_body<HD>(s); \
    }
RING_STEP_KERNEL(ring_step64, 64)
RING_STEP_KERNEL(ring_step128, 128)
