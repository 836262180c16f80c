// Can a persistent decode step with real arithmetic stream at the floor? A probe for the floor goal
// (engine/src/main/cuda/PERFORMANCE.md, "The probe revisited"): one decode step of a Llama shape
// (random bf16 weights and KV cache, one token) as ONE kernel of a block per SM, a grid-wide
// barrier between its phases, the weights and the keys and values streamed through a ring in
// shared memory by bulk copies from a producer warp that keeps at most W copies in flight. Per
// layer: q/k/v (RMSNorm of x, GEMV), attention (each block a share of the positions, flash-decoding
// partials), combine (a block per head), o_proj, gate/up (RMSNorm of x + o, GEMV), down
// (SwiGLU, GEMV); then the logits. A GEMV block owns whole rows over all of k (rows b, b + grid,
// ...): no partial sums between blocks. Not the backend's step: no RoPE, no cache append, no
// norm weights, its own rounding (inputs of every GEMV rounded to bf16, fp32 sums in its own
// order), so a plain kernel-per-phase reference in this file checks it: layer 0's outputs within
// 1e-2 of their largest (one bf16 rounding flip is 4e-3), and it prints the logits' error after all
// layers. Build here (nvcc 13; -DNO_ATT_MATH: the attention phases stream without their arithmetic,
// timing only) and run on the device machine:
//   nvcc -O3 -std=c++17 -arch=sm_90 -o .device/ring_step_probe scripts/gpu/ring_step_probe.cu
//   .device/ring_step_probe [llama2-7b|llama31-8b] [context]
#include <algorithm>
#include <cstring>
#include <cuda_bf16.h>
#include <vector>

#include "ring.cuh"


constexpr int HD = 128;                  // head dim
constexpr int CHUNK = 8192;              // bytes a bulk copy
constexpr int CONSUMERS = 8;             // consumer warps a block
constexpr int CTHREADS = 32 * CONSUMERS;
constexpr int HEADS_PER_WARP = 4;        // attention: warp w takes heads 4w .. 4w + 3 (32 heads)
constexpr int PART = HD + 4;             // attention partial of a (head, block): acc[128], m, l, pad

struct Shape {
    int dim, hidden, layers, kvDim, heads, vocab, context;
};

enum Kind { QKV = 0, ATT = 1, CMB = 2, OPROJ = 3, GATEUP = 4, DOWN = 5, LOGITS = 6 };

// Everything the step touches; phase p's output is out + p * outStride.
struct Step {
    Shape s;
    const uint16_t* wqkv;    // [layers][dim + 2 kvDim][dim]
    const uint16_t* wo;      // [layers][dim][dim]
    const uint16_t* wgu;     // [layers][2 hidden][dim]: gate row i, then up row i, for each i
    const uint16_t* wd;      // [layers][dim][hidden]
    const uint16_t* wlog;    // [vocab][dim]
    const uint16_t* kc;      // [layers][context][kvDim]
    const uint16_t* vc;      // [layers][context][kvDim]
    const float* x0;         // [dim]: the token's embedding
    float* out;              // [phases][outStride]
    size_t outStride;
    int phases;
};

__host__ __device__ inline int phase_of(int layer, int kind) { return layer * 6 + kind; }
__host__ __device__ inline Kind kind_of(int p, int layers) { return p == layers * 6 ? LOGITS : (Kind) (p % 6); }

// A GEMV phase's matrix: rows x k.
struct Gemv {
    const uint16_t* w;
    int rows, k;
};

__device__ Gemv gemv_of(const Step& st, int p) {
    const Shape& s = st.s;
    const int l = p / 6;
    switch (kind_of(p, s.layers)) {
        case QKV: return {st.wqkv + (size_t) l * (s.dim + 2 * s.kvDim) * s.dim, s.dim + 2 * s.kvDim, s.dim};
        case OPROJ: return {st.wo + (size_t) l * s.dim * s.dim, s.dim, s.dim};
        case GATEUP: return {st.wgu + (size_t) l * 2 * s.hidden * s.dim, 2 * s.hidden, s.dim};
        case DOWN: return {st.wd + (size_t) l * s.dim * s.hidden, s.dim, s.hidden};
        case LOGITS: return {st.wlog, s.vocab, s.dim};
        default: return {nullptr, 0, 0};
    }
}

// ---- The ring's chunks --------------------------------------------------------------------------
// The chunks of phase p this block streams, in order: (source, bytes). GEMV: its rows b, b + grid,
// ... in segments of CHUNK bytes. Attention: its groups of positions g = b, b + grid, ... (a group:
// CHUNK bytes of keys, P = CHUNK / (2 kvDim) positions), the keys' chunk then the values'.
struct Chunks {
    const uint8_t* base0;
    const uint8_t* base1;   // attention: the values
    size_t rowBytes;        // GEMV: a row; attention: a group
    int items, segs;        // GEMV: rows of the block (gate/up: pairs of rows), segments an item;
                            // attention: groups of the block, 2
    __device__ int count() const { return items * segs; }
    __device__ const uint8_t* src(int c) const {
        const int item = c / segs, seg = c % segs;
        const size_t index = blockIdx.x + (size_t) item * gridDim.x;
        if (base1 != nullptr) return (seg == 0 ? base0 : base1) + index * rowBytes;
        return base0 + index * rowBytes + (size_t) seg * CHUNK;
    }
    __device__ uint32_t bytes(int c) const {
        if (base1 != nullptr) return (uint32_t) rowBytes;
        const int seg = c % segs;
        return (uint32_t) min((size_t) CHUNK, rowBytes - (size_t) seg * CHUNK);
    }
};

