// Chunked prefill: a prompt's tokens in chunks of T (a multiple of 128), where the step kernels
// would take them 64 at a time and read every weight once per 64 tokens. Included by triforce.cu
// (its helpers and layouts). A chunk of T tokens is T / 64 "sub-blocks" of 64:
//  * activations: hi and lo bf16 [T/64][K/32][64 x 32] - each sub-block's k chunk in the order the
//    GEMM stages it (core_act_index, common.cuh), so the step's embed, attention and combine
//    kernels run on a sub-block (chunk_combine writing that order);
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
#define GEMM_STAGES 2     // mma.sync form: k chunks in flight (cp.async ring)
#define WG_STAGES 8       // wgmma form: stages of its ring (a power of two), 4 chunks in flight

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
    return (size_t) (t >> 6) * kChunks * MAX_TOKENS * 32 + core_act_index(t & 63, k);
}

// A stage of the GEMM's ring holds one 32-wide k chunk for the block's 128 rows x 128 tokens:
//  * weights [8 tiles][64] uint4, the GEMV's tiles (a warp's m16n8k16 A fragments);
//  * activations [hi, lo][k16 step s][token group 16][c 2][token 8] uint4: one token's columns
//    8c .. 8c + 7 of step s (core_act_index's order), so each 8-token group is an 8 x 8 core matrix of
//    step s's B operand, as wgmma reads it from shared memory (no swizzle, K-major).
#define STAGE_W (8 * 64)
#define STAGE_UINT4 (STAGE_W + 2 * 2 * 16 * 2 * 8)

// Where each thread's copies of the next chunk come from and go: weight items i = tid + 256 j of
// [8 tiles][64], activation item tid of each sub-block's [step 2][128] uint4 (hi of sub-blocks 0,
// 1, then lo). The sources are 32-bit uint4 offsets from the GemmArgs pointers (a matrix is far
// below 64 GiB), kept for the next chunk: 64-bit address arithmetic per chunk held the ALU pipe at
// 48% in the mma.sync form (ncu) and delayed the wgmma form's issue. 256 threads; chunks in order.
struct GemmStaging {
    uint32_t w[2], x, subStride;
    int xTo;    // item tid's place in a stage; item j is (j / 2) 512 + (j % 2) 128 further on
    int left;   // chunks not loaded yet

    __device__ __forceinline__ GemmStaging(const GemmArgs& a, int tile0) {
        const int rowTiles = (a.rows + 15) >> 4;
#pragma unroll
        for (int j = 0; j < 2; j++) {
            const int i = threadIdx.x + 256 * j;
            w[j] = (uint32_t) min(tile0 + i / 64, rowTiles - 1) * a.kChunks * 64 + i % 64;
        }
        subStride = (uint32_t) a.kChunks * 256;   // uint4 per sub-block
        x = blockIdx.x * 2 * subStride + threadIdx.x;
        xTo = STAGE_W + (threadIdx.x >> 7) * 256 + (threadIdx.x & 127);
        left = a.kChunks;
    }

    // The next chunk into stage: one cp.async group (empty past the last chunk).
    __device__ __forceinline__ void load(const GemmArgs& a, uint4* stage) {
        if (left-- > 0) {
#pragma unroll
            for (int j = 0; j < 2; j++) {
                cp_async16(stage + threadIdx.x + 256 * j, a.W + w[j]);
                w[j] += 64;
            }
#pragma unroll
            for (int j = 0; j < 4; j++) {
                cp_async16(stage + xTo + (j >> 1) * 512 + (j & 1) * 128, (j < 2 ? a.xhi : a.xlo) + x + (j & 1) * subStride);
            }
            x += 256;
        }
        cp_async_commit();
    }
};

