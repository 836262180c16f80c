// The step's GEMVs (decode, verify blocks of up to 64 tokens) with their fused RMSNorm inputs and
// epilogues (RoPE + cache append, SwiGLU, residual, logits), and the one-token residual GEMV.
// Included by triforce.cu.
#pragma once

// Tensor-core GEMV for up to 64 tokens (NT n-tiles of 8), split over k: grid (slices,
// ceil(rowTiles / 8)), 256 threads; warp w of block (s, y) computes row tile 8y + w over slice
// s's chunks, the activations staged in shared memory 64 / NT chunks at a time (hi and lo).
// Each block writes fp32 partial sums [slice][64][rows]; the last block of a row group to finish
// (counted with an atomic) adds the slices in slice order and runs the fused epilogue on the
// group's 128 rows, so results do not depend on timing or on the number of tokens.
//
// Inputs: IN_ACT reads staged-ready bf16 hi/lo activations; IN_NORM computes RMSNorm(x) on the
// fly from the residual stream x [64][K] and the sum-of-squares partials [64][ssGroups] that
// the previous epilogue (or embed) left. Epilogues:
//   OUT_ROPE   fused q/k/v rows; tiles pair RoPE partners (rows d and d + hd/2 of a head sit at
//              g and g + 8 of one tile) -> q (bf16) and this step's K/V cache slots
//   OUT_SWIGLU fused gate/up rows; a tile holds gate rows (g) and up rows (g + 8) of the same
//              8 hidden units -> silu(gate) * up as hi/lo activations for down_proj
//   OUT_RESID  x += result; per-token sum of squares of the group's rows -> ssOut
//   OUT_LOGITS logits [64][rows]

enum { IN_ACT = 0, IN_NORM = 1 };
enum { OUT_ROPE = 0, OUT_SWIGLU = 1, OUT_RESID = 2, OUT_LOGITS = 3 };
#define GROUP_ROWS 128

struct GemvArgs {
    const uint4* W;
    const uint4* xhi;
    const uint4* xlo;
    float* x;
    const float* ssIn;
    const float* normW;
    float* partial;
    int* counters;
    const StepParams* p;
    const float2* rope;  // OUT_ROPE: cos, sin (times the attention scaling) per (token, pair), from embed
    uint16_t* q;
    uint16_t* kc;
    uint16_t* vc;
    uint16_t* actHi;
    uint16_t* actLo;
    float* ssOut;
    float* logits;
    float* lastQuery;   // OUT_ROPE: fp32 [nHeads][hd], the block's last query (retrieval scoring)
    int rows, kChunks, cps, n;
    int ssGroups, nHeads, nKv, hd;
    int capacity, pad;
    float eps;
};
static_assert(sizeof(GemvArgs) == 192, "GemvArgs must match CudaTransformer.gemv");

__device__ __forceinline__ uint32_t pack2(uint16_t lo, uint16_t hi) { return (uint32_t) lo | ((uint32_t) hi << 16); }

// COMPACT (gemv_resid1): one token, its 4 items a chunk staged at c * 4; the lanes of the other
// columns read them too, and their results are never written.
template <int NT, bool COMPACT = false>
__device__ __forceinline__ void gemv_chunk(float (&acc)[NT][4], uint4 w0, uint4 w1, const uint4* xs_hi,
                                           const uint4* xs_lo, int c, int lane) {
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        const int i = COMPACT ? c * 4 + (lane & 3) : (c * NT + nt) * 32 + lane;
        uint4 bh = xs_hi[i];
        uint4 bl = xs_lo[i];
        mma_bf16(acc[nt], w0.x, w1.x, w0.y, w1.y, bh.x, bh.y);
        mma_bf16(acc[nt], w0.z, w1.z, w0.w, w1.w, bh.z, bh.w);
        mma_bf16(acc[nt], w0.x, w1.x, w0.y, w1.y, bl.x, bl.y);
        mma_bf16(acc[nt], w0.z, w1.z, w0.w, w1.w, bl.z, bl.w);
    }
}

// One staged item's inputs: 8 values of x from x + xi and the norm weights of dims k .. k + 7.
struct NormItem {
    float4 x0, x1, w0, w1;
};
__device__ __forceinline__ NormItem load_norm_item(const GemvArgs& a, size_t xi, int k) {
    const float4* xr = (const float4*) (a.x + xi);
    const float4* wr = (const float4*) (a.normW + k);
    return {xr[0], xr[1], wr[0], wr[1]};
}

// Staged item i: the item's 8 values of x normalised (1 / RMS inv, its norm weights), split into
// bf16 hi and lo parts.
__device__ __forceinline__ void stage_normed(uint4* xs_hi, uint4* xs_lo, int i, const NormItem& in, float inv) {
    const float4 x0 = in.x0, x1 = in.x1, w0 = in.w0, w1 = in.w1;
    float v[8] = {x0.x * inv * w0.x, x0.y * inv * w0.y, x0.z * inv * w0.z, x0.w * inv * w0.w,
                  x1.x * inv * w1.x, x1.y * inv * w1.y, x1.z * inv * w1.z, x1.w * inv * w1.w};
    uint16_t h[8], l[8];
#pragma unroll
    for (int j = 0; j < 8; j++) {
        h[j] = f2bf(v[j]);
        l[j] = f2bf(v[j] - bf2f(h[j]));
    }
    xs_hi[i] = make_uint4(pack2(h[0], h[1]), pack2(h[2], h[3]), pack2(h[4], h[5]), pack2(h[6], h[7]));
    xs_lo[i] = make_uint4(pack2(l[0], l[1]), pack2(l[2], l[3]), pack2(l[4], l[5]), pack2(l[6], l[7]));
}

