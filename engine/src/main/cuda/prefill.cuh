// Chunked prefill: a prompt's tokens in chunks of T (a multiple of 128), where the step kernels
// would take them 64 at a time and read every weight once per 64 tokens. Included by triforce.cu
// (its helpers and layouts). A chunk of T tokens is T / 64 "sub-blocks" of 64:
//  * activations: hi and lo bf16 [T/64][K/32][64][32] - each sub-block is the step layout, so the
//    step's embed, attention and combine kernels run on a sub-block unchanged;
//  * the residual stream x: fp32 [T][dim], its per-128-row-group sums of squares [T][dim/128];
//    q/k/v GEMM output y: fp32 [T][rows] in tiled row order.
// Per layer: prefill_norm -> gemm_store (q/k/v) -> prefill_rope (q, K/V cache) -> the step's
// attention and combine over sub-blocks (chunk_attention, chunk_combine) -> gemm_resid (o_proj)
// -> prefill_norm -> gemm_swiglu (gate/up) -> gemm_resid (down_proj).
// Same bits as the step kernels: every sum runs in the step's order (the GEMM's k chunks in the
// GEMV's slices, slices added in order; the sums of squares grouped as the GEMV epilogue groups
// them) and every epilogue is the step's arithmetic. So a token's keys and logits do not depend
// on whether its prompt was prefilled in chunks or fed 64 tokens at a time.

#define GEMM_TOKENS 128   // tokens per block: two sub-blocks
#define GEMM_STAGES 2     // k chunks in flight (cp.async ring)

struct GemmArgs {
    const uint4* W;       // tiled weights [rowTiles][kChunks][2][32] uint4
    const uint4* xhi;     // chunk activations (sub-block layout above)
    const uint4* xlo;
    float* y;             // GEMM_STORE: [T][rows];  GEMM_RESID: the residual stream x [T][rows], += result
    uint16_t* actHi;      // GEMM_SWIGLU: silu(gate) * up for down_proj, sub-block layout with K = rows / 2
    uint16_t* actLo;
    float* ssOut;         // GEMM_RESID: per-token sums of squares of x's 128-row groups [T][rows / 128]
    int rows, kChunks, cps, T;
};
static_assert(sizeof(GemmArgs) == 72, "GemmArgs must match CudaPrefill.gemm");

enum { GEMM_STORE = 0, GEMM_RESID = 1, GEMM_SWIGLU = 2 };

// Element (token t of the chunk, k) of sub-block-layout activations with K = 32 * kChunks.
__device__ __forceinline__ size_t chunk_act_index(int t, int k, int kChunks) {
    return (size_t) (t >> 6) * kChunks * MAX_TOKENS * 32 + act_index(t & 63, k);
}

// One 32-wide k chunk for a warp's 2 row tiles (weights w: [2 tiles][2 halves][32] uint4) x 8
// n-tiles (activations xh / xl: [8][32] uint4), in gemv_chunk's operand order: hi then lo, each
// over the chunk's two k16 steps.
__device__ __forceinline__ void gemm_chunk(float (&acc)[2][8][4], const uint4* w, const uint4* xh, const uint4* xl,
                                           int lane) {
    uint4 w00 = w[lane], w01 = w[32 + lane], w10 = w[64 + lane], w11 = w[96 + lane];
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
        uint4 bh = xh[nt * 32 + lane], bl = xl[nt * 32 + lane];
        mma_bf16(acc[0][nt], w00.x, w01.x, w00.y, w01.y, bh.x, bh.y);
        mma_bf16(acc[0][nt], w00.z, w01.z, w00.w, w01.w, bh.z, bh.w);
        mma_bf16(acc[0][nt], w00.x, w01.x, w00.y, w01.y, bl.x, bl.y);
        mma_bf16(acc[0][nt], w00.z, w01.z, w00.w, w01.w, bl.z, bl.w);
        mma_bf16(acc[1][nt], w10.x, w11.x, w10.y, w11.y, bh.x, bh.y);
        mma_bf16(acc[1][nt], w10.z, w11.z, w10.w, w11.w, bh.z, bh.w);
        mma_bf16(acc[1][nt], w10.x, w11.x, w10.y, w11.y, bl.x, bl.y);
        mma_bf16(acc[1][nt], w10.z, w11.z, w10.w, w11.w, bl.z, bl.w);
    }
}