__device__ int items_of(int total) { return total > (int) blockIdx.x ? (total - blockIdx.x + gridDim.x - 1) / gridDim.x : 0; }

__device__ Chunks chunks_of(const Step& st, int p) {
    const Shape& s = st.s;
    const Kind kind = kind_of(p, s.layers);
    if (kind == CMB) return {nullptr, nullptr, 0, 0, 1};
    if (kind == ATT) {
        const int l = p / 6;
        const int positions = CHUNK / (2 * s.kvDim);
        const size_t layer = (size_t) l * s.context * s.kvDim;
        return {(const uint8_t*) (st.kc + layer), (const uint8_t*) (st.vc + layer), (size_t) CHUNK,
                items_of(s.context / positions), 2};
    }
    Gemv g = gemv_of(st, p);
    // gate/up: its rows interleaved (gate i, up i), a block's items are pairs of rows, so that the
    // block that has both applies the SwiGLU itself
    const int rowsAnItem = kind == GATEUP ? 2 : 1;
    const size_t itemBytes = (size_t) g.k * 2 * rowsAnItem;
    return {(const uint8_t*) g.w, nullptr, itemBytes, items_of(g.rows / rowsAnItem), (int) ((itemBytes + CHUNK - 1) / CHUNK)};
}

// ---- The consumers' work -----------------------------------------------------------------------
// silu(gate) * up, here and in the reference.
__host__ __device__ inline float swiglu(float gate, float up) { return gate / (1.f + expf(-gate)) * up; }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ void consumers_sync() { asm volatile("bar.sync 1, %0;" ::"r"(CTHREADS) : "memory"); }

// The staging of a GEMV's input into shared memory as bf16: the RMSNorm of the residual stream x,
// which every consumer thread keeps in registers (its 16 values; the model dim is at most 4096),
// after adding b (a residual GEMV's output; may be null), loaded all at once: this is on the path
// from the barrier to the phase's first chunk.
constexpr int NORM_PER_THREAD = 16;

__device__ void stage_norm(float (&v)[NORM_PER_THREAD], const float* b, int k, __nv_bfloat16* act) {
    __shared__ float red[CONSUMERS];
    const int t = threadIdx.x - 32;
    if (b != nullptr) {
        float add[NORM_PER_THREAD];
#pragma unroll
        for (int j = 0; j < NORM_PER_THREAD; j++) {
            const int i = t + j * CTHREADS;
            add[j] = i < k ? __ldcg(b + i) : 0.f;
        }
#pragma unroll
        for (int j = 0; j < NORM_PER_THREAD; j++) v[j] += add[j];
    }
    float ss = 0.f;
#pragma unroll
    for (int j = 0; j < NORM_PER_THREAD; j++) ss += v[j] * v[j];
    ss = warp_sum(ss);
    if ((t & 31) == 0) red[t >> 5] = ss;
    consumers_sync();
    float all = 0.f;
#pragma unroll
    for (int w = 0; w < CONSUMERS; w++) all += red[w];
    const float inv = rsqrtf(all / k + 1e-5f);
#pragma unroll
    for (int j = 0; j < NORM_PER_THREAD; j++) {
        const int i = t + j * CTHREADS;
        if (i >= k) break;
        act[i] = __float2bfloat16(v[j] * inv);
    }
}

// A bf16 input (the attention's output, the SwiGLU) copied as it is: 16-byte words, 8 a thread at
// most (k <= 16384), all loaded at once.
__device__ void stage_bf16(const uint16_t* in, int k, __nv_bfloat16* act) {
    constexpr int B = 8;
    const int words = k / 8;
    uint4 v[B];
#pragma unroll
    for (int j = 0; j < B; j++) {
        const int i = threadIdx.x - 32 + j * CTHREADS;
        if (i < words) v[j] = __ldcg((const uint4*) in + i);
    }
#pragma unroll
    for (int j = 0; j < B; j++) {
        const int i = threadIdx.x - 32 + j * CTHREADS;
        if (i < words) ((uint4*) act)[i] = v[j];
    }
}

// One GEMV chunk, by the warp that owns it (chunk i goes to consumer warp i % 8, so a GEMV phase
// has 8 chunks in work at once): a segment of row (local index `row`) starting at column k0; lane l
// takes 16-byte words l, l + 32, ..., 8 at a time, then the warp adds its lanes into the row's sum.
__device__ __forceinline__ void gemv_chunk(const uint4* w, uint32_t words, int k0, const __nv_bfloat16* act,
                                           float* rowSum, int row) {
    const int lane = threadIdx.x & 31;
    float sum = 0.f;
    for (uint32_t j0 = lane; j0 < words; j0 += 8 * 32) {
        uint4 wv[8], av[8];
#pragma unroll
        for (int e = 0; e < 8; e++) {
            const uint32_t j = j0 + 32 * e;
            wv[e] = j < words ? w[j] : make_uint4(0, 0, 0, 0);
            av[e] = j < words ? *(const uint4*) (act + k0 + j * 8) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int e = 0; e < 8; e++) {
            const __nv_bfloat162* wp = (const __nv_bfloat162*) &wv[e];
            const __nv_bfloat162* ap = (const __nv_bfloat162*) &av[e];
#pragma unroll
            for (int h = 0; h < 4; h++) {
                const float2 wf = __bfloat1622float2(wp[h]), af = __bfloat1622float2(ap[h]);
                sum = fmaf(wf.x, af.x, sum);
                sum = fmaf(wf.y, af.y, sum);
            }
        }
    }
    sum = warp_sum(sum);
    if (lane == 0) atomicAdd(rowSum + row, sum);
}