// Stages chunks c0 .. c0+nc of the activations: IN_ACT copies hi/lo; IN_NORM normalises x on
// the fly with the per-token inverse RMS inv[]. Item r of a chunk (NT * 32 of them) is token
// r / 4; only the first 2^shift items are staged (the tokens of the block, rounded up to a power
// of two): the other columns are left as they are, their results are never written. COMPACT
// (gemv_resid1, one token): the calling warp stages chunk c's 4 items at c * 4.
template <int NT, int IN, bool COMPACT = false>
__device__ __forceinline__ void gemv_stage(const GemvArgs& a, uint4* xs_hi, uint4* xs_lo, int c0, int nc,
                                           const float* inv) {
    const int shift = min(32 - __clz(4 * a.n - 1), 5 + __ffs(NT) - 1);   // log2(items staged a chunk)
    if (IN == IN_ACT) {
#pragma unroll 8
        for (int e = COMPACT ? threadIdx.x & 31 : threadIdx.x; e < nc << shift; e += COMPACT ? 32 : blockDim.x) {
            int c = e >> shift, r = e & ((1 << shift) - 1), i = COMPACT ? e : c * NT * 32 + r;
            xs_hi[i] = a.xhi[(size_t) (c0 + c) * MAX_TOKENS * 4 + r];
            xs_lo[i] = a.xlo[(size_t) (c0 + c) * MAX_TOKENS * 4 + r];
        }
    } else {
        const int K = a.kChunks * 32;
#pragma unroll 4
        for (int e = COMPACT ? threadIdx.x & 31 : threadIdx.x; e < nc << shift; e += COMPACT ? 32 : blockDim.x) {
            int c = e >> shift, r = e & ((1 << shift) - 1), i = COMPACT ? e : c * NT * 32 + r;
            int t = r >> 2, k = (c0 + c) * 32 + (r & 3) * 8;
            const NormItem in = load_norm_item(a, (size_t) t * K + k, k);
            stage_normed(xs_hi, xs_lo, i, in, inv[t]);
        }
    }
}

// Dims d and d + hd/2 (x1, x2) of head `head` of token t, as the q/k/v matmul left them: q and k
// heads rotated by RoPE's (cos, sin) cs, then q heads stored to q [t][nHeads][hd] (and in fp32 to
// lastQuery, when given: the block's last token), k and v heads to cache slot `slot`. Explicit
// rounding, no fused multiply-add: the step epilogue and prefill_rope both call this, so a
// token's keys have the same bits whichever path computed them.
__device__ __forceinline__ void rope_store(float x1, float x2, float2 cs, int t, int head, int d, int nHeads, int nKv,
                                           int hd, uint16_t* q, float* lastQuery, uint16_t* kc, uint16_t* vc,
                                           int capacity, int slot) {
    const int half = hd / 2;
    if (head < nHeads + nKv) {
        float u = x1;
        x1 = __fsub_rn(__fmul_rn(u, cs.x), __fmul_rn(x2, cs.y));
        x2 = __fadd_rn(__fmul_rn(x2, cs.x), __fmul_rn(u, cs.y));
    }
    uint16_t* dst;
    if (head < nHeads) {
        dst = q + ((size_t) t * nHeads + head) * hd;
        if (lastQuery != nullptr) {
            lastQuery[head * hd + d] = x1;
            lastQuery[head * hd + d + half] = x2;
        }
    } else {
        int kvh = head < nHeads + nKv ? head - nHeads : head - nHeads - nKv;
        dst = (head < nHeads + nKv ? kc : vc) + ((size_t) kvh * capacity + slot) * hd;
    }
    dst[d] = f2bf(x1);
    dst[d + half] = f2bf(x2);
}

// SwiGLU of a hidden unit: silu(gate) * up, as every path computes it (the GEMV epilogue, prefill's GEMM).
__device__ __forceinline__ float swiglu(float gate, float up) { return gate / (1.f + expf(-gate)) * up; }

// OUT_ROPE: RoPE's (cos, sin) for rows g and g + 8 of row tile `tile` (dims d, d + hd/2 of a head)
// for token t, from the step's table (embed); nothing for the other outputs. Epilogues load it
// with their sums, not after them.
template <int OUT>
__device__ __forceinline__ float2 pair_rope(const GemvArgs& a, int t, int tile, int g) {
    if (OUT != OUT_ROPE) return make_float2(0.f, 0.f);
    return a.rope[t * (a.hd / 2) + (tile % (a.hd / 16)) * 8 + g];
}