// One output fragment of the block (m16n8 layout): v[e] is row 16 tile + g + 8 (e >> 1) (tile:
// tile0 + tb), token tl0 + 2 tq + (e & 1) of the block's 128 (tl0 a multiple of 8). GEMM_RESID
// leaves the squares of the new x in sq ([128 tokens][128 rows]) for gemm_epilogue.
template <int OUT>
__device__ __forceinline__ void gemm_fragment_out(const GemmArgs& a, int tile0, int tb, int tl0, const float* v,
                                                  float* sq, int lane) {
    const int g = lane >> 2, tq = lane & 3;
    const int tile = tile0 + tb;
    const int rowTiles = (a.rows + 15) >> 4;
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const int tl = tl0 + 2 * tq + h;
        const int t = blockIdx.x * GEMM_TOKENS + tl;
        if constexpr (OUT == GEMM_SWIGLU) {   // rows g / g + 8 of a tile: gate / up of hidden unit 8 tile + g
            if (tile >= rowTiles) continue;
            store_hi_lo(a.actHi, a.actLo, chunk_act_index(t, tile * 8 + g, a.rows / 64), swiglu(v[h], v[2 + h]));
        } else {
#pragma unroll
            for (int half = 0; half < 2; half++) {
                const int rl = tb * 16 + g + 8 * half;   // row within the block's 128
                const int r = tile0 * 16 + rl;
                float val = v[2 * half + h];
                if (OUT == GEMM_STORE) {
                    if (r < a.rows) a.y[(size_t) t * a.rows + r] = val;
                    continue;
                }
                float x = 0.f;
                if (r < a.rows) {
                    x = __fadd_rn(a.y[(size_t) t * a.rows + r], val);
                    a.y[(size_t) t * a.rows + r] = x;
                }
                sq[tl * GROUP_ROWS + rl] = __fmul_rn(x, x);
            }
        }
    }
}

// The block's epilogue once the pipeline is done with shared memory: fragments(out) calls out(tb,
// tl0, v) for each of the thread's fragments (gemm_fragment_out's arguments), then GEMM_RESID adds
// per-token sums of squares over the block's 128 rows (one group), grouped as gemv_epilogue does.
// 256 threads.
template <int OUT, typename Fragments>
__device__ __forceinline__ void gemm_epilogue(const GemmArgs& a, int tile0, int lane, Fragments fragments) {
    extern __shared__ uint4 gsm[];
    float* sq = (float*) gsm;   // GEMM_RESID: [128 tokens][128 rows] squares of the new x
    if (OUT == GEMM_RESID) __syncthreads();   // every warp is done with the pipeline's shared memory
    fragments([&](int tb, int tl0, const float* v) { gemm_fragment_out<OUT>(a, tile0, tb, tl0, v, sq, lane); });
    if (OUT != GEMM_RESID) return;
    __syncthreads();
    for (int tl = threadIdx.x >> 5; tl < GEMM_TOKENS; tl += 8) {
        const float* row = sq + tl * GROUP_ROWS;
        const float v = group_square_sum(row[lane], row[lane + 32], row[lane + 64], row[lane + 96]);
        if (lane == 0) a.ssOut[(size_t) (blockIdx.x * GEMM_TOKENS + tl) * gridDim.y + blockIdx.y] = v;
    }
}