// Attention: warp w takes heads 4w .. 4w + 3 (32 heads), lanes 8j .. 8j + 7 head 4w + j, lane l
// dims 16 (l % 8) .. 16 (l % 8) + 15 of it: a score is 16 products a lane and 3 shuffles.
constexpr int DIMS = 16;

template <int P>
struct AttState {
    float q[DIMS], acc[DIMS], m, l, s[P];   // s: the scores of the last keys' chunk, by position
};

__device__ __forceinline__ int att_head() { return HEADS_PER_WARP * ((threadIdx.x >> 5) - 1) + ((threadIdx.x & 31) >> 3); }

__device__ __forceinline__ void load_bf16x16(const uint16_t* p, float (&f)[DIMS]) {
    const uint4 a = *(const uint4*) p, b = *((const uint4*) p + 1);
    const __nv_bfloat162* h = (const __nv_bfloat162*) &a;
    const __nv_bfloat162* g = (const __nv_bfloat162*) &b;
#pragma unroll
    for (int e = 0; e < 4; e++) {
        const float2 x = __bfloat1622float2(h[e]), y = __bfloat1622float2(g[e]);
        f[2 * e] = x.x, f[2 * e + 1] = x.y, f[8 + 2 * e] = y.x, f[8 + 2 * e + 1] = y.y;
    }
}