// OUT_ROPE and OUT_SWIGLU: the sums u, v of rows g and g + 8 of row tile `tile` for token t (cs:
// pair_rope's).
template <int OUT>
__device__ __forceinline__ void finish_pair(const GemvArgs& a, int t, int tile, int g, float u, float v, float2 cs) {
    if (OUT == OUT_SWIGLU) {
        write_act(a.actHi, a.actLo, t, tile * 8 + g, swiglu(u, v));
        return;
    }
    int tilesPerHead = a.hd / 16, head = tile / tilesPerHead, d = (tile % tilesPerHead) * 8 + g;
    rope_store(u, v, cs, t, head, d, a.nHeads, a.nKv, a.hd, a.q, t == a.n - 1 ? a.lastQuery : nullptr, a.kc, a.vc,
               a.capacity, a.p->slot + t);
}

// The fused epilogue of row group y (tiles 8y .. 8y+7), run by the group's last block (256
// threads), 16 tokens at a time. Each thread owns a fixed set of (token, row) items and first
// adds their slices, all loads in flight together, slice by slice in order.
template <int NT, int OUT>
__device__ void gemv_epilogue(const GemvArgs& a, int slices, int y) {
    const int n = a.n;
    const int rowTiles = (a.rows + 15) >> 4;
    const float* part = a.partial;
    __shared__ float sq[OUT == OUT_RESID ? 16 : 1][GROUP_ROWS];
    for (int tb = 0; tb < n; tb += 16) {
        if (OUT == OUT_ROPE || OUT == OUT_SWIGLU) {
            // item i = (token tb + i / 64, tile y*8 + (i % 64) / 8, pair g = i % 8): rows g, g + 8 of the tile.
            // Items a thread owns: 4 for 16 tokens; 2 in the one-to-8-token forms (n <= 8), which then
            // keep 8 slices' loads in flight instead of 4.
            constexpr int KI = NT == 1 ? 2 : 4;
            float u[KI], v[KI];
            int row[KI], tok[KI];
            float2 cs[KI];
#pragma unroll
            for (int k = 0; k < KI; k++) {
                int i = threadIdx.x + 256 * k;
                tok[k] = tb + i / 64;
                int tile = y * 8 + (i % 64) / 8;
                row[k] = tok[k] < n && tile < rowTiles ? tile * 16 + i % 8 : -1;
                u[k] = v[k] = 0.f;
                if (row[k] >= 0) cs[k] = pair_rope<OUT>(a, tok[k], tile, i % 8);
            }
#pragma unroll (NT == 1 ? 8 : 4)
            for (int sl = 0; sl < slices; sl++) {  // added in slice order
#pragma unroll
                for (int k = 0; k < KI; k++) {
                    if (row[k] >= 0) {
                        const float* pr = part + ((size_t) sl * MAX_TOKENS + tok[k]) * a.rows + row[k];
                        u[k] += __ldcg(pr);
                        v[k] += __ldcg(pr + 8);
                    }
                }
            }
#pragma unroll
            for (int k = 0; k < KI; k++) {
                if (row[k] >= 0) finish_pair<OUT>(a, tok[k], row[k] >> 4, row[k] & 7, u[k], v[k], cs[k]);
            }
            continue;
        }
        // OUT_RESID and OUT_LOGITS: item k = (token tb + tid / 128 + 2k, row y*128 + tid % 128)
        const int rl = threadIdx.x & (GROUP_ROWS - 1);
        const int r = y * GROUP_ROWS + rl;
        const int t0 = threadIdx.x >> 7;
        // Items a thread owns: 8 for 16 tokens; 4 in the one-to-8-token forms (n <= 8, so the sums
        // of squares below never read sq rows 8-15), which then keep 16 slices' loads in flight
        // instead of 4: decode 7B 4K 5.97 -> 5.90 ms; 8 in flight for 16 tokens did not pay.
        constexpr int K = NT == 1 ? 4 : 8;
        float sum[K];
#pragma unroll
        for (int k = 0; k < K; k++) sum[k] = 0.f;
        if (r < a.rows) {
#pragma unroll (NT == 1 ? 16 : 4)
            for (int sl = 0; sl < slices; sl++) {
#pragma unroll
                for (int k = 0; k < K; k++) {
                    int t = tb + t0 + 2 * k;
                    if (t < n) sum[k] += __ldcg(part + ((size_t) sl * MAX_TOKENS + t) * a.rows + r);
                }
            }
        }
#pragma unroll
        for (int k = 0; k < K; k++) {
            int t = tb + t0 + 2 * k;
            if (t >= n || r >= a.rows) {
                if (OUT == OUT_RESID) sq[t0 + 2 * k][rl] = 0.f;
                continue;
            }
            if (OUT == OUT_LOGITS) {
                a.logits[(size_t) t * a.rows + r] = sum[k];
            } else {
                float v = __fadd_rn(a.x[(size_t) t * a.rows + r], sum[k]);
                a.x[(size_t) t * a.rows + r] = v;
                sq[t0 + 2 * k][rl] = __fmul_rn(v, v);
            }
        }
        if (OUT == OUT_RESID) {  // per-token sum of squares over the group's rows: warp w takes tokens w, w + 8
            __syncthreads();
            const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
            for (int h = 0; h < 2; h++) {
                int tl = warp + 8 * h;
                float v = group_square_sum(sq[tl][lane], sq[tl][lane + 32], sq[tl][lane + 64], sq[tl][lane + 96]);
                if (lane == 0 && tb + tl < n) a.ssOut[(tb + tl) * gridDim.y + y] = v;
            }
            __syncthreads();
        }
    }
}