// A thread's finished slices, summed, in shared memory: element (j, nt, e) of its accumulators at
// total[((j * 8 + nt) * 4 + e) * 256] (total = the block's sums + threadIdx.x: conflict-free).
__device__ __forceinline__ float& slice_sum(float* total, int j, int nt, int e) {
    return total[((j * 8 + nt) * 4 + e) * 256];
}

// total += acc (a finished GEMV slice, added in slice order as gemv_epilogue adds them); acc = 0.
__device__ __forceinline__ void add_slice(float* total, float (&acc)[2][8][4]) {
#pragma unroll
    for (int j = 0; j < 2; j++)
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float& t = slice_sum(total, j, nt, e);
                t = __fadd_rn(t, acc[j][nt][e]);
                acc[j][nt][e] = 0.f;
            }
}

// Y = W . act for 128 rows x 128 tokens per block: grid (T / 128, ceil(rowTiles / 8)), 256 threads.
// Warp w: row tiles 8y + 2(w % 4) + {0, 1}, tokens 128x + 64(w / 4) .. +63 (one sub-block), so a
// weight fragment feeds 16 mma and an activation fragment 4. Weights and activations of
// GEMM_STAGES k chunks are in flight through cp.async (24 KiB a chunk). The k chunks are summed
// in the GEMV's slices of cps chunks (acc, registers), the slices added in order (total, shared
// memory: in registers too, they held the block to 180 registers and one block a SM; now it is
// two blocks of at most 128, each with two stages: a 32K prompt 5.91 -> 5.29 s at Llama-2-7B,
// 6.37 -> 5.69 s at Llama-3.1-8B on an H100, where four stages in one block did no better).
template <int OUT>
__device__ __forceinline__ void gemm_body(const GemmArgs& a) {
    extern __shared__ uint4 gsm[];
    uint4* sW = gsm;                                  // [STAGES][8 tiles][64]
    uint4* sX = gsm + GEMM_STAGES * 8 * 64;           // [STAGES][hi, lo][2 sub-blocks][256]
    float* total = (float*) (sX + GEMM_STAGES * 4 * 256) + threadIdx.x;   // [64][256]: slice_sum
    pdl_launch_next();
    pdl_wait();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int rowTiles = (a.rows + 15) >> 4;
    const int tile0 = blockIdx.y * 8;
    const int sb0 = blockIdx.x * 2;
    const size_t subStride = (size_t) a.kChunks * 256;   // uint4 per sub-block

    // This thread's items of a stage: weights i = tid, tid + 256 of [8 tiles][64]; activations tid of
    // [hi, lo][2 sub-blocks][256]. Their sources at chunk 0 (a chunk is 64 / 256 uint4 further on),
    // computed once: the address arithmetic per chunk held the ALU pipe at 48% (ncu).
    size_t wFrom[2];
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int i = threadIdx.x + 256 * j;
        wFrom[j] = (size_t) min(tile0 + i / 64, rowTiles - 1) * a.kChunks * 64 + i % 64;
    }
    const size_t xFrom = sb0 * subStride + threadIdx.x;
    auto load = [&](int c) {   // chunk c into stage c % GEMM_STAGES: one cp.async group (empty past the end)
        if (c < a.kChunks) {
            uint4* w = sW + (c % GEMM_STAGES) * 8 * 64 + threadIdx.x;
            uint4* xs = sX + (c % GEMM_STAGES) * 4 * 256 + threadIdx.x;
#pragma unroll
            for (int j = 0; j < 2; j++) cp_async16(w + 256 * j, a.W + wFrom[j] + (size_t) c * 64);
#pragma unroll
            for (int j = 0; j < 4; j++) {   // hi of sub-blocks 0, 1, then lo
                cp_async16(xs + 256 * j, (j < 2 ? a.xhi : a.xlo) + xFrom + (j & 1) * subStride + (size_t) c * 256);
            }
        }
        cp_async_commit();
    };

    const int wr = warp & 3, wt = warp >> 2;
    float acc[2][8][4];
#pragma unroll
    for (int j = 0; j < 2; j++)
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[j][nt][e] = slice_sum(total, j, nt, e) = 0.f;

#pragma unroll
    for (int c = 0; c < GEMM_STAGES - 1; c++) load(c);
    int inSlice = 0;   // chunks of the current GEMV slice summed so far
    for (int c = 0; c < a.kChunks; c++) {
        asm volatile("cp.async.wait_group %0;" ::"n"(GEMM_STAGES - 2) : "memory");
        __syncthreads();   // chunk c has landed for every thread; chunk c - 1's stage is free
        load(c + GEMM_STAGES - 1);
        const int stage = c % GEMM_STAGES;
        const uint4* xh = sX + stage * 4 * 256 + wt * 256;
        gemm_chunk(acc, sW + stage * 8 * 64 + (2 * wr) * 64, xh, xh + 2 * 256, lane);
        if (++inSlice == a.cps || c + 1 == a.kChunks) {   // a GEMV slice ends
            add_slice(total, acc);
            inSlice = 0;
        }
    }
    asm volatile("cp.async.wait_group 0;" ::: "memory");