// A chunk of keys: the P positions' scores (4 partial sums a lane, then 3 shuffles); a chunk of
// values: one running-max update for its P positions, then the weighted values.
template <bool KEYS, int P>
__device__ __forceinline__ void attention_chunk(AttState<P>& a, const uint16_t* kv, const Shape& s) {
    const int lane = threadIdx.x & 31, kvh = att_head() / (s.heads / (s.kvDim / HD));
    float v[P][DIMS];
#pragma unroll
    for (int pp = 0; pp < P; pp++) load_bf16x16(kv + (size_t) pp * s.kvDim + kvh * HD + DIMS * (lane & 7), v[pp]);
    if (KEYS) {
#pragma unroll
        for (int pp = 0; pp < P; pp++) {
            float d4[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
            for (int d = 0; d < DIMS; d++) d4[d & 3] = fmaf(a.q[d], v[pp][d], d4[d & 3]);
            float dot = (d4[0] + d4[1]) + (d4[2] + d4[3]);
            dot += __shfl_xor_sync(0xffffffffu, dot, 1);
            dot += __shfl_xor_sync(0xffffffffu, dot, 2);
            dot += __shfl_xor_sync(0xffffffffu, dot, 4);
            a.s[pp] = dot;
        }
        return;
    }
    float mNew = a.m;
#pragma unroll
    for (int pp = 0; pp < P; pp++) mNew = fmaxf(mNew, a.s[pp]);
    const float alpha = exp2f(a.m - mNew);
    float pr[P], sum = 0.f;
#pragma unroll
    for (int pp = 0; pp < P; pp++) {
        pr[pp] = exp2f(a.s[pp] - mNew);
        sum += pr[pp];
    }
    a.m = mNew;
    a.l = a.l * alpha + sum;
#pragma unroll
    for (int d = 0; d < DIMS; d++) {
        float acc = a.acc[d] * alpha;
#pragma unroll
        for (int pp = 0; pp < P; pp++) acc = fmaf(pr[pp], v[pp][d], acc);
        a.acc[d] = acc;
    }
}

// Block h < heads: head h's output from every block's partial (m, l, acc), warp w merging blocks
// w, w + 8, ..., then the warps merged in shared memory.
__device__ void combine_head(const float* part, __nv_bfloat16* outHead, float* red) {
    const int lane = threadIdx.x & 31, warp = (threadIdx.x >> 5) - 1;
    float m = -INFINITY, l = 0.f, acc[4] = {0.f, 0.f, 0.f, 0.f};
    constexpr int B = 9;   // blocks a warp loads at once (two rounds on 132 SMs)
    for (int b0 = warp; b0 < (int) gridDim.x; b0 += B * CONSUMERS) {
        float4 av[B];
        float mv[B], lv[B];
#pragma unroll
        for (int j = 0; j < B; j++) {
            const int b = b0 + j * CONSUMERS;
            const float* pb = part + (size_t) min(b, (int) gridDim.x - 1) * PART;
            av[j] = __ldcg((const float4*) pb + lane);
            mv[j] = b < (int) gridDim.x ? __ldcg(pb + HD) : -INFINITY;
            lv[j] = __ldcg(pb + HD + 1);
        }
#pragma unroll
        for (int j = 0; j < B; j++) {
            if (mv[j] == -INFINITY) continue;
            const float mNew = fmaxf(m, mv[j]), x = exp2f(m - mNew), y = exp2f(mv[j] - mNew);
            l = l * x + lv[j] * y;
            acc[0] = acc[0] * x + av[j].x * y;
            acc[1] = acc[1] * x + av[j].y * y;
            acc[2] = acc[2] * x + av[j].z * y;
            acc[3] = acc[3] * x + av[j].w * y;
            m = mNew;
        }
    }
    float* mine = red + warp * PART;
    for (int j = 0; j < 4; j++) mine[4 * lane + j] = acc[j];
    if (lane == 0) mine[HD] = m, mine[HD + 1] = l;
    consumers_sync();
    if (warp != 0) return;
    float M = -INFINITY;
    for (int w = 0; w < CONSUMERS; w++) M = fmaxf(M, red[w * PART + HD]);
    float L = 0.f, o[4] = {0.f, 0.f, 0.f, 0.f};
    for (int w = 0; w < CONSUMERS; w++) {
        const float f = exp2f(red[w * PART + HD] - M);
        L += red[w * PART + HD + 1] * f;
        for (int j = 0; j < 4; j++) o[j] += red[w * PART + 4 * lane + j] * f;
    }
    for (int j = 0; j < 4; j++) outHead[4 * lane + j] = __float2bfloat16(o[j] / L);
}

// ---- The step kernel -----------------------------------------------------------------------------
// Phases [p0, p1) of the step (a whole step: 0, phases): a step can run as one launch or as several
// (main's last row: the attention and combine in launches of their own, as a persistent kernel for
// the GEMV phases beside separate attention kernels would). xSave: the residual stream between
// launches. P: positions a chunk of keys holds (CHUNK / (2 kvDim): 1 at Llama-2-7B, 4 at 3.1-8B).
template <int STAGES, int P>
__global__ void __launch_bounds__(32 * (CONSUMERS + 1), 1)
ring_step(const Step st, uint32_t* arrived, uint32_t window, int actBytes, int rowSumFloats, uint64_t* times, int p0,
          int p1, float* xSave) {
    extern __shared__ __align__(128) uint8_t smem[];
    uint8_t* ring = smem;                                                   // [STAGES][CHUNK]
    __nv_bfloat16* act = (__nv_bfloat16*) (smem + (size_t) STAGES * CHUNK);   // [actBytes / 2]
    float* rowSum = (float*) ((uint8_t*) act + actBytes);                   // [rowSumFloats]
    float* red = (float*) act;   // the combine's warp states (no GEMV input is staged in that phase)
    __shared__ uint64_t full[STAGES], empty[STAGES];
    const Shape& s = st.s;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    ring_init(full, empty, STAGES, CONSUMERS);
    if (warp == 0) {   // producer: every chunk of every phase, at most `window` in flight
        if (lane != 0) return;
        uint32_t i = 0;
        for (int p = p0; p < p1; p++) {
            const Chunks ch = chunks_of(st, p);
            for (int c = 0; c < ch.count(); c++, i++) {
                const int slot = i % STAGES;
                ring_wait_to_issue(full, empty, STAGES, i, window);
                bulk_load(ring + (size_t) slot * CHUNK, ch.src(c), ch.bytes(c), &full[slot]);
            }
        }
        return;
    }
    const int t = threadIdx.x - 32;
    uint32_t i = 0;
    AttState<P> a;
    float x[NORM_PER_THREAD];   // the residual stream: this thread's values t + 256 j
#pragma unroll
    for (int j = 0; j < NORM_PER_THREAD; j++) x[j] = t + j * CTHREADS < s.dim ? (p0 == 0 ? st.x0 : xSave)[t + j * CTHREADS] : 0.f;
    if (blockIdx.x == 0 && t == 0 && p0 == 0) times[0] = globaltimer();
    for (int p = p0; p < p1; p++) {
        const Kind kind = kind_of(p, s.layers);
        const int l = p / 6;
        float* out = st.out + (size_t) p * st.outStride;
        // After the barrier: this phase's input.
        if (kind == QKV) {
            stage_norm(x, l == 0 ? nullptr : st.out + (size_t) phase_of(l - 1, DOWN) * st.outStride, s.dim, act);
        } else if (kind == GATEUP) {
            stage_norm(x, st.out + (size_t) phase_of(l, OPROJ) * st.outStride, s.dim, act);
        } else if (kind == LOGITS) {
            stage_norm(x, st.out + (size_t) phase_of(s.layers - 1, DOWN) * st.outStride, s.dim, act);
        } else if (kind == OPROJ) {
            stage_bf16((const uint16_t*) (st.out + (size_t) phase_of(l, CMB) * st.outStride), s.dim, act);
        } else if (kind == DOWN) {
            stage_bf16((const uint16_t*) (st.out + (size_t) phase_of(l, GATEUP) * st.outStride), s.hidden, act);
        } else if (kind == ATT) {
            const float* q = st.out + (size_t) phase_of(l, QKV) * st.outStride + att_head() * HD + DIMS * (lane & 7);
            const float scale = 1.4426950408889634f * rsqrtf((float) HD);
#pragma unroll
            for (int d = 0; d < DIMS; d += 4) {
                const float4 v = __ldcg((const float4*) (q + d));
                a.q[d] = v.x * scale, a.q[d + 1] = v.y * scale, a.q[d + 2] = v.z * scale, a.q[d + 3] = v.w * scale;
            }
#pragma unroll
            for (int d = 0; d < DIMS; d++) a.acc[d] = 0.f;
            a.m = -INFINITY, a.l = 0.f;
        } else if (kind == CMB && (int) blockIdx.x < s.heads) {
            const float* part = st.out + (size_t) phase_of(l, ATT) * st.outStride + (size_t) blockIdx.x * gridDim.x * PART;
            combine_head(part, (__nv_bfloat16*) out + (size_t) blockIdx.x * HD, red);
        }
        const bool gemv = kind != ATT && kind != CMB;
        if (gemv) {
            for (int r = t; r < rowSumFloats; r += CTHREADS) rowSum[r] = 0.f;
        }
        consumers_sync();
        if (blockIdx.x == 0 && t == 0) times[2 * p + 1] = globaltimer();
        // The phase's chunks as they land.
        const Chunks ch = chunks_of(st, p);
        const int segsPerRow = gemv ? (gemv_of(st, p).k * 2 + CHUNK - 1) / CHUNK : 1;
        for (int c = 0; c < ch.count(); c++, i++) {
            const int slot = i % STAGES;
            // A GEMV chunk is its owner's alone (it gives the buffer back for all 8); the owner of
            // this buffer's previous round within the phase was this warp too (STAGES % 8 == 0), and
            // before the phase every warp was done with every chunk, so a parity wait is enough.
            if (gemv && (int) (i % CONSUMERS) != warp - 1) continue;
            mbar_wait(&full[slot], (i / STAGES) & 1);
            const uint8_t* buf = ring + (size_t) slot * CHUNK;
            if (gemv) {
                gemv_chunk((const uint4*) buf, ch.bytes(c) / 16, (c % segsPerRow) * (CHUNK / 2), act, rowSum, c / segsPerRow);
                if (lane == 0) mbar_arrive(&empty[slot], CONSUMERS);
                continue;
            }
#ifndef NO_ATT_MATH
            if (c % 2 == 0) {
                attention_chunk<true, P>(a, (const uint16_t*) buf, s);
            } else {
                attention_chunk<false, P>(a, (const uint16_t*) buf, s);
            }
#endif
            __syncwarp();
            if (lane == 0) mbar_arrive(&empty[slot]);
        }
        // The phase's output.
        if (kind == GATEUP) {   // item r: rows 2r (gate) and 2r + 1 (up) of the block's pairs
            consumers_sync();
            for (int r = t; r < ch.items; r += CTHREADS) {
                ((__nv_bfloat16*) out)[blockIdx.x + (size_t) r * gridDim.x] = __float2bfloat16(swiglu(rowSum[2 * r], rowSum[2 * r + 1]));
            }
        } else if (gemv) {
            consumers_sync();
            for (int r = t; r < ch.items; r += CTHREADS) out[blockIdx.x + (size_t) r * gridDim.x] = rowSum[r];
        } else if (kind == ATT) {
            float* pb = out + ((size_t) att_head() * gridDim.x + blockIdx.x) * PART;
#pragma unroll
            for (int d = 0; d < DIMS; d += 4)
                *(float4*) (pb + DIMS * (lane & 7) + d) = make_float4(a.acc[d], a.acc[d + 1], a.acc[d + 2], a.acc[d + 3]);
            if ((lane & 7) == 0) pb[HD] = a.m, pb[HD + 1] = a.l;
        }
        // The hand-off: every block done with phase p before any reads phase p + 1's input.
        consumers_sync();
        if (t == 0) {
            grid_hand_off(arrived, p);
            if (blockIdx.x == 0) times[2 * p + 2] = globaltimer();
        }
        consumers_sync();
    }
    if (blockIdx.x == 0) {   // every block holds the same x; every block has read xSave by now
#pragma unroll
        for (int j = 0; j < NORM_PER_THREAD; j++) if (t + j * CTHREADS < s.dim) xSave[t + j * CTHREADS] = x[j];
    }
}

// ---- The reference: a kernel per phase, plainly -------------------------------------------------
__global__ void ref_norm(const float* a, const float* b, float* keep, int k, uint16_t* act) {
    __shared__ float red[32];
    float ss = 0.f;
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
        float v = a[i] + (b ? b[i] : 0.f);
        ss += v * v;
    }
    ss = warp_sum(ss);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = ss;
    __syncthreads();
    float all = 0.f;
    for (int w = 0; w < (int) blockDim.x / 32; w++) all += red[w];
    const float inv = rsqrtf(all / k + 1e-5f);
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
        float v = a[i] + (b ? b[i] : 0.f);
        if (keep) keep[i] = v;
        __nv_bfloat16 h = __float2bfloat16(v * inv);
        act[i] = *(uint16_t*) &h;
    }
}