// One-token steps run their residual GEMVs as gemv_resid1 (a block per row tile, below), which
// leaves no sums of squares, so the RMSNorm GEMVs after them are gemv_*8x, which add x's squares
// themselves; the q/k/v after embed reads embed's sums as ever.
#define TILE_MAX_SLICES 16   // gemv_resid1: warps a block
#define TILE_MAX_GROUPS 64   // gemv_*8x: 128-row groups of x

// gemv_*8x: 1 / RMS of token 0's x [K], as gemv_body computes it from the sums of squares that
// gemv_epilogue leaves: each 128-row group's sum (group_square_sum), the groups added in order.
// Every thread of the 8 warps that call it gets it; they sync on `bar` (sync_part). A warp loads its
// groups 4 at a time, all 16 loads in flight (x of dim 4096: one L2 round trip, where a group at a
// time took four).
__device__ float inverse_rms_from_x(const GemvArgs& a, float* groups, int bar = 0) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, K = a.kChunks * 32;
    for (int g0 = warp; g0 < a.ssGroups; g0 += 32) {
        float sq[4][4];
#pragma unroll
        for (int b = 0; b < 4; b++) {
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int r = (g0 + 8 * b) * GROUP_ROWS + lane + 32 * j;
                const float v = g0 + 8 * b < a.ssGroups && r < K ? a.x[r] : 0.f;
                sq[b][j] = __fmul_rn(v, v);
            }
        }
#pragma unroll
        for (int b = 0; b < 4; b++) {
            const float v = group_square_sum(sq[b][0], sq[b][1], sq[b][2], sq[b][3]);
            if (lane == 0 && g0 + 8 * b < a.ssGroups) groups[g0 + 8 * b] = v;
        }
    }
    sync_part(bar, 256);
    float ss = 0.f;
    for (int g = 0; g < a.ssGroups; g++) ss += groups[g];
    return (float) (1.0 / sqrt((double) (ss / K) + (double) a.eps));
}

// 1 / RMS of token t's x from the sums of squares per 128-row group that a GEMV epilogue or embed
// left (ssIn [t][ssGroups]), added in group order, B groups' loads in flight at once.
template <int B>
__device__ __forceinline__ float inverse_rms_from_sums(const GemvArgs& a, int t) {
    float ss = 0.f;
    for (int g0 = 0; g0 < a.ssGroups; g0 += B) {
        float part[B];
#pragma unroll
        for (int j = 0; j < B; j++) part[j] = g0 + j < a.ssGroups ? a.ssIn[t * a.ssGroups + g0 + j] : 0.f;
#pragma unroll
        for (int j = 0; j < B; j++) ss += part[j];  // + 0 past the last group: ss stays the same
    }
    return (float) (1.0 / sqrt((double) (ss / (a.kChunks * 32)) + (double) a.eps));
}

// How a GEMV overlaps its weight stream with the rest (same bits in every form; see GEMV_KERNEL
// for where each pays):
//   PLAIN      the block stages up to 64 / NT chunks of activations, then each warp loads 4 weight
//              chunks at a time and runs their mma
//   PIPELINED  each warp keeps a second batch of 4 weight chunks in flight while it runs the mma
//              of the first: 32 more registers, 2 blocks a SM instead of 3
//   ROLLING    activations staged 4 chunks at a time in two halves of the buffer, the next 4 while
//              this batch's weights load, so the weight stream does not wait for the slice's whole
//              staging (about 0.4 ms of a Llama-2-7B verify of 16 tokens, of which this wins back
//              0.1); 99 registers, 2 blocks a SM
enum { PLAIN = 0, PIPELINED = 1, ROLLING = 2 };

// CLUSTER (2-16 tokens, "c" kernels): the slices of a row group are one thread-block cluster that
// adds their sums in shared memory; see cluster_epilogue.
template <int NT, int OUT>
__device__ void cluster_epilogue(const GemvArgs& a, const float (&acc)[NT][4], float* sums, int tile, bool active);