// One 32-wide k chunk for a warp's 2 row tiles (weights w: [2 tiles][2 halves][32] uint4) x 8
// n-tiles (xs: the stage's activations from the warp's first token group), in gemv_chunk's operand
// order: hi then lo, each over the chunk's two k16 steps. A lane's B fragment words (token g, columns
// 2 tq, 2 tq + 1 of core matrix (s, c)) are 32-bit loads, conflict-free (ldmatrix.x4 gave the same
// words but held the kernel over 128 registers: 28 bytes spilled).
__device__ __forceinline__ void gemm_chunk(float (&acc)[2][8][4], const uint4* w, const uint4* xs, int lane) {
    uint4 w00 = w[lane], w01 = w[32 + lane], w10 = w[64 + lane], w11 = w[96 + lane];
    const uint32_t* words = (const uint32_t*) xs + lane;   // + (group, c, s, hi/lo) offsets: 64, 32, 1024, 2048
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
        const uint32_t* b = words + nt * 64;
        const uint32_t bh[4] = {b[0], b[32], b[1024], b[1024 + 32]}, bl[4] = {b[2048], b[2048 + 32], b[3072], b[3072 + 32]};
        mma_bf16(acc[0][nt], w00.x, w01.x, w00.y, w01.y, bh[0], bh[1]);
        mma_bf16(acc[0][nt], w00.z, w01.z, w00.w, w01.w, bh[2], bh[3]);
        mma_bf16(acc[0][nt], w00.x, w01.x, w00.y, w01.y, bl[0], bl[1]);
        mma_bf16(acc[0][nt], w00.z, w01.z, w00.w, w01.w, bl[2], bl[3]);
        mma_bf16(acc[1][nt], w10.x, w11.x, w10.y, w11.y, bh[0], bh[1]);
        mma_bf16(acc[1][nt], w10.z, w11.z, w10.w, w11.w, bh[2], bh[3]);
        mma_bf16(acc[1][nt], w10.x, w11.x, w10.y, w11.y, bl[0], bl[1]);
        mma_bf16(acc[1][nt], w10.z, w11.z, w10.w, w11.w, bl[2], bl[3]);
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

// Y = W . act for 128 rows x 128 tokens per block with mma.sync (GPUs without wgmma): grid (T / 128,
// ceil(rowTiles / 8)), 256 threads. Warp w: row tiles 8y + 2(w % 4) + {0, 1}, tokens 128x + 64(w / 4)
// .. +63 (one sub-block), so a weight fragment feeds 16 mma and an activation fragment 4. The k
// chunks are summed in the GEMV's slices of cps chunks (acc, registers), the slices added in order
// (total, shared memory: in registers too, they held the block to 180 registers and one block a
// SM; now it is two blocks of at most 128, each with two stages: a 32K prompt 5.91 -> 5.29 s at
// Llama-2-7B, 6.37 -> 5.69 s at Llama-3.1-8B on an H100, where four stages in one block did no better).
template <int OUT>
__device__ __forceinline__ void gemm_body(const GemmArgs& a) {
    extern __shared__ uint4 gsm[];
    float* total = (float*) (gsm + GEMM_STAGES * STAGE_UINT4) + threadIdx.x;   // [64][256]: slice_sum
    pdl_launch_next();
    pdl_wait();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int tile0 = blockIdx.y * 8;
    GemmStaging staging(a, tile0);
    const int wr = warp & 3, wt = warp >> 2;
    float acc[2][8][4];
#pragma unroll
    for (int j = 0; j < 2; j++)
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[j][nt][e] = slice_sum(total, j, nt, e) = 0.f;

#pragma unroll
    for (int c = 0; c < GEMM_STAGES - 1; c++) staging.load(a, gsm + c * STAGE_UINT4);
    int inSlice = 0;   // chunks of the current GEMV slice summed so far
    for (int c = 0; c < a.kChunks; c++) {
        asm volatile("cp.async.wait_group %0;" ::"n"(GEMM_STAGES - 2) : "memory");
        __syncthreads();   // chunk c has landed for every thread; chunk c - 1's stage is free
        staging.load(a, gsm + (c + GEMM_STAGES - 1) % GEMM_STAGES * STAGE_UINT4);
        const uint4* stage = gsm + c % GEMM_STAGES * STAGE_UINT4;
        gemm_chunk(acc, stage + (2 * wr) * 64, stage + STAGE_W + wt * 8 * 16, lane);
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

    gemm_epilogue<OUT>(a, tile0, lane, [&](auto out) {
#pragma unroll
        for (int j = 0; j < 2; j++)
#pragma unroll
            for (int nt = 0; nt < 8; nt++) out(2 * wr + j, wt * 64 + nt * 8, acc[j][nt]);
    });
}

// gemm_store, gemm_resid and gemm_swiglu of a GEMM body (BLOCKS: blocks a SM).
#define GEMM_KERNELS(prefix, body, BLOCKS) \
    extern "C" __global__ void __launch_bounds__(256, BLOCKS) prefix##store(const GemmArgs a) { body<GEMM_STORE>(a); } \
    extern "C" __global__ void __launch_bounds__(256, BLOCKS) prefix##resid(const GemmArgs a) { body<GEMM_RESID>(a); } \
    extern "C" __global__ void __launch_bounds__(256, BLOCKS) prefix##swiglu(const GemmArgs a) { body<GEMM_SWIGLU>(a); }
GEMM_KERNELS(gemm_, gemm_body, 2)

#include "prefill_wgmma.cuh"

// RMSNorm of the residual stream -> hi/lo activations (sub-block layout), the inverse RMS from
// the per-group sums of squares as the GEMV's IN_NORM computes it. A block per 8 tokens (a token
// group of the layout) and 256 of k, so every 128-byte run of it is written whole by one block (a
// block a token left each 32-byte sector to two blocks: twice the time). grid (T / 8, dim / 256 up),
// 256 threads.
extern "C" __global__ void prefill_norm(const float* x, const float* ss, int groups, const float* normW, int dim,
                                        float eps, uint16_t* hi, uint16_t* lo) {
    __shared__ float inv[8];
    pdl_launch_next();
    pdl_wait();
    const int t0 = blockIdx.x * 8;
    if (threadIdx.x < 8) {
        const int t = t0 + threadIdx.x;
        float sum = 0.f;
        for (int gr = 0; gr < groups; gr++) sum += ss[(size_t) t * groups + gr];
        inv[threadIdx.x] = (float) (1.0 / sqrt((double) (sum / dim) + (double) eps));
    }
    __syncthreads();
    // Thread i writes place i of each k chunk's [step s][c][token 8][8] runs: token i / 8 % 8,
    // place p = 16 s + 8 c + (i % 8) of its 32 (core_act_index's order), which holds core_column(p).
    const int row = (threadIdx.x >> 3) & 7, t = t0 + row;
    const int kk = core_column((threadIdx.x >> 7) << 4 | ((threadIdx.x >> 6) & 1) << 3 | (threadIdx.x & 7));
    const float* xr = x + (size_t) t * dim;
    for (int k = blockIdx.y * 256 + kk; k < min(dim, (blockIdx.y + 1) * 256); k += 32) {
        store_hi_lo(hi, lo, chunk_act_index(t, k, dim / 32), xr[k] * inv[row] * normW[k]);
    }
}

// RoPE on the q/k/v GEMM output (tiled row order: rows d and d + hd/2 of a head are g and g + 8
// of a tile) with the chunk's cos/sin table (embed wrote it, [T][hd/2]) -> q bf16 [T][nHeads][hd],
// this chunk's K/V cache slots, and the last token's query in fp32 (retrieval scoring), all as
// the step epilogue stores them (rope_store). grid T, 256 threads: thread i takes the token's
// pairs (head, d) i, i + 256, ... (a block a head, hd / 2 threads, was 125 ms of a 32K prompt at
// Llama-2-7B on an H100).
extern "C" __global__ void prefill_rope(const float* y, const float2* rope, int slot, int T, int nHeads, int nKv,
                                        int hd, uint16_t* q, uint16_t* kc, uint16_t* vc, int capacity,
                                        float* lastQuery) {
    pdl_launch_next();
    pdl_wait();
    const int t = blockIdx.x, half = hd / 2;
    const float* row = y + (size_t) t * (nHeads + 2 * nKv) * hd;
    for (int i = threadIdx.x; i < (nHeads + 2 * nKv) * half; i += blockDim.x) {
        const int head = i / half, d = i % half;
        const float* src = row + head * hd + 16 * (d / 8) + d % 8;
        rope_store(src[0], src[8], rope[t * half + d], t, head, d, nHeads, nKv, hd, q,
                   t == T - 1 ? lastQuery : nullptr, kc, vc, capacity, slot + t);
    }
}

// The step's attention for sub-blocks sb0 .. sb0 + gridDim.x of a chunk, one launch: grid
// (sub-blocks, splits, kvHeads), so the blocks reading one split's keys run side by side and
// share them through L2. Each sub-block has its StepParams and its own partial buffers
// (splits * 64 * nHeads rows apart). No keys are read before the wait (settled 0): the launches of
// a prompt's chunks follow each other without a host sync, so any slot may still be in flight.
// "x2" (GQA, 128 or more query rows a sub-block): two m-tiles a warp (attention_body's MT), the
// query rows in shared memory after the K and V stages.
template <int HD, int MT, bool WG = false>
__device__ __forceinline__ void chunk_attention_body(const uint16_t* q, const uint16_t* kc, const uint16_t* vc,
                                                     int capacity, const StepParams* p, int nHeads, int G, int S,
                                                     float scaleLog2, float* po, float* pm, float* pl) {
    const int sb = blockIdx.x;
    const size_t rows = (size_t) gridDim.y * MAX_TOKENS * nHeads;
    attention_body<HD, MT, WG>(q + (size_t) sb * MAX_TOKENS * nHeads * HD, kc, vc, capacity, p + sb, MAX_TOKENS, nHeads,
                           G, S, scaleLog2, po + sb * rows * HD, pm + sb * rows, pl + sb * rows, blockIdx.y,
                           blockIdx.z, 0);
}

#define CHUNK_ATTENTION_KERNEL(name, HD, MT, WG, THREADS) \
    extern "C" __global__ void __launch_bounds__(THREADS) name(const uint16_t* q, const uint16_t* kc, \
            const uint16_t* vc, int capacity, const StepParams* p, int nHeads, int G, int S, float scaleLog2, \
            float* po, float* pm, float* pl) { \
        chunk_attention_body<HD, MT, WG>(q, kc, vc, capacity, p, nHeads, G, S, scaleLog2, po, pm, pl); \
    }
CHUNK_ATTENTION_KERNEL(chunk_attention64, 64, 1, false, 128)
CHUNK_ATTENTION_KERNEL(chunk_attention128, 128, 1, false, 128)
CHUNK_ATTENTION_KERNEL(chunk_attention64x2, 64, 2, false, 128)
CHUNK_ATTENTION_KERNEL(chunk_attention128x2, 128, 2, false, 128)
// Hopper (wgmma): a warpgroup per 64 query rows, one (MHA) or two (GQA) a block.
CHUNK_ATTENTION_KERNEL(chunk_attention64wg, 64, 1, true, 256)
CHUNK_ATTENTION_KERNEL(chunk_attention128wg, 128, 1, true, 256)

// The step's combine for the sub-blocks chunk_attention ran: grid (nHeads, 64 * sub-blocks), 256
// threads; splits = the splits chunk_attention was launched with.
extern "C" __global__ void chunk_combine(const StepParams* p, const float* po, const float* pm, const float* pl,
                                         int splits, int nHeads, int hd, int S, uint16_t* hi, uint16_t* lo) {
    const int sb = blockIdx.y / MAX_TOKENS;
    const size_t rows = (size_t) splits * MAX_TOKENS * nHeads;
    const size_t act = (size_t) sb * MAX_TOKENS * nHeads * hd;
    combine_body<true>(p + sb, po + sb * rows * hd, pm + sb * rows, pl + sb * rows, nHeads, hd, S, hi + act,
                       lo + act, blockIdx.x, blockIdx.y % MAX_TOKENS);
}