__global__ void ref_swiglu(const float* gu, int hidden, uint16_t* act) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < hidden; i += gridDim.x * blockDim.x) {
        __nv_bfloat16 h = __float2bfloat16(swiglu(gu[2 * i], gu[2 * i + 1]));
        act[i] = *(uint16_t*) &h;
    }
}

__global__ void ref_copy(const float* in, int k, uint16_t* act) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < k; i += gridDim.x * blockDim.x) {
        __nv_bfloat16 h = __float2bfloat16(in[i]);
        act[i] = *(uint16_t*) &h;
    }
}

__device__ float bf(uint16_t v) { return __bfloat162float(*(const __nv_bfloat16*) &v); }

__global__ void ref_gemv(const uint16_t* w, int rows, int k, const uint16_t* act, float* out) {
    const int row = blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= rows) return;
    float sum = 0.f;
    for (int j = lane; j < k; j += 32) sum += bf(w[(size_t) row * k + j]) * bf(act[j]);
    sum = warp_sum(sum);
    if (lane == 0) out[row] = sum;
}

__global__ void ref_scores(const float* q, const uint16_t* kc, Shape s, float* scores) {
    const size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x;
    if (i >= (size_t) s.heads * s.context) return;
    const int h = (int) (i / s.context), pos = (int) (i % s.context), kvh = h / (s.heads / (s.kvDim / HD));
    float dot = 0.f;
    for (int d = 0; d < HD; d++) dot += q[h * HD + d] * bf(kc[(size_t) pos * s.kvDim + kvh * HD + d]);
    scores[i] = dot * 1.4426950408889634f * rsqrtf((float) HD);
}