template <int NT, int IN, int OUT, int FORM, bool SSX = false, bool CLUSTER = false>
__device__ __forceinline__ void gemv_body(const GemvArgs& a) {
    extern __shared__ uint4 smem[];  // staged hi and lo activations
    __shared__ int isLast;
    __shared__ float inv[MAX_TOKENS];
    pdl_launch_next();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int slice = blockIdx.x;
    const int c0 = slice * a.cps;
    const int nc = min(a.cps, a.kChunks - c0);
    const int stage = min(a.cps, 64 / NT);  // chunks staged at a time: 64 KiB of shared memory at most
    const int rowTiles = (a.rows + 15) >> 4;
    const int tile = blockIdx.y * 8 + warp;
    const bool active = tile < rowTiles;
    uint4* xs_hi = smem;
    uint4* xs_lo = smem + stage * NT * 32;

    // Stream this warp's first 4 chunks of W while the previous kernel finishes.
    const uint4* wp = a.W + ((size_t) min(tile, rowTiles - 1) * a.kChunks + c0) * 64 + lane;
    uint4 w[8], wn[8];
    if (nc >= 4) {
#pragma unroll
        for (int j = 0; j < 4; j++) {
            w[2 * j] = load_stream(wp + j * 64);
            w[2 * j + 1] = load_stream(wp + j * 64 + 32);
        }
    }
    pdl_wait();
    if (SSX) {
        // One token (gemv_*8x): the sums of squares from x, and the slice staged here rather than
        // in the loop below (one stage: nc <= 48 chunks (DeviceModel), 4 items each, an item a thread), its
        // x loaded together with the squares' so that the step waits on x once.
        __shared__ float groups[TILE_MAX_GROUPS];
        const int e = threadIdx.x, k = (c0 + (e >> 2)) * 32 + (e & 3) * 8;
        const bool item = e < nc * 4;
        NormItem in;
        if (item) in = load_norm_item(a, k, k);
        const float i = inverse_rms_from_x(a, groups);
        if (item) stage_normed(xs_hi, xs_lo, (e >> 2) * 32 + (e & 3), in, i);
    } else if (IN == IN_NORM && threadIdx.x < NT * 8) {
        // Token threadIdx.x's sums of squares, added in group order (as prefill_norm adds them), B
        // groups' loads in flight at once: this is on the path from the previous kernel to this one.
        // 32 for one-token steps; the wider forms keep 8, as registers are tight there (16 or 32
        // pushed gemv_gateup16 to 100 registers or into spills).
        inv[threadIdx.x] = inverse_rms_from_sums<NT == 1 ? 32 : 8>(a, threadIdx.x);
    }
    if (IN == IN_NORM) __syncthreads();

    float acc[NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;
    if (FORM == ROLLING) {
        // Slots 0-3 and 4-7 of the buffer take batches in turn (a buffer of more than 4 chunks
        // exists whenever the slice has more than 4).
        gemv_stage<NT, IN>(a, xs_hi, xs_lo, c0, min(4, nc), inv);
        __syncthreads();
        for (int c = 0; c < nc; c += 4) {
            const int slot = c & 4;
            const bool full = c + 4 <= nc;
            if (active && full && c > 0) {
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    w[2 * j] = load_stream(wp + (c + j) * 64);
                    w[2 * j + 1] = load_stream(wp + (c + j) * 64 + 32);
                }
            }
            if (c + 4 < nc) {
                gemv_stage<NT, IN>(a, xs_hi + (slot ^ 4) * NT * 32, xs_lo + (slot ^ 4) * NT * 32, c0 + c + 4,
                                   min(4, nc - c - 4), inv);
            }
            if (active && full) {
#pragma unroll
                for (int j = 0; j < 4; j++) gemv_chunk<NT>(acc, w[2 * j], w[2 * j + 1], xs_hi, xs_lo, slot + j, lane);
            } else if (active) {
                for (int cc = c; cc < nc; cc++) {
                    gemv_chunk<NT>(acc, load_stream(wp + cc * 64), load_stream(wp + cc * 64 + 32), xs_hi, xs_lo,
                                   slot + cc - c, lane);
                }
            }
            __syncthreads();  // the next batch is staged; every warp is done with this one's slots
        }
    } else {
        for (int cs = 0; cs < nc; cs += stage) {
            const int count = min(stage, nc - cs);
            if (!SSX) {   // (gemv_*8x staged its one stage above)
                if (cs > 0) __syncthreads();  // every warp is done with the previous stage
                gemv_stage<NT, IN>(a, xs_hi, xs_lo, c0 + cs, count, inv);
                __syncthreads();
            }
            if (!active) continue;
            int c = cs;
            for (; c + 4 <= cs + count; c += 4) {
                if (FORM == PIPELINED) {
                    if (c > 0) {
#pragma unroll
                        for (int j = 0; j < 8; j++) w[j] = wn[j];
                    }
                    if (c + 8 <= nc) {  // the next 4 chunks (stages hold multiples of 4) load during this batch's mma
#pragma unroll
                        for (int j = 0; j < 4; j++) {
                            wn[2 * j] = load_stream(wp + (c + 4 + j) * 64);
                            wn[2 * j + 1] = load_stream(wp + (c + 4 + j) * 64 + 32);
                        }
                    }
                } else if (c > 0) {
#pragma unroll
                    for (int j = 0; j < 4; j++) {
                        w[2 * j] = load_stream(wp + (c + j) * 64);
                        w[2 * j + 1] = load_stream(wp + (c + j) * 64 + 32);
                    }
                }
#pragma unroll
                for (int j = 0; j < 4; j++) gemv_chunk<NT>(acc, w[2 * j], w[2 * j + 1], xs_hi, xs_lo, c - cs + j, lane);
            }
            for (; c < cs + count; c++) {
                gemv_chunk<NT>(acc, load_stream(wp + c * 64), load_stream(wp + c * 64 + 32), xs_hi, xs_lo, c - cs,
                               lane);
            }
        }
    }
    if constexpr (CLUSTER) {
        __syncthreads();   // every warp is done with the staged activations, whose space holds the sums now
        cluster_epilogue<NT, OUT>(a, acc, (float*) smem, tile, active);
        return;
    }
    if (active) {
        const int g = lane >> 2, tq = lane & 3;
        const int r0 = tile * 16 + g;
        float* out = a.partial + (size_t) slice * MAX_TOKENS * a.rows;
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int tok = nt * 8 + 2 * tq + (e & 1);
                int r = r0 + 8 * (e >> 1);
                if (tok < a.n && r < a.rows) out[(size_t) tok * a.rows + r] = acc[nt][e];
            }
        }
    }
    // The row group's count: the block's barrier orders its partial sums before thread 0's
    // acquire-release add at GPU scope, which publishes them and, in the last block, takes in the
    // other blocks' (one fence on one thread, not one on every thread before and after the count).
    __syncthreads();
    if (threadIdx.x == 0) {
        int before;
        asm volatile("atom.acq_rel.gpu.global.add.s32 %0, [%1], 1;" : "=r"(before) : "l"(&a.counters[blockIdx.y]) : "memory");
        isLast = before == (int) gridDim.x - 1;
    }
    __syncthreads();
    if (!isLast) return;
    gemv_epilogue<NT, OUT>(a, gridDim.x, blockIdx.y);
    if (threadIdx.x == 0) a.counters[blockIdx.y] = 0;
}