#pragma unroll
    for (int j = 0; j < 2; j++)   // the sums back in registers (acc) before GEMM_RESID's squares reuse the space
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[j][nt][e] = slice_sum(total, j, nt, e);

    // acc[j][nt][e]: row (8y + 2wr + j) * 16 + g + 8 (e >> 1), token 64 (2x + wt) + 8 nt + 2 tq + (e & 1)
    const int g = lane >> 2, tq = lane & 3;
    float* sq = (float*) gsm;   // GEMM_RESID: [128 tokens][128 rows] squares of the new x
    if (OUT == GEMM_RESID) __syncthreads();   // every warp is done with the pipeline's shared memory
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int tile = tile0 + 2 * wr + j;
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int tl = wt * 64 + nt * 8 + 2 * tq + h;
                const int t = blockIdx.x * GEMM_TOKENS + tl;
                if constexpr (OUT == GEMM_SWIGLU) {   // rows g / g + 8 of a tile: gate / up of hidden unit 8 tile + g
                    if (tile >= rowTiles) continue;
                    float u = acc[j][nt][h], v = acc[j][nt][2 + h];
                    float out = u / (1.f + expf(-u)) * v;
                    uint16_t hi = f2bf(out);
                    size_t i = chunk_act_index(t, tile * 8 + g, a.rows / 64);
                    a.actHi[i] = hi;
                    a.actLo[i] = f2bf(out - bf2f(hi));
                } else {
#pragma unroll
                    for (int half = 0; half < 2; half++) {
                        const int rl = (2 * wr + j) * 16 + g + 8 * half;   // row within the block's 128
                        const int r = tile0 * 16 + rl;
                        float v = acc[j][nt][2 * half + h];
                        if (OUT == GEMM_STORE) {
                            if (r < a.rows) a.y[(size_t) t * a.rows + r] = v;
                            continue;
                        }
                        float x = 0.f;
                        if (r < a.rows) {
                            x = __fadd_rn(a.y[(size_t) t * a.rows + r], v);
                            a.y[(size_t) t * a.rows + r] = x;
                        }
                        sq[tl * GROUP_ROWS + rl] = __fmul_rn(x, x);
                    }
                }
            }
        }
    }
    if (OUT == GEMM_RESID) {   // per-token sums of squares over the group's rows, grouped as gemv_epilogue does
        __syncthreads();
        for (int tl = warp; tl < GEMM_TOKENS; tl += 8) {
            const float* row = sq + tl * GROUP_ROWS;
            const float v = group_square_sum(row[lane], row[lane + 32], row[lane + 64], row[lane + 96]);
            if (lane == 0) a.ssOut[(size_t) (blockIdx.x * GEMM_TOKENS + tl) * gridDim.y + blockIdx.y] = v;
        }
    }
}

#define GEMM_KERNEL(name, OUT) \
    extern "C" __global__ void __launch_bounds__(256, 2) name(const GemmArgs a) { gemm_body<OUT>(a); }
GEMM_KERNEL(gemm_store, GEMM_STORE)
GEMM_KERNEL(gemm_resid, GEMM_RESID)
GEMM_KERNEL(gemm_swiglu, GEMM_SWIGLU)

// RMSNorm of the residual stream -> hi/lo activations (sub-block layout), the inverse RMS from
// the per-group sums of squares as the GEMV's IN_NORM computes it. grid T, 256 threads.
extern "C" __global__ void prefill_norm(const float* x, const float* ss, int groups, const float* normW, int dim,
                                        float eps, uint16_t* hi, uint16_t* lo) {
    __shared__ float inv;
    pdl_launch_next();
    pdl_wait();
    const int t = blockIdx.x;
    if (threadIdx.x == 0) {
        float sum = 0.f;
        for (int gr = 0; gr < groups; gr++) sum += ss[(size_t) t * groups + gr];
        inv = (float) (1.0 / sqrt((double) (sum / dim) + (double) eps));
    }
    __syncthreads();
    const float* row = x + (size_t) t * dim;
    for (int k = threadIdx.x; k < dim; k += 256) {
        float v = row[k] * inv * normW[k];
        uint16_t h = f2bf(v);
        size_t i = chunk_act_index(t, k, dim / 32);
        hi[i] = h;
        lo[i] = f2bf(v - bf2f(h));
    }
}