__global__ void ref_attend(const float* scores, const uint16_t* vc, Shape s, float* out) {
    const int h = blockIdx.x, d = threadIdx.x, kvh = h / (s.heads / (s.kvDim / HD));
    const float* sc = scores + (size_t) h * s.context;
    float m = -INFINITY;
    for (int p = 0; p < s.context; p++) m = fmaxf(m, sc[p]);
    float l = 0.f, acc = 0.f;
    for (int p = 0; p < s.context; p++) {
        const float pr = exp2f(sc[p] - m);
        l += pr;
        acc += pr * bf(vc[(size_t) p * s.kvDim + kvh * HD + d]);
    }
    out[h * HD + d] = acc / l;
}

__global__ void fill_bf16(uint16_t* dst, size_t count, uint64_t seed, float scale) {
    for (size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x; i < count; i += (size_t) gridDim.x * blockDim.x) {
        uint64_t z = (i + seed) * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        const float u = (float) (z >> 40) / (float) (1ull << 24) * 2.f - 1.f;
        __nv_bfloat16 h = __float2bfloat16(u * scale);
        dst[i] = *(uint16_t*) &h;
    }
}

int main(int argc, char** argv) {
    const char* name = argc > 1 ? argv[1] : "llama2-7b";
    Shape s{4096, 11008, 32, 4096, 32, 32000, argc > 2 ? atoi(argv[2]) : 4096};
    if (!strcmp(name, "llama31-8b")) {
        s.hidden = 14336, s.kvDim = 1024, s.vocab = 128256;
    } else if (strcmp(name, "llama2-7b")) {
        fprintf(stderr, "shapes: llama2-7b, llama31-8b\n");
        return 2;
    }
    const int positions = CHUNK / (2 * s.kvDim);
    if ((positions != 1 && positions != 4) || s.context % positions != 0 || s.heads != CONSUMERS * HEADS_PER_WARP ||
        s.dim > NORM_PER_THREAD * CTHREADS) {
        fprintf(stderr, "unsupported shape\n");
        return 2;
    }
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    const int grid = prop.multiProcessorCount;
    Step st{};
    st.s = s;
    const size_t nQkv = (size_t) s.layers * (s.dim + 2 * s.kvDim) * s.dim, nO = (size_t) s.layers * s.dim * s.dim;
    const size_t nGu = (size_t) s.layers * 2 * s.hidden * s.dim, nD = (size_t) s.layers * s.dim * s.hidden;
    const size_t nLog = (size_t) s.vocab * s.dim, nKv = (size_t) s.layers * s.context * s.kvDim;
    auto alloc = [&](const uint16_t** p, size_t n, uint64_t seed, float scale) {
        uint16_t* d;
        CHECK(cudaMalloc(&d, n * 2));
        fill_bf16<<<1024, 256>>>(d, n, seed, scale);
        *p = d;
    };
    alloc(&st.wqkv, nQkv, 1, 1.7f / sqrtf((float) s.dim));
    alloc(&st.wo, nO, 2, 1.7f / sqrtf((float) s.dim));
    alloc(&st.wgu, nGu, 3, 1.7f / sqrtf((float) s.dim));
    alloc(&st.wd, nD, 4, 1.7f / sqrtf((float) s.hidden));
    alloc(&st.wlog, nLog, 5, 1.7f / sqrtf((float) s.dim));
    alloc(&st.kc, nKv, 6, 1.f);
    alloc(&st.vc, nKv, 7, 1.f);
    st.phases = s.layers * 6 + 1;
    st.outStride = std::max({(size_t) s.vocab, (size_t) 2 * s.hidden, (size_t) s.heads * grid * PART});
    float* x0dev;
    CHECK(cudaMalloc(&x0dev, sizeof(float) * s.dim));
    st.x0 = x0dev;
    CHECK(cudaMalloc(&st.out, sizeof(float) * st.phases * st.outStride));
    std::vector<float> x0(s.dim);
    for (int i = 0; i < s.dim; i++) x0[i] = (float) ((i * 2654435761u) % 1000) / 500.f - 1.f;
    CHECK(cudaMemcpy(x0dev, x0.data(), sizeof(float) * s.dim, cudaMemcpyHostToDevice));
    const double bytes = 2.0 * (nQkv + nO + nGu + nD + nLog + 2 * nKv);

    // The reference logits.
    uint16_t* act;
    float *ref, *scores, *xr;
    CHECK(cudaMalloc(&act, 2 * s.hidden));
    CHECK(cudaMalloc(&ref, sizeof(float) * st.outStride * 6));
    CHECK(cudaMalloc(&scores, sizeof(float) * s.heads * s.context));
    CHECK(cudaMalloc(&xr, sizeof(float) * s.dim * 2));
    float *qkv = ref, *att = ref + st.outStride, *o = ref + 2 * st.outStride, *gu = ref + 3 * st.outStride,
          *dn = ref + 4 * st.outStride, *logits = ref + 5 * st.outStride;
    CHECK(cudaMemcpy(xr, x0.data(), sizeof(float) * s.dim, cudaMemcpyHostToDevice));
    std::vector<float> layer0[5];
    for (int l = 0; l < s.layers; l++) {
        ref_norm<<<1, 1024>>>(xr, l == 0 ? nullptr : dn, xr + s.dim, s.dim, act);
        ref_gemv<<<(s.dim + 2 * s.kvDim + 7) / 8, 256>>>(st.wqkv + (size_t) l * (s.dim + 2 * s.kvDim) * s.dim,
                                                         s.dim + 2 * s.kvDim, s.dim, act, qkv);
        ref_scores<<<(unsigned) (((size_t) s.heads * s.context + 255) / 256), 256>>>(qkv, st.kc + (size_t) l * s.context * s.kvDim, s, scores);
        ref_attend<<<s.heads, HD>>>(scores, st.vc + (size_t) l * s.context * s.kvDim, s, att);
        ref_copy<<<16, 256>>>(att, s.dim, act);
        ref_gemv<<<(s.dim + 7) / 8, 256>>>(st.wo + (size_t) l * s.dim * s.dim, s.dim, s.dim, act, o);
        ref_norm<<<1, 1024>>>(xr + s.dim, o, xr, s.dim, act);
        ref_gemv<<<(2 * s.hidden + 7) / 8, 256>>>(st.wgu + (size_t) l * 2 * s.hidden * s.dim, 2 * s.hidden, s.dim, act, gu);
        ref_swiglu<<<64, 256>>>(gu, s.hidden, act);
        ref_gemv<<<(s.dim + 7) / 8, 256>>>(st.wd + (size_t) l * s.dim * s.hidden, s.dim, s.hidden, act, dn);
        if (l == 0) {   // layer 0's outputs, to check each phase of the ring's before rounding flips add up
            for (int k = 0; k < 5; k++) {
                const float* from[] = {qkv, att, o, gu, dn};
                const int n[] = {s.dim + 2 * s.kvDim, s.dim, s.dim, 2 * s.hidden, s.dim};
                layer0[k].resize(n[k]);
                CHECK(cudaMemcpy(layer0[k].data(), from[k], sizeof(float) * n[k], cudaMemcpyDeviceToHost));
            }
        }
    }
    ref_norm<<<1, 1024>>>(xr, dn, xr + s.dim, s.dim, act);
    ref_gemv<<<(s.vocab + 7) / 8, 256>>>(st.wlog, s.vocab, s.dim, act, logits);
    CHECK(cudaDeviceSynchronize());
    std::vector<float> want(s.vocab), got(s.vocab);
    CHECK(cudaMemcpy(want.data(), logits, sizeof(float) * s.vocab, cudaMemcpyDeviceToHost));

    uint32_t* arrived;
    CHECK(cudaMalloc(&arrived, 4));
    uint64_t* times;   // block 0's clock as it leaves each hand-off: where the step's time goes, by kind of phase
    CHECK(cudaMalloc(&times, 8 * (2 * st.phases + 1)));
    std::vector<uint64_t> hostTimes(2 * st.phases + 1);
    cudaStream_t stream;
    CHECK(cudaStreamCreate(&stream));
    cudaEvent_t t0, t1;
    CHECK(cudaEventCreate(&t0));
    CHECK(cudaEventCreate(&t1));
    const int actBytes = 2 * s.hidden, rowSumFloats = (s.vocab + grid - 1) / grid;
    printf("%s, context %d: %d phases, %.2f GB of weights and KV cache; floor at 3.2 TB/s: %.3f ms\n", name, s.context,
           st.phases, bytes / 1e9, bytes / 3.2e9);
    float* xSave;
    CHECK(cudaMalloc(&xSave, sizeof(float) * s.dim));
    auto run = [&](const void* kernel, int stages, uint32_t window, bool split) {
        const size_t smem = (size_t) stages * CHUNK + actBytes + 4 * rowSumFloats;   // actBytes >= the combine's scratch
        CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem));
        // The launches' phase ranges: the whole step, or cut before each attention and after each combine.
        std::vector<int> cuts = {0};
        for (int l = 0; split && l < s.layers; l++) {
            cuts.push_back(phase_of(l, ATT));
            cuts.push_back(phase_of(l, OPROJ));
        }
        cuts.push_back(st.phases);
        float best = 1e30f;
        for (int rep = 0; rep < 6; rep++) {
            CHECK(cudaMemsetAsync(arrived, 0, 4, stream));
            CHECK(cudaEventRecord(t0, stream));
            for (size_t c = 0; c + 1 < cuts.size(); c++) {
                int p0 = cuts[c], p1 = cuts[c + 1];
                void* args[] = {&st, &arrived, &window, (void*) &actBytes, (void*) &rowSumFloats, &times, &p0, &p1, &xSave};
                CHECK(cudaLaunchCooperativeKernel(kernel, grid, 32 * (CONSUMERS + 1), args, smem, stream));
            }
            CHECK(cudaEventRecord(t1, stream));
            CHECK(cudaEventSynchronize(t1));
            float ms;
            CHECK(cudaEventElapsedTime(&ms, t0, t1));
            if (rep > 0 && ms < best) best = ms;
        }
        CHECK(cudaMemcpy(got.data(), st.out + (size_t) (st.phases - 1) * st.outStride, sizeof(float) * s.vocab,
                         cudaMemcpyDeviceToHost));
        // Layer 0 phase by phase (q/k/v, attention, o_proj, gate/up, down: rounding only, within 1e-2
        // of their largest; the attention's output and the SwiGLU are bf16 here), then the logits,
        // where 32 layers of bf16 rounding flips have added up.
        const int kinds[] = {QKV, CMB, OPROJ, GATEUP, DOWN};
        double worst0 = 0;
        for (int k = 0; k < 5; k++) {
            std::vector<float> want0 = layer0[k];
            if (kinds[k] == GATEUP) {
                want0.resize(s.hidden);
                for (int v = 0; v < s.hidden; v++) want0[v] = swiglu(layer0[k][2 * v], layer0[k][2 * v + 1]);
            }
            std::vector<float> mine(want0.size());
            const float* from = st.out + (size_t) phase_of(0, kinds[k]) * st.outStride;
            if (kinds[k] == CMB || kinds[k] == GATEUP) {
                std::vector<uint16_t> half(mine.size());
                CHECK(cudaMemcpy(half.data(), from, 2 * half.size(), cudaMemcpyDeviceToHost));
                for (size_t v = 0; v < half.size(); v++) {
                    const uint32_t bits = (uint32_t) half[v] << 16;
                    memcpy(&mine[v], &bits, 4);
                }
            } else {
                CHECK(cudaMemcpy(mine.data(), from, sizeof(float) * mine.size(), cudaMemcpyDeviceToHost));
            }
            double maxRef = 0, maxErr = 0;
            for (size_t v = 0; v < mine.size(); v++) {
                maxRef = std::max(maxRef, (double) fabsf(want0[v]));
                maxErr = std::max(maxErr, (double) fabsf(want0[v] - mine[v]));
            }
            worst0 = std::max(worst0, maxErr / maxRef);
        }
        double maxRef = 0, maxErr = 0;
        for (int v = 0; v < s.vocab; v++) {
            maxRef = std::max(maxRef, (double) fabsf(want[v]));
            maxErr = std::max(maxErr, (double) fabsf(want[v] - got[v]));
        }
        char form[64];
        if (window > 0) snprintf(form, sizeof form, "ring %dx8K, at most %u in flight", stages, window);
        else snprintf(form, sizeof form, "ring %dx8K, greedy", stages);
        if (split) snprintf(form + strlen(form), sizeof form - strlen(form), ", %zu launches", cuts.size() - 1);
        printf("%-44s %8.3f ms  %5.2f TB/s  %3.0f%% of the floor   layer 0: %.1e %s; logits: %.1e\n", form, best, bytes / best / 1e9, 100.0 * bytes / 3.2e9 / best, worst0,
               worst0 <= 1e-2 ? "ok" : "WRONG", maxErr / maxRef);
        CHECK(cudaMemcpy(hostTimes.data(), times, 8 * (2 * st.phases + 1), cudaMemcpyDeviceToHost));
        const char* kindNames[] = {"q/k/v", "attention", "combine", "o_proj", "gate/up", "down", "logits"};
        double input[7] = {0}, stream[7] = {0};
        for (int p = 0; p < st.phases; p++) {
            input[kind_of(p, s.layers)] += (hostTimes[2 * p + 1] - hostTimes[2 * p]) / 1e6;
            stream[kind_of(p, s.layers)] += (hostTimes[2 * p + 2] - hostTimes[2 * p + 1]) / 1e6;
        }
        printf("    last run, block 0, ms of input (hand-off to staged) + the rest:");
        for (int k = 0; k < 7; k++) printf(" %s %.3f + %.3f", kindNames[k], input[k], stream[k]);
        printf("\n");
    };
    const void* k24 = positions == 1 ? (const void*) ring_step<24, 1> : (const void*) ring_step<24, 4>;
    const void* k16 = positions == 1 ? (const void*) ring_step<16, 1> : (const void*) ring_step<16, 4>;
    for (uint32_t w : {5u, 4u, 0u}) run(k24, 24, w, false);
    run(k16, 16, 5, false);
    run(k24, 24, 5, true);
    return 0;
}