// The 9-16-token kernels also come PIPELINED ("p", except q/k/v) and ROLLING ("r", q/k/v, gate/up
// and logits, whose staging normalises on the fly); o_proj and down stay PLAIN in the rolling set.
// Which set is fastest depends on the model (CudaTransformer times each once). H100, a 16-token
// step on a scratch cache, plain / pipelined / rolling: Llama-2-7B 6.08 / 6.15 / 5.92 ms,
// Llama-3.1-8B 6.62 / 6.31 / 6.31. Rolling held to 3 blocks a SM (80 registers, 32-40 bytes
// spilled) lost: Llama-2-7B verify of 16 at 4K 7.22 ms against 7.02, 7.29 with o_proj and down
// rolling too.
#define GEMV_KERNEL(name, NT, IN, OUT, FORM) \
    extern "C" __global__ void __launch_bounds__(256, FORM == PIPELINED ? 2 : 0) name(const GemvArgs a) { \
        gemv_body<NT, IN, OUT, FORM>(a); \
    }
GEMV_KERNEL(gemv_qkv8, 1, IN_NORM, OUT_ROPE, PLAIN)
GEMV_KERNEL(gemv_qkv16, 2, IN_NORM, OUT_ROPE, PLAIN)
GEMV_KERNEL(gemv_qkv16r, 2, IN_NORM, OUT_ROPE, ROLLING)
GEMV_KERNEL(gemv_gateup8, 1, IN_NORM, OUT_SWIGLU, PLAIN)
GEMV_KERNEL(gemv_gateup16, 2, IN_NORM, OUT_SWIGLU, PLAIN)
GEMV_KERNEL(gemv_gateup16p, 2, IN_NORM, OUT_SWIGLU, PIPELINED)
GEMV_KERNEL(gemv_gateup16r, 2, IN_NORM, OUT_SWIGLU, ROLLING)
GEMV_KERNEL(gemv_resid8, 1, IN_ACT, OUT_RESID, PLAIN)
GEMV_KERNEL(gemv_resid16, 2, IN_ACT, OUT_RESID, PLAIN)
GEMV_KERNEL(gemv_resid16p, 2, IN_ACT, OUT_RESID, PIPELINED)
GEMV_KERNEL(gemv_logits8, 1, IN_NORM, OUT_LOGITS, PLAIN)
GEMV_KERNEL(gemv_logits16, 2, IN_NORM, OUT_LOGITS, PLAIN)
GEMV_KERNEL(gemv_logits16p, 2, IN_NORM, OUT_LOGITS, PIPELINED)
GEMV_KERNEL(gemv_logits16r, 2, IN_NORM, OUT_LOGITS, ROLLING)
GEMV_KERNEL(gemv_qkv32, 4, IN_NORM, OUT_ROPE, PLAIN)
GEMV_KERNEL(gemv_qkv64, 8, IN_NORM, OUT_ROPE, PLAIN)
GEMV_KERNEL(gemv_gateup32, 4, IN_NORM, OUT_SWIGLU, PLAIN)
GEMV_KERNEL(gemv_gateup64, 8, IN_NORM, OUT_SWIGLU, PLAIN)
GEMV_KERNEL(gemv_resid32, 4, IN_ACT, OUT_RESID, PLAIN)
GEMV_KERNEL(gemv_resid64, 8, IN_ACT, OUT_RESID, PLAIN)
GEMV_KERNEL(gemv_logits32, 4, IN_NORM, OUT_LOGITS, PLAIN)
GEMV_KERNEL(gemv_logits64, 8, IN_NORM, OUT_LOGITS, PLAIN)

// The epilogue without partial sums through L2 and without a last block ("c" kernels, 2-16
// tokens): the blocks of a row group (its slices, blockIdx.x = rank) form a thread-block cluster.
// Each leaves its sums of the group's rows [NT * 8 tokens][128] in its shared memory; after the
// cluster barrier, warp w of block s takes token s + slices * w and adds the slices' sums in slice
// order from their shared memory, as gemv_epilogue adds the partials. Lane l takes 4 rows: l + 32j
// (OUT_RESID: added to x, then the token's sum of squares of the group's rows by group_square_sum,
// as gemv_epilogue; OUT_LOGITS) or, for pairs l and l + 32, rows g and g + 8 of their tile (OUT_ROPE,
// OUT_SWIGLU). Same bits; the epilogue spread over the group's blocks, none waiting for the last.
template <int OUT>
__device__ int cluster_row(int lane, int j) {
    if (OUT == OUT_RESID || OUT == OUT_LOGITS) return lane + 32 * j;
    const int pair = lane + 32 * (j >> 1);
    return (pair >> 3) * 16 + (pair & 7) + 8 * (j & 1);
}