// RoPE on the q/k/v GEMM output (tiled row order: rows d and d + hd/2 of a head are g and g + 8
// of a tile) with the chunk's cos/sin table (embed wrote it, [T][hd/2]) -> q bf16 [T][nHeads][hd],
// this chunk's K/V cache slots, and the last token's query in fp32 (retrieval scoring), all as
// the step epilogue stores them (rope_store). grid (T, nHeads + 2 nKv), hd / 2 threads.
extern "C" __global__ void prefill_rope(const float* y, const float2* rope, int slot, int T, int nHeads, int nKv,
                                        int hd, uint16_t* q, uint16_t* kc, uint16_t* vc, int capacity,
                                        float* lastQuery) {
    pdl_launch_next();
    pdl_wait();
    const int t = blockIdx.x, head = blockIdx.y, d = threadIdx.x;
    const float* src = y + (size_t) t * (nHeads + 2 * nKv) * hd + head * hd + 16 * (d / 8) + d % 8;
    rope_store(src[0], src[8], rope[t * (hd / 2) + d], t, head, d, nHeads, nKv, hd, q,
               t == T - 1 ? lastQuery : nullptr, kc, vc, capacity, slot + t);
}

// The step's attention for sub-blocks sb0 .. sb0 + gridDim.x of a chunk, one launch: grid
// (sub-blocks, splits, kvHeads), so the blocks reading one split's keys run side by side and
// share them through L2. Each sub-block has its StepParams and its own partial buffers
// (splits * 64 * nHeads rows apart). No keys are read before the wait (settled 0): the launches of
// a prompt's chunks follow each other without a host sync, so any slot may still be in flight.
// "x2" (GQA, 128 or more query rows a sub-block): two m-tiles a warp (attention_body's MT), the
// query rows in shared memory after the K and V stages.
template <int HD, int MT>
__device__ __forceinline__ void chunk_attention_body(const uint16_t* q, const uint16_t* kc, const uint16_t* vc,
                                                     int capacity, const StepParams* p, int nHeads, int G, int S,
                                                     float scaleLog2, float* po, float* pm, float* pl) {
    const int sb = blockIdx.x;
    const size_t rows = (size_t) gridDim.y * MAX_TOKENS * nHeads;
    attention_body<HD, MT>(q + (size_t) sb * MAX_TOKENS * nHeads * HD, kc, vc, capacity, p + sb, MAX_TOKENS, nHeads,
                           G, S, scaleLog2, po + sb * rows * HD, pm + sb * rows, pl + sb * rows, blockIdx.y,
                           blockIdx.z, 0);
}

#define CHUNK_ATTENTION_KERNEL(name, HD, MT) \
    extern "C" __global__ void __launch_bounds__(128) name(const uint16_t* q, const uint16_t* kc, const uint16_t* vc, \
            int capacity, const StepParams* p, int nHeads, int G, int S, float scaleLog2, float* po, float* pm, \
            float* pl) { \
        chunk_attention_body<HD, MT>(q, kc, vc, capacity, p, nHeads, G, S, scaleLog2, po, pm, pl); \
    }
CHUNK_ATTENTION_KERNEL(chunk_attention64, 64, 1)
CHUNK_ATTENTION_KERNEL(chunk_attention128, 128, 1)
CHUNK_ATTENTION_KERNEL(chunk_attention64x2, 64, 2)
CHUNK_ATTENTION_KERNEL(chunk_attention128x2, 128, 2)

// The step's combine for the sub-blocks chunk_attention ran: grid (nHeads, 64 * sub-blocks), 256
// threads; splits = the splits chunk_attention was launched with.
extern "C" __global__ void chunk_combine(const StepParams* p, const float* po, const float* pm, const float* pl,
                                         int splits, int nHeads, int hd, int S, uint16_t* hi, uint16_t* lo) {
    const int sb = blockIdx.y / MAX_TOKENS;
    const size_t rows = (size_t) splits * MAX_TOKENS * nHeads;
    const size_t act = (size_t) sb * MAX_TOKENS * nHeads * hd;
    combine_body(p + sb, po + sb * rows * hd, pm + sb * rows, pl + sb * rows, nHeads, hd, S, hi + act, lo + act,
                 blockIdx.x, blockIdx.y % MAX_TOKENS);
}