template <int NT, int OUT>
__device__ void cluster_epilogue(const GemvArgs& a, const float (&acc)[NT][4], float* sums, int tile, bool active) {
    namespace cg = cooperative_groups;
    cg::cluster_group cluster = cg::this_cluster();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, y = blockIdx.y, slices = gridDim.x;
    if (active) {
        const int g = lane >> 2, tq = lane & 3, r0 = (tile - 8 * y) * 16 + g;
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) sums[(nt * 8 + 2 * tq + (e & 1)) * GROUP_ROWS + r0 + 8 * (e >> 1)] = acc[nt][e];
        }
    }
    const int t = blockIdx.x + slices * warp;
    const bool mine = t < a.n;
    float x[4];   // OUT_RESID: the token's x over the lane's rows, loaded while the cluster syncs
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const int r = y * GROUP_ROWS + lane + 32 * j;
        x[j] = OUT == OUT_RESID && mine && r < a.rows ? a.x[(size_t) t * a.rows + r] : 0.f;
    }
    cluster.sync();
    float sum[4] = {0.f, 0.f, 0.f, 0.f};
    if (mine) {
        // 8 slices' loads in flight (one round trip to the other blocks each), added in slice order
        for (int s0 = 0; s0 < slices; s0 += 8) {
            float v[8][4];
#pragma unroll
            for (int i = 0; i < 8; i++) {
                if (s0 + i >= slices) break;
                const float* remote = cluster.map_shared_rank(sums, s0 + i) + t * GROUP_ROWS;
#pragma unroll
                for (int j = 0; j < 4; j++) v[i][j] = remote[cluster_row<OUT>(lane, j)];
            }
#pragma unroll
            for (int i = 0; i < 8; i++) {
                if (s0 + i >= slices) break;
#pragma unroll
                for (int j = 0; j < 4; j++) sum[j] += v[i][j];
            }
        }
    }
    cluster.barrier_arrive();   // this block has read the others' sums; they may exit once all have
    if (mine) {
        if (OUT == OUT_RESID || OUT == OUT_LOGITS) {
            float sq[4];
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int r = y * GROUP_ROWS + lane + 32 * j;
                sq[j] = 0.f;
                if (r >= a.rows) continue;
                if (OUT == OUT_LOGITS) {
                    a.logits[(size_t) t * a.rows + r] = sum[j];
                } else {
                    const float v = __fadd_rn(x[j], sum[j]);
                    a.x[(size_t) t * a.rows + r] = v;
                    sq[j] = __fmul_rn(v, v);
                }
            }
            if (OUT == OUT_RESID) {
                const float v = group_square_sum(sq[0], sq[1], sq[2], sq[3]);
                if (lane == 0) a.ssOut[t * gridDim.y + y] = v;
            }
        } else {
            const int rowTiles = (a.rows + 15) >> 4;
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int pair = lane + 32 * h, pairTile = y * 8 + (pair >> 3);
                if (pairTile < rowTiles) {
                    finish_pair<OUT>(a, t, pairTile, pair & 7, sum[2 * h], sum[2 * h + 1],
                                     pair_rope<OUT>(a, t, pairTile, pair & 7));
                }
            }
        }
    }
    cluster.barrier_wait();   // every block has read this one's sums
}

// The cluster forms of the GEMVs, by the name of the sliced one + "c". H100, a verify of 16 at
// Llama-2-7B 4K / Llama-3.1-8B 32K: 7.02 / 8.80 ms sliced, 6.85 / 8.65 with only o_proj and down in
// clusters, 6.87 / 8.60 with all four. For 2-8 tokens the blocks' wait at the cluster barrier
// mostly costs more than the last block's epilogue saves: all four in clusters, a verify of 4 tokens
// 5.98 -> 6.23 ms (7B), 7.57 -> 7.66 (8B); o_proj and down 6.04 / 7.46; down alone (11 / 14 slices)
// 6.08 / 7.48; o_proj alone (8 slices, a portable cluster) 5.97 / 7.53, and 8 tokens 6.26 -> 6.20,
// 7.95 -> 7.88: what the backend runs.
#define GEMV_CLUSTER_KERNEL(name, NT, IN, OUT, FORM) \
    extern "C" __global__ void __launch_bounds__(256, FORM == PIPELINED ? 2 : 0) name(const GemvArgs a) { \
        gemv_body<NT, IN, OUT, FORM, false, true>(a); \
    }
GEMV_CLUSTER_KERNEL(gemv_resid8c, 1, IN_ACT, OUT_RESID, PLAIN)
GEMV_CLUSTER_KERNEL(gemv_qkv16c, 2, IN_NORM, OUT_ROPE, PLAIN)
GEMV_CLUSTER_KERNEL(gemv_qkv16rc, 2, IN_NORM, OUT_ROPE, ROLLING)
GEMV_CLUSTER_KERNEL(gemv_gateup16c, 2, IN_NORM, OUT_SWIGLU, PLAIN)
GEMV_CLUSTER_KERNEL(gemv_gateup16pc, 2, IN_NORM, OUT_SWIGLU, PIPELINED)
GEMV_CLUSTER_KERNEL(gemv_gateup16rc, 2, IN_NORM, OUT_SWIGLU, ROLLING)
GEMV_CLUSTER_KERNEL(gemv_resid16c, 2, IN_ACT, OUT_RESID, PLAIN)
GEMV_CLUSTER_KERNEL(gemv_resid16pc, 2, IN_ACT, OUT_RESID, PIPELINED)
GEMV_CLUSTER_KERNEL(gemv_logits16c, 2, IN_NORM, OUT_LOGITS, PLAIN)
GEMV_CLUSTER_KERNEL(gemv_logits16pc, 2, IN_NORM, OUT_LOGITS, PIPELINED)
GEMV_CLUSTER_KERNEL(gemv_logits16rc, 2, IN_NORM, OUT_LOGITS, ROLLING)

#define GEMV_SSX_KERNEL(name, OUT) \
    extern "C" __global__ void __launch_bounds__(256) name(const GemvArgs a) { gemv_body<1, IN_NORM, OUT, PLAIN, true>(a); }
GEMV_SSX_KERNEL(gemv_qkv8x, OUT_ROPE)
GEMV_SSX_KERNEL(gemv_gateup8x, OUT_SWIGLU)
GEMV_SSX_KERNEL(gemv_logits8x, OUT_LOGITS)

// ---------------------------------------------------------------------------------------------
// One-token residual GEMVs (o_proj, down) with a block per row tile: grid (rowTiles), one warp per
// slice of the sliced kernels' split (32 x slices threads). Warp w stages slice w's activations
// (compact) and sums the slice's chunks as gemv_resid8 does; the block adds the slices in order
// and adds the tile's 16 rows to x itself: the same bits, with no partial sums through L2, no
// count of finished blocks and no epilogue waiting for the last of them at the kernel's tail. It
// leaves no sums of squares (16 rows of a 128-row group): the RMSNorm GEMV after it is a gemv_*8x.
// gemv_resid1: chunks of W a warp loads at once. H100, decode (two rounds, same call): 4 -> 8
// Llama-2-7B 4K 5.757 -> 5.737 ms, Llama-3.1-8B 32K 7.164 -> 7.127; 2: 5.805, 7.195.
constexpr int RESID1_BATCH = 8;

extern "C" __global__ void __launch_bounds__(32 * TILE_MAX_SLICES) gemv_resid1(const GemvArgs a) {
    extern __shared__ uint4 staged[];   // per warp: its slice's activations, cps x 4 hi then cps x 4 lo
    __shared__ float part[TILE_MAX_SLICES][16];
    pdl_launch_next();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, slices = blockDim.x >> 5, tile = blockIdx.x;
    const int c0 = warp * a.cps, nc = min(a.cps, a.kChunks - c0);
    // Stream this warp's first RESID1_BATCH chunks of W while the previous kernel finishes.
    const uint4* wp = a.W + ((size_t) tile * a.kChunks + c0) * 64 + lane;
    uint4 w[2 * RESID1_BATCH];
    if (nc >= RESID1_BATCH) {
#pragma unroll
        for (int j = 0; j < RESID1_BATCH; j++) {
            w[2 * j] = load_stream(wp + j * 64);
            w[2 * j + 1] = load_stream(wp + j * 64 + 32);
        }
    }
    pdl_wait();
    const int t = threadIdx.x, r = tile * 16 + t;   // thread t < 16: row t of the tile, slices added in order
    const bool mine = t < 16 && r < a.rows;
    const float x = mine ? a.x[r] : 0.f;   // loaded with the staging: the step waits on memory once
    uint4* xs_hi = staged + warp * a.cps * 8;
    uint4* xs_lo = xs_hi + a.cps * 4;
    gemv_stage<1, IN_ACT, true>(a, xs_hi, xs_lo, c0, nc, nullptr);
    __syncwarp();
    float acc[1][4] = {{0.f, 0.f, 0.f, 0.f}};
    int c = 0;
    for (; c + RESID1_BATCH <= nc; c += RESID1_BATCH) {
        if (c > 0) {
#pragma unroll
            for (int j = 0; j < RESID1_BATCH; j++) {
                w[2 * j] = load_stream(wp + (c + j) * 64);
                w[2 * j + 1] = load_stream(wp + (c + j) * 64 + 32);
            }
        }
#pragma unroll
        for (int j = 0; j < RESID1_BATCH; j++) gemv_chunk<1, true>(acc, w[2 * j], w[2 * j + 1], xs_hi, xs_lo, c + j, lane);
    }
    for (; c < nc; c++) gemv_chunk<1, true>(acc, load_stream(wp + c * 64), load_stream(wp + c * 64 + 32), xs_hi, xs_lo, c, lane);
    if ((lane & 3) == 0) {   // column 0 (the token): rows g and g + 8 of the tile
        part[warp][lane >> 2] = acc[0][0];
        part[warp][(lane >> 2) + 8] = acc[0][2];
    }
    __syncthreads();
    if (!mine) return;
    float sum = 0.f;
    for (int s = 0; s < slices; s++) sum += part[s][t];
    a.x[r] = __fadd_rn(x, sum);
}
