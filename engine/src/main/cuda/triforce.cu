// TriForce CUDA kernels: decode / verify / prefill blocks of up to 64 tokens over bf16 weights and a
// bf16 KV cache. Built by build.sh into a fatbin (sm_90 SASS + compute_90 PTX) that the Java
// backend loads as a resource.
//
// Layouts shared with the Java side (io.triforce.engine.cuda):
//  * Weight matrices [rows][K] are stored "tiled" for the tensor-core GEMV: 16-row tiles x 32-wide
//    k chunks x 2 halves (rows 0-7, 8-15) x 32 lanes x 8 bf16. Lane (g = lane/4, t = lane%4) of
//    half h holds row 16*tile + 8h + g, k = 32*chunk + 8t .. 8t+7: one warp load is 512 contiguous
//    bytes. Inside an mma.m16n8k16 the physical k order is permuted identically in A and B.
//  * Activations feeding a GEMV are bf16 "hi" and "lo" parts (x ~ hi + lo, about 16 mantissa
//    bits) in [K/32][64 tokens][32]: lane (g, t) of a warp reads token g's 8 values at 8t.
//  * GEMV partial sums are fp32 [slices][64][rows]; each GEMV's last block per row group adds
//    the slices in a fixed order and runs a fused epilogue (RoPE + cache append, SwiGLU,
//    residual + sums of squares for the next RMSNorm, logits), so no result depends on timing or
//    on the number of tokens in the block.
//  * KV cache per layer: [kvHeads][capacity][headDim] bf16 for K (post-RoPE) and for V.
#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <stdint.h>

#define MAX_TOKENS 64

struct StepParams {
    int pos;    // RoPE position of token 0
    int slot;   // cache slot of token 0 (keys already in the cache before this block)
    int n;      // tokens in the block
    int pad;
    int tokens[MAX_TOKENS];
};

__device__ __forceinline__ uint4 load_stream(const uint4* p) {
    uint4 r;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
        : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}

__device__ __forceinline__ void mma_bf16(float* d, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                         uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Warpgroup mma (wgmma, sm_90a: the prefill's GEMM and attention on Hopper; elsewhere these trap):
// d (m64nN, N / 2 floats a thread, in m16n8 fragment order per warp) += A B, A 64 x 16 in
// registers (each warp's m16n8k16 A fragment), B 16 x N in shared memory described by b; TRANS 1:
// B is N-major. A k16 step sums with the bits of mma.sync m16n8k16 (scripts/gpu/wgmma_bits.cu).
// Asynchronous: issue between wgmma_fence() and wgmma_commit(), read d after wgmma_wait<0>().
// ACC false: d = A B (d's old values are not read; adding them to 0 would give the same sums).
template <int N, int TRANS, bool ACC = true>
__device__ __forceinline__ void wgmma(float (&d)[N / 2], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint64_t b) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    if constexpr (N == 64) {
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %38, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, %37;\n}"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "l"(b), "n"(TRANS), "n"((int) ACC));
    } else {
        static_assert(N == 128, "wgmma: N 64 or 128");
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %70, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, %69;\n}"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "l"(b), "n"(TRANS), "n"((int) ACC));
    }
#else
    __trap();
#endif
}
__device__ __forceinline__ void wgmma_fence() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_commit() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void wgmma_wait() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory");
#endif
}
// The compiler must not read or move registers a wgmma still uses across this point.
template <int N>
__device__ __forceinline__ void fence_registers(float (&r)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(r[i])::"memory");
}
// Shared-memory descriptor (matrix-descriptor-encode of the byte address, offsets and swizzle mode).
__device__ __forceinline__ uint64_t smem_descriptor(uint32_t addr, uint32_t leading, uint32_t stride, int swizzle) {
    return (uint64_t) ((addr & 0x3FFFF) >> 4) | (uint64_t) (leading >> 4) << 16 | (uint64_t) (stride >> 4) << 32 |
           (uint64_t) swizzle << 62;
}

__device__ __forceinline__ float bf2f(uint16_t v) { return __uint_as_float(((uint32_t) v) << 16); }

__device__ __forceinline__ uint16_t f2bf(float v) {
    return __bfloat16_as_ushort(__float2bfloat16_rn(v));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    return (uint32_t) f2bf(lo) | ((uint32_t) f2bf(hi) << 16);
}

// Index of activation element (token t, k) in the [K/32][64][32] layout.
__device__ __forceinline__ size_t act_index(int t, int k) {
    return ((size_t) (k >> 5) * MAX_TOKENS + t) * 32 + (k & 31);
}

// The sum of a 128-row group's squares of one token, as every path adds it (the GEMV epilogue,
// prefill's GEMM epilogue, the one-token RMSNorm from x), so that they agree to the bit: lane l
// holds rows l, l + 32, l + 64, l + 96, added in that order, then the lanes are added across
// the warp. Every lane gets it.
__device__ __forceinline__ float group_square_sum(float s0, float s1, float s2, float s3) {
    float v = ((s0 + s1) + s2) + s3;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Prefill's GEMM inputs (prefill.cuh) hold each 32-wide k chunk of a 64-token sub-block as the
// GEMM stages it, so one contiguous copy stages it: [k16 step s][token group 8][c 2][token 8][8],
// element 2 tq + e of a row being k = 8 tq + 4 s + 2 c + e, the element that k16 step s of the
// GEMV's mma takes as column 8 c + 2 tq + e of its B fragment (the weights are tiled to match). So
// 16 bytes are one token's 8 columns of a step: a row of an 8 x 8 core matrix, as wgmma and the
// mma.sync fragments read them. (Copying the [64][32] step layout into that order instead split
// every 32-byte sector's read in two: L2 92% busy, ncu.)
__device__ __forceinline__ size_t core_act_index(int t, int k) {
    const int s = (k >> 2) & 1, c = (k >> 1) & 1, tq = (k >> 3) & 3, e = k & 1;
    return (size_t) (k >> 5) * MAX_TOKENS * 32 + s * 1024 + (t >> 3) * 128 + c * 64 + (t & 7) * 8 + 2 * tq + e;
}

// The other way round: the k (of its chunk's 32) that place p = 16 s + 8 c + 2 tq + e of a token's
// 32 in that order holds.
__device__ __forceinline__ int core_column(int p) {
    return ((p >> 1) & 3) << 3 | ((p >> 4) & 1) << 2 | ((p >> 3) & 1) << 1 | (p & 1);
}

// v as a GEMV / GEMM input at element i of the activations: bf16 hi and lo (v - hi, rounded).
__device__ __forceinline__ void store_hi_lo(uint16_t* hi, uint16_t* lo, size_t i, float v) {
    const uint16_t h = f2bf(v);
    hi[i] = h;
    lo[i] = f2bf(v - bf2f(h));
}

template <bool CORE = false>
__device__ __forceinline__ void write_act(uint16_t* hi, uint16_t* lo, int t, int k, float v) {
    store_hi_lo(hi, lo, CORE ? core_act_index(t, k) : act_index(t, k), v);
}

// ---------------------------------------------------------------------------------------------
// Weights: row-major bf16 -> tiled, and seeded random fills (benchmarks).

// mode 0: rows as they are; mode 1 (fused q/k/v, modeArg = head_dim): rows d and d + hd/2 of a
// head go to g and g + 8 of one tile; mode 2 (fused gate/up, modeArg = hidden): gate row i and
// up row i go to g and g + 8 of tile i / 8.
__device__ __forceinline__ int tiled_row(int r, int mode, int modeArg) {
    if (mode == 1) {
        int hd = modeArg, half = hd / 2, head = r / hd, d = r % hd;
        int j = (d % half) / 8, h = d / half;
        return head * hd + 16 * j + 8 * h + d % 8;
    }
    if (mode == 2) {
        int h = r >= modeArg, i = r - h * modeArg;
        return 16 * (i / 8) + 8 * h + i % 8;
    }
    return r;
}

extern "C" __global__ void tile_weights(const uint4* __restrict__ src, uint4* __restrict__ dst, int rows,
                                        int K, int rowOffset, int kChunks, int mode, int modeArg) {
    size_t groups = (size_t) rows * (K / 8);
    for (size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x; i < groups;
         i += (size_t) gridDim.x * blockDim.x) {
        int r = tiled_row((int) (i / (K / 8)) + rowOffset, mode, modeArg);
        int grp = (int) (i % (K / 8));
        int c = grp >> 2, t = grp & 3;
        int tile = r >> 4, h = (r >> 3) & 1, g = r & 7;
        dst[(((size_t) tile * kChunks + c) * 2 + h) * 32 + g * 4 + t] = src[i];
    }
}

__device__ __forceinline__ uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Uniform in [-1, 1) from (seed, index).
__device__ __forceinline__ float uniform(uint64_t seed, size_t i) {
    uint64_t z = mix64(seed * 0x9e3779b97f4a7c15ull + i);
    return (float) (int32_t) (z >> 32) * 4.656612873077393e-10f;
}

extern "C" __global__ void fill_random_bf16(uint16_t* dst, size_t count, uint64_t seed, float scale) {
    for (size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x; i < count;
         i += (size_t) gridDim.x * blockDim.x) {
        dst[i] = f2bf(uniform(seed, i) * scale);
    }
}

extern "C" __global__ void fill_random_f32(float* dst, size_t count, uint64_t seed, float offset, float scale) {
    for (size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x; i < count;
         i += (size_t) gridDim.x * blockDim.x) {
        dst[i] = offset + uniform(seed, i) * scale;
    }
}

// Streams count uint4 with the GEMVs' load (ld.global.nc, no L1 allocation), four loads in
// flight per thread: the read bandwidth a memory-bound kernel reaches on this device.
extern "C" __global__ void read_bandwidth(const uint4* p, size_t count, unsigned* sink) {
    const size_t stride = (size_t) gridDim.x * blockDim.x;
    size_t i = blockIdx.x * (size_t) blockDim.x + threadIdx.x;
    uint32_t acc = 0;
    for (; i + 3 * stride < count; i += 4 * stride) {
        uint4 a = load_stream(p + i), b = load_stream(p + i + stride);
        uint4 c = load_stream(p + i + 2 * stride), d = load_stream(p + i + 3 * stride);
        acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w;
    }
    for (; i < count; i += stride) {
        uint4 a = load_stream(p + i);
        acc ^= a.x ^ a.y ^ a.z ^ a.w;
    }
    if (acc == 0x9e3779b9u) *sink = acc;   // keeps the loads
}

// ---------------------------------------------------------------------------------------------
// Programmatic dependent launch: a kernel lets the next one start early (its blocks prefetch
// weights, which nothing writes, or keys the step does not write) and waits for the previous
// kernel before touching anything that kernel wrote. Every kernel waits before it exits, so
// completion is transitive. Without the launch attribute both instructions are no-ops.

__device__ __forceinline__ void pdl_launch_next() { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }
__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }

// A barrier among some of a block's threads: bar 0 is __syncthreads (a kernel's own block); the
// persistent one-token step (ring_step.cuh) syncs its 8 consumer warps on bar RING_CONSUMERS_BAR
// and each of its two 4-warp attention groups on bars 1 and 2, while its producer warp streams on.
__device__ __forceinline__ void sync_part(int bar, int threads) {
    if (bar == 0) {
        __syncthreads();
    } else {
        asm volatile("bar.sync %0, %1;" ::"r"(bar), "r"(threads) : "memory");
    }
}

// ---------------------------------------------------------------------------------------------
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
            const float4* xr = (const float4*) (a.x + (size_t) t * K + k);
            const float4* wr = (const float4*) (a.normW + k);
            float4 x0 = xr[0], x1 = xr[1], w0 = wr[0], w1 = wr[1];
            float v[8] = {x0.x * inv[t] * w0.x, x0.y * inv[t] * w0.y, x0.z * inv[t] * w0.z, x0.w * inv[t] * w0.w,
                          x1.x * inv[t] * w1.x, x1.y * inv[t] * w1.y, x1.z * inv[t] * w1.z, x1.w * inv[t] * w1.w};
            uint16_t h[8], l[8];
#pragma unroll
            for (int j = 0; j < 8; j++) {
                h[j] = f2bf(v[j]);
                l[j] = f2bf(v[j] - bf2f(h[j]));
            }
            xs_hi[i] = make_uint4(pack2(h[0], h[1]), pack2(h[2], h[3]), pack2(h[4], h[5]), pack2(h[6], h[7]));
            xs_lo[i] = make_uint4(pack2(l[0], l[1]), pack2(l[2], l[3]), pack2(l[4], l[5]), pack2(l[6], l[7]));
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

// OUT_ROPE and OUT_SWIGLU: the sums u, v of rows g and g + 8 of row tile `tile` for token t.
template <int OUT>
__device__ __forceinline__ void finish_pair(const GemvArgs& a, int t, int tile, int g, float u, float v,
                                            const float2* rope) {
    if (OUT == OUT_SWIGLU) {
        write_act(a.actHi, a.actLo, t, tile * 8 + g, swiglu(u, v));
        return;
    }
    int tilesPerHead = a.hd / 16, head = tile / tilesPerHead, d = (tile % tilesPerHead) * 8 + g;
    rope_store(u, v, rope[t * (a.hd / 2) + d], t, head, d, a.nHeads, a.nKv, a.hd, a.q,
               t == a.n - 1 ? a.lastQuery : nullptr, a.kc, a.vc, a.capacity, a.p->slot + t);
}

// The fused epilogue of row group y (tiles 8y .. 8y+7), run by the group's last block (256
// threads), 16 tokens at a time. Each thread owns a fixed set of (token, row) items and first
// adds their slices, all loads in flight together, slice by slice in order.
template <int NT, int OUT>
__device__ void gemv_epilogue(const GemvArgs& a, int slices, int y, const float2* rope) {
    const int n = a.n;
    const int rowTiles = (a.rows + 15) >> 4;
    const float* part = a.partial;
    __shared__ float sq[OUT == OUT_RESID ? 16 : 1][GROUP_ROWS];
    for (int tb = 0; tb < n; tb += 16) {
        if (OUT == OUT_ROPE || OUT == OUT_SWIGLU) {
            // item i = (token tb + i / 64, tile y*8 + (i % 64) / 8, pair g = i % 8): rows g, g + 8 of the tile
            float u[4], v[4];
            int row[4], tok[4];
#pragma unroll
            for (int k = 0; k < 4; k++) {
                int i = threadIdx.x + 256 * k;
                tok[k] = tb + i / 64;
                int tile = y * 8 + (i % 64) / 8;
                row[k] = tok[k] < n && tile < rowTiles ? tile * 16 + i % 8 : -1;
                u[k] = v[k] = 0.f;
            }
#pragma unroll 4
            for (int sl = 0; sl < slices; sl++) {  // 4 slices' loads in flight; added in slice order
#pragma unroll
                for (int k = 0; k < 4; k++) {
                    if (row[k] >= 0) {
                        const float* pr = part + ((size_t) sl * MAX_TOKENS + tok[k]) * a.rows + row[k];
                        u[k] += __ldcg(pr);
                        v[k] += __ldcg(pr + 8);
                    }
                }
            }
#pragma unroll
            for (int k = 0; k < 4; k++) {
                if (row[k] >= 0) finish_pair<OUT>(a, tok[k], row[k] >> 4, row[k] & 7, u[k], v[k], rope);
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
// Every thread of the 8 warps that call it gets it; they sync on `bar` (sync_part).
__device__ float inverse_rms_from_x(const GemvArgs& a, float* groups, int bar = 0) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, K = a.kChunks * 32;
    for (int g = warp; g < a.ssGroups; g += 8) {
        float sq[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int r = g * GROUP_ROWS + lane + 32 * j;
            const float v = r < K ? a.x[r] : 0.f;
            sq[j] = __fmul_rn(v, v);
        }
        const float v = group_square_sum(sq[0], sq[1], sq[2], sq[3]);
        if (lane == 0) groups[g] = v;
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
    if (SSX) {   // one token (gemv_*8x): the sums of squares from x
        __shared__ float groups[TILE_MAX_GROUPS];
        const float i = inverse_rms_from_x(a, groups);
        if (threadIdx.x == 0) inv[0] = i;
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
            if (cs > 0) __syncthreads();  // every warp is done with the previous stage
            gemv_stage<NT, IN>(a, xs_hi, xs_lo, c0 + cs, count, inv);
            __syncthreads();
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
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) isLast = atomicAdd(&a.counters[blockIdx.y], 1) == (int) gridDim.x - 1;
    __syncthreads();
    if (!isLast) return;
    __threadfence();
    gemv_epilogue<NT, OUT>(a, gridDim.x, blockIdx.y, a.rope);
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
                if (pairTile < rowTiles) finish_pair<OUT>(a, t, pairTile, pair & 7, sum[2 * h], sum[2 * h + 1], a.rope);
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
    const int t = threadIdx.x, r = tile * 16 + t;   // thread t < 16: row t of the tile, slices added in order
    if (t >= 16 || r >= a.rows) return;
    float sum = 0.f;
    for (int s = 0; s < slices; s++) sum += part[s][t];
    a.x[r] = __fadd_rn(a.x[r], sum);
}

// x[t] = embedding row of token t, and its sums of squares per 128-row group; token t's RoPE cos
// and sin (times the attention scaling) in rope[t][half], which every layer's q/k/v epilogue (or
// prefill_rope) reads. grid (ceil(dim / 128), n), 128 threads (half <= 128).
extern "C" __global__ void embed(const StepParams* p, const uint16_t* __restrict__ emb, int dim, float* x,
                                 float* ssOut, const float* invFreq, int half, float ropeScale, float2* rope) {
    __shared__ float red[4];
    pdl_launch_next();
    pdl_wait();
    int t = blockIdx.y, r = blockIdx.x * GROUP_ROWS + threadIdx.x;
    if (blockIdx.x == 0 && threadIdx.x < half) {
        float angle = invFreq[threadIdx.x] * (float) (p->pos + t);
        rope[t * half + threadIdx.x] = make_float2((float) cos((double) angle) * ropeScale,
                                                   (float) sin((double) angle) * ropeScale);
    }
    float sq = 0.f;
    if (r < dim) {
        float v = bf2f(emb[(size_t) p->tokens[t] * dim + r]);
        x[(size_t) t * dim + r] = v;
        sq = v * v;
    }
    for (int o = 16; o > 0; o >>= 1) sq += __shfl_xor_sync(0xffffffffu, sq, o);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = sq;
    __syncthreads();
    if (threadIdx.x == 0) ssOut[t * gridDim.x + blockIdx.x] = ((red[0] + red[1]) + red[2]) + red[3];
}

// ---------------------------------------------------------------------------------------------
// Attention, flash-decoding style: grid (splits, kvHeads), 128 threads. A block takes keys
// [split*S, split*S + S) of one KV head for all n*G queries of that head's group (query row
// qi = t*G + j for token t and group member j; warp w owns rows 16w..16w+15; at most 16 rows:
// attention_rows16), so every key and value is read once per block. Scores and P.V on tensor
// cores (bf16 operands, fp32 accumulation), online softmax in base 2. Query t sees slots
// <= slot + t. Outputs per split: unnormalised O [split][t*nHeads + head][hd], running max m
// (log2 units) and sum l.

#define ATT_TILE 64             // keys per shared-memory tile (a multiple of 16)
#define ATT_NT (ATT_TILE / 8)   // 8-key n-tiles of the score mma per tile
#define ATT_WG_STAGES 3         // WG form: stages of K and V tiles (CudaTransformer.wgAttentionShared)

__device__ __forceinline__ void cp_async16(uint32_t s, const void* gptr) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(gptr));
}
__device__ __forceinline__ void cp_async16(void* smem_ptr, const void* gptr) {
    cp_async16((uint32_t) __cvta_generic_to_shared(smem_ptr), gptr);
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }
__device__ __forceinline__ void cp_async_wait1() { asm volatile("cp.async.wait_group 1;" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait0() { asm volatile("cp.async.wait_group 0;" ::: "memory"); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
    uint32_t s = (uint32_t) __cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
    uint32_t s = (uint32_t) __cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
}

// Query row qi (= t*G + j) of KV head kvh: its token t, its head, and the last slot it sees
// (slot0 + t); past the rows (ok false) token 0 and head kvh * G, seeing no slot (-1).
struct QueryRow {
    bool ok;
    int t, head, limit;
};
__device__ __forceinline__ QueryRow query_row(int qi, int qcount, int G, int kvh, int slot0) {
    const bool ok = qi < qcount;
    const int t = ok ? qi / G : 0;
    return {ok, t, kvh * G + (ok ? qi % G : 0), ok ? slot0 + t : -1};
}

// Query fragments (A operand of the score mma) of rows row0 + g and row0 + g + 8 (g = lane / 4,
// tq = lane % 4; query row qi = t*G + j), and the last slot each row sees (-1 past the rows).
template <int HD>
__device__ __forceinline__ void load_query_rows(const uint16_t* __restrict__ q, int row0, int qcount, int G,
                                                int kvh, int nHeads, int slot0, int g, int tq,
                                                uint32_t (&qa)[HD / 16][4], int (&limit)[2]) {
#pragma unroll
    for (int hrow = 0; hrow < 2; hrow++) {
        const QueryRow r = query_row(row0 + g + 8 * hrow, qcount, G, kvh, slot0);
        limit[hrow] = r.limit;
        const uint32_t* qrow = (const uint32_t*) (q + ((size_t) r.t * nHeads + r.head) * HD);
#pragma unroll
        for (int ks16 = 0; ks16 < HD / 16; ks16++) {
            qa[ks16][hrow] = r.ok ? qrow[ks16 * 8 + tq] : 0u;
            qa[ks16][2 + hrow] = r.ok ? qrow[ks16 * 8 + 4 + tq] : 0u;
        }
    }
}

// Before tile `tile` of `tiles` is used: the next tile starts loading into the other stage, this
// one is waited for, and the block (or the attention group on barrier `bar`, sync_part) syncs.
template <typename LoadTile>
__device__ __forceinline__ void await_tile(LoadTile& load_tile, int tile, int tiles, int bar = 0) {
    if (tile + 1 < tiles) {
        load_tile(tile + 1, (tile & 1) ^ 1);
        cp_async_wait1();
    } else {
        cp_async_wait0();
    }
    sync_part(bar, 128);
}

// Scores s of one 8-key n-tile of this thread (its keys `key` and key + 1, for rows g and g + 8) in
// base-2 units, the keys a row may not see (past the split, after the row's own slot) at -inf;
// folds them into the rows' maxima mx. CHECK = false: the caller knows every row sees every key.
template <bool CHECK = true>
__device__ __forceinline__ void mask_scores(float (&s)[4], int key, int kEnd, const int (&limit)[2], float scaleLog2,
                                            float (&mx)[2]) {
#pragma unroll
    for (int e = 0; e < 4; e++) {
        int k = key + (e & 1);
        int hrow = e >> 1;
        bool ok = !CHECK || (k < kEnd && k <= limit[hrow]);
        s[e] = ok ? s[e] * scaleLog2 : -INFINITY;
        mx[hrow] = fmaxf(mx[hrow], s[e]);
    }
}

// The maximum of v over the four threads of a quad (the threads sharing a row's scores).
__device__ __forceinline__ float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

// The online-softmax step of one row for a tile whose scores peak at tileMax: the new running
// maximum m, the base the tile's exponentials subtract (0 while the row sees no key yet), and the
// factor alpha the row's sum (add_p) and outputs are rescaled by, returned.
__device__ __forceinline__ float softmax_step(float tileMax, float& m, float& base) {
    float mNew = fmaxf(m, tileMax);
    base = mNew == -INFINITY ? 0.f : mNew;
    float alpha = exp2f(m - base);
    m = mNew;
    return alpha;
}

// A row's sum l after a tile's n-tile nt: its pair of P values (added first) onto l, the first
// n-tile's fused with the tile's rescale -- l alpha + pair in one rounding. Every path adds so (nvcc
// had contracted the first add into an fma in the mma.sync loops but not in the WG form, whose
// bits then differed wherever a split held two tiles or more).
__device__ __forceinline__ void add_p(float& l, float alpha, float pair, int nt) {
    l = nt == 0 ? __fmaf_rn(l, alpha, pair) : l + pair;
}

// Rescales outputs o (n-tiles of mma accumulators: elements 0, 1 row g, 2, 3 row g + 8) by the rows' alpha.
template <int N>
__device__ __forceinline__ void rescale_rows(float (&o)[N][4], const float (&alpha)[2]) {
#pragma unroll
    for (int i = 0; i < N; i++) {
        o[i][0] *= alpha[0];
        o[i][1] *= alpha[0];
        o[i][2] *= alpha[1];
        o[i][3] *= alpha[1];
    }
}

// A warp's finished rows row0 + g, row0 + g + 8 (query rows qi = t G + j of KV head kvh) -> this
// split's partial outputs: O unnormalised (o[i]: the rows' 8-dim n-tile tile0 + i), the running
// maximum m and the sum l (added across the quad; written where stats).
template <int HD, int NT>
__device__ __forceinline__ void write_partials(const float (&o)[NT][4], const float (&m)[2], float (&l)[2],
                                               int row0, int qcount, int G, int kvh, int nHeads, int split,
                                               float* po, float* pm, float* pl, int g, int tq, int tile0 = 0,
                                               bool stats = true) {
#pragma unroll
    for (int hrow = 0; hrow < 2; hrow++) {
        l[hrow] += __shfl_xor_sync(0xffffffffu, l[hrow], 1);
        l[hrow] += __shfl_xor_sync(0xffffffffu, l[hrow], 2);
        int qi = row0 + g + 8 * hrow;
        if (qi >= qcount) continue;
        int t = qi / G, head = kvh * G + qi % G;
        size_t row = (size_t) split * MAX_TOKENS * nHeads + (size_t) t * nHeads + head;
        float* orow = po + row * HD;
        // A quad's pairs of an n-tile are one 32-byte sector a row: 8-byte stores (two 4-byte ones
        // made the warps of a prefill block wait on the store queue, ncu: a tenth of their stalls).
#pragma unroll
        for (int i = 0; i < NT; i++) {
            *(float2*) &orow[(tile0 + i) * 8 + 2 * tq] = make_float2(o[i][2 * hrow], o[i][2 * hrow + 1]);
        }
        if (tq == 0 && stats) {
            pm[row] = m[hrow];
            pl[row] = l[hrow];
        }
    }
}

// One group of at most 16 query rows (a decode step; a verify block of up to 16 / G tokens): the
// 4 warps split each tile, so all of them compute, not only warp 0 -- warp w takes the scores of
// keys 16w .. 16w+15 and the P.V product of head dims HD/4 * w .. HD/4 * (w+1). The tile's row
// maxima and P (bf16) go through shared memory. Every value takes the same operations in the
// same order as in the per-row loop of attention_body (the scores' k order, mask_scores, the tile
// maximum, softmax_step, P rounded to bf16, each thread's sum over the n-tiles in order, P.V over
// 16-key blocks in order), so a row's bits do not depend on which of the two computed it.
// GROUPS = 2 (the persistent step): the block's warps 4 group .. 4 group + 3 run it, on their own
// barrier and shared rows.
template <int HD, int GROUPS = 1, typename LoadTile>
__device__ __forceinline__ void attention_rows16(const uint16_t* __restrict__ q, const uint16_t* ks,
                                                 const uint16_t* vs, LoadTile& load_tile, bool early, int n,
                                                 int nHeads, int G, float scaleLog2, float* po, float* pm,
                                                 float* pl, int split, int kvh, int slot0, int kStart, int kEnd,
                                                 int tiles, int group = 0) {
    constexpr int LD = HD + 8;
    constexpr int LDP = ATT_TILE + 8;   // padded P row (bf16): the A-fragment reads hit distinct banks
    constexpr int DW = HD / 64;         // 16-dim blocks of P.V per warp
    __shared__ float tileMaxes[GROUPS][4][16];   // [group][warp][row]
    __shared__ uint16_t pss[GROUPS][16][LDP];    // P of the tile [group][row][key]
    float (*tileMax)[16] = tileMaxes[group];
    uint16_t (*ps)[LDP] = pss[group];
    const int bar = GROUPS == 1 ? 0 : 1 + group;   // sync_part: the block, or the group's barrier
    const int lane = threadIdx.x & 31, warp = (threadIdx.x >> 5) & 3;
    const int g = lane >> 2, tq = lane & 3;
    const int qcount = n * G;
    if (!early) load_tile(0, 0);

    uint32_t qa[HD / 16][4];   // query fragments, rows g and g + 8
    int limit[2];
    load_query_rows<HD>(q, 0, qcount, G, kvh, nHeads, slot0, g, tq, qa, limit);
    float o[2 * DW][4];   // this warp's dims: 8-dim n-tiles 2 * (DW * warp + d) + {0, 1}
#pragma unroll
    for (int i = 0; i < 2 * DW; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float m[2] = {-INFINITY, -INFINITY};
    float l[2] = {0.f, 0.f};

    for (int tile = 0; tile < tiles; tile++) {
        const int buf = tile & 1;
        await_tile(load_tile, tile, tiles, bar);
        const uint16_t* kt = ks + buf * ATT_TILE * LD;
        const uint16_t* vt = vs + buf * ATT_TILE * LD;
        float s[2][4];   // n-tiles 2 * warp + j
#pragma unroll
        for (int j = 0; j < 2; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
        for (int ks16 = 0; ks16 < HD / 16; ks16 += 2) {
#pragma unroll
            for (int j = 0; j < 2; j++) {
                uint32_t b[4];
                ldmatrix_x4(b, kt + ((2 * warp + j) * 8 + (lane & 7)) * LD + ks16 * 16 + (lane >> 3) * 8);
                mma_bf16(s[j], qa[ks16][0], qa[ks16][1], qa[ks16][2], qa[ks16][3], b[0], b[1]);
                mma_bf16(s[j], qa[ks16 + 1][0], qa[ks16 + 1][1], qa[ks16 + 1][2], qa[ks16 + 1][3], b[2], b[3]);
            }
        }
        const int key0 = kStart + tile * ATT_TILE;
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int j = 0; j < 2; j++) mask_scores(s[j], key0 + (2 * warp + j) * 8 + 2 * tq, kEnd, limit, scaleLog2, mx);
#pragma unroll
        for (int hrow = 0; hrow < 2; hrow++) {
            mx[hrow] = quad_max(mx[hrow]);
            if (tq == 0) tileMax[warp][g + 8 * hrow] = mx[hrow];
        }
        sync_part(bar, 128);
        float alpha[2], base[2];
#pragma unroll
        for (int hrow = 0; hrow < 2; hrow++) {
            const int row = g + 8 * hrow;
            float tmax = fmaxf(fmaxf(tileMax[0][row], tileMax[1][row]), fmaxf(tileMax[2][row], tileMax[3][row]));
            alpha[hrow] = softmax_step(tmax, m[hrow], base[hrow]);
        }
        rescale_rows(o, alpha);
#pragma unroll
        for (int j = 0; j < 2; j++) {
            const int key = (2 * warp + j) * 8 + 2 * tq;
            *(uint32_t*) &ps[g][key] = pack_bf16(exp2f(s[j][0] - base[0]), exp2f(s[j][1] - base[0]));
            *(uint32_t*) &ps[g + 8][key] = pack_bf16(exp2f(s[j][2] - base[1]), exp2f(s[j][3] - base[1]));
        }
        sync_part(bar, 128);
        // Each thread's row sums over the tile's n-tiles in order, as the per-row loop adds them.
#pragma unroll
        for (int nt = 0; nt < ATT_NT; nt++) {
#pragma unroll
            for (int hrow = 0; hrow < 2; hrow++) {
                uint32_t pp = *(const uint32_t*) &ps[g + 8 * hrow][nt * 8 + 2 * tq];
                add_p(l[hrow], alpha[hrow], bf2f(pp & 0xffffu) + bf2f(pp >> 16), nt);
            }
        }
#pragma unroll
        for (int kk = 0; kk < ATT_NT / 2; kk++) {
            const uint32_t a0 = *(const uint32_t*) &ps[g][kk * 16 + 2 * tq];
            const uint32_t a1 = *(const uint32_t*) &ps[g + 8][kk * 16 + 2 * tq];
            const uint32_t a2 = *(const uint32_t*) &ps[g][kk * 16 + 8 + 2 * tq];
            const uint32_t a3 = *(const uint32_t*) &ps[g + 8][kk * 16 + 8 + 2 * tq];
#pragma unroll
            for (int d = 0; d < DW; d++) {
                const int dp = DW * warp + d;
                uint32_t b[4];
                ldmatrix_x4_trans(b, vt + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + dp * 16 +
                                         (lane >> 4) * 8);
                mma_bf16(o[2 * d], a0, a1, a2, a3, b[0], b[1]);
                mma_bf16(o[2 * d + 1], a0, a1, a2, a3, b[2], b[3]);
            }
        }
        sync_part(bar, 128);
    }
    // This warp's n-tiles are 2 DW warp .. 2 DW warp + 2 DW - 1; warp 0 writes the rows' m and l.
    write_partials<HD>(o, m, l, 0, qcount, G, kvh, nHeads, split, po, pm, pl, g, tq, 2 * DW * warp, warp == 0);
}

// Query rows qBase .. qBase + rows of the block's KV head into shared memory [rows][HD + 8], zeros
// past qcount (MT = 2 below).
template <int HD>
__device__ __forceinline__ void stage_query_rows(const uint16_t* __restrict__ q, uint16_t* qs, int qBase, int rows,
                                                 int qcount, int G, int kvh, int nHeads) {
    for (int i = threadIdx.x; i < rows * (HD / 8); i += blockDim.x) {
        const int row = i / (HD / 8), c = (i % (HD / 8)) * 8;
        const QueryRow r = query_row(qBase + row, qcount, G, kvh, 0);
        uint4 v = make_uint4(0u, 0u, 0u, 0u);
        if (r.ok) v = *(const uint4*) (q + ((size_t) r.t * nHeads + r.head) * HD + c);
        *(uint4*) (qs + row * (HD + 8) + c) = v;
    }
}

// exp2f(x); NORMAL: for x >= -126 only, where exp2f is one ex2 (below it, exp2f halves x and squares
// the result, for results under 2^-126).
template <bool NORMAL>
__device__ __forceinline__ float exp2_as(float x) {
    if constexpr (!NORMAL) return exp2f(x);
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// bf16 of lo and hi, rounded to nearest even as f2bf rounds, in one instruction: (hi << 16) | lo.
__device__ __forceinline__ uint32_t round_pair_bf16(float lo, float hi) {
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

// P of a tile for a warp's 16 rows (scores s in base-2 units, less the rows' bases), rounded to bf16 as
// A fragments pa (16 keys each), added to the rows' sums l (rescaled by alpha) in the step kernels' order.
template <bool NORMAL>
__device__ __forceinline__ void p_tile(const float (&s)[ATT_NT][4], const float (&base)[2], const float (&alpha)[2],
                                       float (&l)[2], uint32_t (&pa)[ATT_NT / 2][4]) {
#pragma unroll
    for (int nt = 0; nt < ATT_NT; nt++) {
        const uint32_t r0 = round_pair_bf16(exp2_as<NORMAL>(s[nt][0] - base[0]), exp2_as<NORMAL>(s[nt][1] - base[0]));
        const uint32_t r1 = round_pair_bf16(exp2_as<NORMAL>(s[nt][2] - base[1]), exp2_as<NORMAL>(s[nt][3] - base[1]));
        add_p(l[0], alpha[0], __uint_as_float(r0 << 16) + __uint_as_float(r0 & 0xffff0000u), nt);
        add_p(l[1], alpha[1], __uint_as_float(r1 << 16) + __uint_as_float(r1 & 0xffff0000u), nt);
        pa[nt >> 1][2 * (nt & 1)] = r0;
        pa[nt >> 1][2 * (nt & 1) + 1] = r1;
    }
}

// The online softmax of a tile's scores s for a warp's 16 rows (keys key0 + 8 nt + 2 tq + (e & 1)),
// as attention_body's loop computes it (mask_scores, softmax_step, P rounded to bf16): moves the
// rows' maxima m and sums l, leaves P as A fragments pa, 16 keys each, and the factors alpha the
// outputs are to be rescaled by before P.V. A tile every row of the warp sees whole skips the key
// checks (exact).
__device__ __forceinline__ void softmax_tile(float (&s)[ATT_NT][4], int key0, int kEnd, const int (&limit)[2],
                                             float scaleLog2, float (&m)[2], float (&l)[2],
                                             uint32_t (&pa)[ATT_NT / 2][4], float (&alpha)[2], int tq) {
    float mx[2] = {-INFINITY, -INFINITY}, mn[2] = {INFINITY, INFINITY};
    const bool whole = __all_sync(0xffffffffu, key0 + ATT_TILE <= kEnd && key0 + ATT_TILE - 1 <= min(limit[0], limit[1]));
    if (whole) {
#pragma unroll
        for (int nt = 0; nt < ATT_NT; nt++) {
            mask_scores<false>(s[nt], key0 + nt * 8 + 2 * tq, kEnd, limit, scaleLog2, mx);
#pragma unroll
            for (int e = 0; e < 4; e++) mn[e >> 1] = fminf(mn[e >> 1], s[nt][e]);
        }
    } else {
#pragma unroll
        for (int nt = 0; nt < ATT_NT; nt++) mask_scores(s[nt], key0 + nt * 8 + 2 * tq, kEnd, limit, scaleLog2, mx);
    }
    float base[2];
#pragma unroll
    for (int hrow = 0; hrow < 2; hrow++) alpha[hrow] = softmax_step(quad_max(mx[hrow]), m[hrow], base[hrow]);
    // Every exponent of the warp at -126 or above (s - base rounds monotonically, so the rows' minima
    // decide): exp2f is one ex2 there.
    if (__all_sync(0xffffffffu, whole && mn[0] - base[0] >= -126.f && mn[1] - base[1] >= -126.f)) {
        p_tile<true>(s, base, alpha, l, pa);
    } else {
        p_tile<false>(s, base, alpha, l, pa);
    }
}

// A thread's copies of one K or V tile in the WG form (THREADS a block): key rows THREADS / (HD / 8)
// apart from its first, the same dims; to and src its first copy's destination and source.
template <int HD, int THREADS>
__device__ __forceinline__ void load_tile_rows(uint32_t to, const uint16_t* src) {
    constexpr int ROWS = THREADS / (HD / 8);
#pragma unroll
    for (int j = 0; j < ATT_TILE / ROWS; j++) cp_async16(to + j * ROWS * 128, src + j * ROWS * HD);
}

// attention_body's tiles in its WG form (Hopper): this warpgroup's 64 rows (the warp's 16: query
// fragments qa, outputs o, maxima m, sums l) over the split's tiles, the products on wgmma in the
// step kernels' order -- scores over k16 steps of the head dims, P.V over 16-key steps. Step t
// rescales the outputs by tile t - 1's factors, issues the scores of tile t + 1 and P.V of tile
// t - 1, and runs tile t's softmax while the tensor cores take both (P alternates between two sets
// of registers, as the scores do: no other instruction may write a wgmma's registers while one is
// in flight, or ptxas serialises them). K and V tiles: three stages each (kWg, vWg),
// [HD / 64][ATT_TILE][128 bytes] 128-byte-swizzled; after step t's block sync K(t + 3) and V(t + 2)
// load into the stages that K(t) and V(t - 1) left. load_tile(tile, stage address, values) copies
// one K or V tile. All threads of the block call it.
template <int HD, typename LoadTile>
__device__ __forceinline__ void attention_tiles_wg(LoadTile& load_tile, uint32_t kWg, uint32_t vWg, int tiles,
                                                   bool active, const uint32_t (&qa)[HD / 16][4],
                                                   float (&o)[HD / 8][4], float (&m)[2], float (&l)[2], int kStart,
                                                   int kEnd, const int (&limit)[2], float scaleLog2, int tq) {
    constexpr int STAGE = HD / 64 * ATT_TILE * 128;   // bytes of a stage's K (or V) tile
    float (&d)[HD / 2] = reinterpret_cast<float (&)[HD / 2]>(o);
    auto load = [&](int kTile, int vTile) {   // K of kTile and V of vTile, those within the split; one group
        if (kTile < tiles) load_tile(kTile, kWg + (kTile % ATT_WG_STAGES) * STAGE, false);
        if (vTile < tiles) load_tile(vTile, vWg + (vTile % ATT_WG_STAGES) * STAGE, true);
        cp_async_commit();
    };
    auto scores = [&](int tile, float (&s)[ATT_NT][4]) {   // issue S = Q K^T of tile, k16 steps in order
        float (&c)[ATT_NT * 4] = reinterpret_cast<float (&)[ATT_NT * 4]>(s);
        wgmma_fence();
        const uint32_t k = kWg + (tile % ATT_WG_STAGES) * STAGE;
        // The first step starts from 0 (ACC false), as the step kernels' scores do.
        wgmma<ATT_TILE, 0, false>(c, qa[0][0], qa[0][1], qa[0][2], qa[0][3], smem_descriptor(k, 16, 1024, 1));
#pragma unroll
        for (int ks16 = 1; ks16 < HD / 16; ks16++) {
            const uint32_t kk = k + (ks16 / 4) * ATT_TILE * 128 + (ks16 % 4) * 32;
            wgmma<ATT_TILE, 0>(c, qa[ks16][0], qa[ks16][1], qa[ks16][2], qa[ks16][3], smem_descriptor(kk, 16, 1024, 1));
        }
        wgmma_commit();
    };
    float alpha[2] = {1.f, 1.f};   // the last softmax's factors, for the outputs before its P.V
    auto product = [&](int tile, const uint32_t (&pa)[ATT_NT / 2][4]) {   // issue O = alpha O + P V of tile
        // Outputs whose alpha is 1 for every row of the warp (the maxima did not move) skip it: exact.
        if (__any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f)) rescale_rows(o, alpha);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < ATT_NT / 2; kk++) {   // 16 keys a step in order; V N-major
            const uint32_t v = vWg + (tile % ATT_WG_STAGES) * STAGE + kk * 16 * 128;
            wgmma<HD, 1>(d, pa[kk][0], pa[kk][1], pa[kk][2], pa[kk][3], smem_descriptor(v, ATT_TILE * 128, 1024, 1));
        }
        wgmma_commit();
    };
    // s: the scores of tile, landed; pa: its P; prev: tile - 1's P.
    auto step = [&](int tile, float (&s)[ATT_NT][4], float (&next)[ATT_NT][4], uint32_t (&pa)[ATT_NT / 2][4],
                    const uint32_t (&prev)[ATT_NT / 2][4]) {
        if (active) {
            if (tile + 1 < tiles) scores(tile + 1, next);
            if (tile > 0) product(tile - 1, prev);
            float sc[ATT_NT][4];   // a copy: masking s in place (wgmma registers) made ptxas serialise the wgmma
#pragma unroll
            for (int nt = 0; nt < ATT_NT; nt++) {
#pragma unroll
                for (int e = 0; e < 4; e++) sc[nt][e] = s[nt][e];
            }
            softmax_tile(sc, kStart + tile * ATT_TILE, kEnd, limit, scaleLog2, m, l, pa, alpha, tq);
            wgmma_wait<0>();
            fence_registers(d);
            fence_registers(reinterpret_cast<float (&)[ATT_NT * 4]>(next));
        }
        asm volatile("cp.async.wait_group 0;" ::: "memory");   // K(tile + 2), V(tile + 1) have landed
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        __syncthreads();   // for every thread; and every warpgroup is done with K(tile) and V(tile - 1)
        load(tile + 3, tile + 2);
    };
    load(0, 0);
    load(1, 1);
    load(2, tiles);
    asm volatile("cp.async.wait_group 0;" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    __syncthreads();
    float s0[ATT_NT][4] = {}, s1[ATT_NT][4] = {};   // scores of even and odd tiles
    uint32_t pa0[ATT_NT / 2][4], pa1[ATT_NT / 2][4];   // their P
    if (active) {
        scores(0, s0);
        wgmma_wait<0>();
        fence_registers(reinterpret_cast<float (&)[ATT_NT * 4]>(s0));
    }
    for (int tile = 0; tile < tiles; tile += 2) {
        step(tile, s0, s1, pa0, pa1);
        if (tile + 1 < tiles) step(tile + 1, s1, s0, pa1, pa0);
    }
    if (active) {   // the last tile's P.V
        if (tiles & 1) {
            product(tiles - 1, pa0);
        } else {
            product(tiles - 1, pa1);
        }
        wgmma_wait<0>();
        fence_registers(d);
    }
    __syncthreads();   // the stages are free for the next pass
}

// Keys and values key0 .. key0 + ATT_TILE of a KV head (kbase, vbase) into stage `buf` of the
// shared tiles ks, vs [2][ATT_TILE][HD + 8], by threads t of `threads`, as one cp.async group.
template <int HD>
__device__ __forceinline__ void load_kv_tile(uint16_t* ks, uint16_t* vs, const uint16_t* kbase, const uint16_t* vbase,
                                             int key0, int buf, int t, int threads) {
    constexpr int LD = HD + 8;
    for (int i = t; i < ATT_TILE * HD / 8; i += threads) {
        int r = i / (HD / 8), c = (i % (HD / 8)) * 8;
        size_t off = (size_t) (key0 + r) * HD + c;
        int to = (buf * ATT_TILE + r) * LD + c;
        cp_async16(ks + to, kbase + off);
        cp_async16(vs + to, vbase + off);
    }
    cp_async_commit();
}

// MT: m-tiles of 16 query rows a warp when a block has more than 16 rows (below). WG (Hopper: the
// prefill's chunk_attention*wg, steps of 32 or more query rows attention*wg): the block's
// warpgroups (blockDim / 128) take 64 rows each (rows past the last fill its warpgroup and see no
// key), their score and P.V products on wgmma (attention_tiles_wg). Same bits every way.
template <int HD, int MT = 1, bool WG = false>
__device__ __forceinline__ void attention_body(const uint16_t* __restrict__ q, const uint16_t* __restrict__ kc,
                                               const uint16_t* __restrict__ vc, int capacity,
                                               const StepParams* p, int n, int nHeads, int G, int S,
                                               float scaleLog2, float* po, float* pm, float* pl, int split,
                                               int kvh, int settled) {
    constexpr int LD = HD + 8;  // padded row (bf16): ldmatrix rows land in distinct banks
    extern __shared__ uint16_t sm[];
    uint16_t* ks = sm;                       // [2][ATT_TILE][LD]
    uint16_t* vs = sm + 2 * ATT_TILE * LD;   // [2][ATT_TILE][LD]
    // WG: [ATT_WG_STAGES][HD / 64 atoms][ATT_TILE keys][128 bytes] each (two tiles in flight while
    // one is used), 1024-byte aligned: key r's dims 64 a + 8 j .. + 7 at 16 (j ^ r % 8) in its row
    // (the 128-byte swizzle wgmma reads)
    uint32_t kWg = 0, vWg = 0;
    if constexpr (WG) {
        const uint32_t base = (uint32_t) __cvta_generic_to_shared(sm);
        kWg = (base + 1023) & ~1023u;
        vWg = kWg + ATT_WG_STAGES * ATT_TILE * HD * 2;
    }

    pdl_launch_next();
    const int slot0 = p->slot;  // StepParams are set by the host, not by a kernel: readable before the wait
    const int total = slot0 + n;
    const int kStart = split * S;
    const uint16_t* kbase = kc + (size_t) kvh * capacity * HD;
    const uint16_t* vbase = vc + (size_t) kvh * capacity * HD;
    auto load_tile = [&](int tile, int buf) {
        load_kv_tile<HD>(ks, vs, kbase, vbase, kStart + tile * ATT_TILE, buf, threadIdx.x, blockDim.x);
    };
    // WG: thread i copies items i + blockDim.x j of a tile, key rows r0 + j blockDim.x / (HD / 8) (a
    // multiple of 8 apart: the same swizzle phase) and dims c .. c + 7, so only the bases move.
    const int r0 = threadIdx.x / (HD / 8), c0 = threadIdx.x % (HD / 8) * 8;
    const uint32_t wgTo = ((c0 / 64) * ATT_TILE + r0) * 128 + (((c0 / 8) & 7) ^ (r0 & 7)) * 16;
    auto load_tile_wg = [&](int tile, uint32_t stage, bool values) {
        const uint16_t* src = (values ? vbase : kbase) + (size_t) (kStart + tile * ATT_TILE + r0) * HD + c0;
        if (blockDim.x == 256) {
            load_tile_rows<HD, 256>(stage + wgTo, src);
        } else {
            load_tile_rows<HD, 128>(stage + wgTo, src);
        }
    };
    // Slots below `settled` were written before this launch's kernel chain began: a first tile
    // of them streams while the kernel before this one finishes.
    const bool early = kStart + ATT_TILE <= settled;
    if (early) load_tile(0, 0);
    pdl_wait();
    if (kStart >= total) return;
    const int kEnd = min(kStart + S, total);
    const int tiles = (kEnd - kStart + ATT_TILE - 1) / ATT_TILE;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, tq = lane & 3;
    const int qcount = n * G;
    if (MT == 1 && !WG && qcount <= 16) {
        attention_rows16<HD>(q, ks, vs, load_tile, early, n, nHeads, G, scaleLog2, po, pm, pl, split, kvh, slot0,
                             kStart, kEnd, tiles);
        return;
    }

    // Rows 64 * MT at a time: warp w takes the m-tiles of 16 rows at qBase + 64 m + 16 w (m < MT); more
    // rows than that (blocks of many tokens) stream the split's keys and values again. MT = 2 (the
    // prefill's GQA sub-blocks: chunk_attention*x2): the pass's query rows wait in shared memory for
    // ldmatrix instead of in registers, and each K and V fragment feeds both m-tiles -- half the
    // fragment loads a mma, twice the independent mma a warp. Every row takes the same operations in
    // the same order either way.
    uint16_t* qs = sm + 4 * ATT_TILE * LD;   // MT = 2: [64 * MT][LD] the pass's query rows
    for (int qBase = 0; qBase < qcount; qBase += WG ? (int) blockDim.x / 2 : 64 * MT) {
        // WG: whole warpgroups (wgmma is theirs); rows past qcount see no key and are not written.
        const bool active = qBase + (WG ? warp / 4 * 64 : warp * 16) < qcount;
        if (!WG && (qBase > 0 || !early)) load_tile(0, 0);

        uint32_t qa[HD / 16][4];   // MT = 1: query fragments, rows qBase + 16 warp + g and + 8
        int limit[MT][2];
        if constexpr (MT == 1) {
            load_query_rows<HD>(q, qBase + warp * 16, qcount, G, kvh, nHeads, slot0, g, tq, qa, limit[0]);
        } else {
            stage_query_rows<HD>(q, qs, qBase, 64 * MT, qcount, G, kvh, nHeads);   // read after await_tile's sync
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
#pragma unroll
                for (int hrow = 0; hrow < 2; hrow++) {
                    limit[mt][hrow] = query_row(qBase + 64 * mt + warp * 16 + g + 8 * hrow, qcount, G, kvh, slot0).limit;
                }
            }
        }

        float o[MT][HD / 8][4];
        float m[MT][2], l[MT][2];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
#pragma unroll
            for (int i = 0; i < HD / 8; i++) o[mt][i][0] = o[mt][i][1] = o[mt][i][2] = o[mt][i][3] = 0.f;
            m[mt][0] = m[mt][1] = -INFINITY;
            l[mt][0] = l[mt][1] = 0.f;
        }

        if constexpr (WG) {
            attention_tiles_wg<HD>(load_tile_wg, kWg, vWg, tiles, active, qa, o[0], m[0], l[0], kStart, kEnd, limit[0],
                                   scaleLog2, tq);
        }
        for (int tile = 0; !WG && tile < tiles; tile++) {
            const int buf = tile & 1;
            await_tile(load_tile, tile, tiles);
            if (active) {
                const uint16_t* kt = ks + buf * ATT_TILE * LD;
                const uint16_t* vt = vs + buf * ATT_TILE * LD;
                float s[MT][ATT_NT][4];
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
#pragma unroll
                    for (int nt = 0; nt < ATT_NT; nt++) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.f;
                }
#pragma unroll
                for (int ks16 = 0; ks16 < HD / 16; ks16 += 2) {
                    uint32_t a[MT][2][4];   // MT = 2: query fragments of k16 steps ks16 and ks16 + 1
#pragma unroll
                    for (int mt = 0; MT > 1 && mt < MT; mt++) {
#pragma unroll
                        for (int h = 0; h < 2; h++) {
                            ldmatrix_x4(a[mt][h], qs + (64 * mt + 16 * warp + (lane & 15)) * LD + (ks16 + h) * 16 +
                                                      (lane >> 4) * 8);
                        }
                    }
#pragma unroll
                    for (int nt = 0; nt < ATT_NT; nt++) {
                        uint32_t b[4];
                        ldmatrix_x4(b, kt + (nt * 8 + (lane & 7)) * LD + ks16 * 16 + (lane >> 3) * 8);
#pragma unroll
                        for (int mt = 0; mt < MT; mt++) {
                            const uint32_t* a0 = MT == 1 ? qa[ks16] : a[mt][0];
                            const uint32_t* a1 = MT == 1 ? qa[ks16 + 1] : a[mt][1];
                            mma_bf16(s[mt][nt], a0[0], a0[1], a0[2], a0[3], b[0], b[1]);
                            mma_bf16(s[mt][nt], a1[0], a1[1], a1[2], a1[3], b[2], b[3]);
                        }
                    }
                }
                const int key0 = kStart + tile * ATT_TILE;
                uint32_t pa[MT][ATT_NT / 2][4];   // P (rounded to bf16, as the P.V product sees it)
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    float mx[2] = {-INFINITY, -INFINITY};
                    // MT = 2: a tile every row of the warp sees whole (all but the last ones of a long
                    // split) skips the key checks, and outputs whose alpha is 1 for every row of the warp
                    // (the maxima did not move) skip their rescaling: multiplying by 1 is exact.
                    // (softmax_tile, the WG form's, gives the same bits with fewer instructions -- P
                    // rounded two at a time, exp2f as the one ex2 it is where every exponent is >= -126;
                    // this loop keeps its own copy: sharing it changes the step kernels' machine code.)
                    const bool whole = MT > 1 && key0 + ATT_TILE <= kEnd &&
                                       key0 + ATT_TILE - 1 <= min(limit[mt][0], limit[mt][1]);
                    if (MT > 1 && __all_sync(0xffffffffu, whole)) {
#pragma unroll
                        for (int nt = 0; nt < ATT_NT; nt++) {
                            mask_scores<false>(s[mt][nt], key0 + nt * 8 + 2 * tq, kEnd, limit[mt], scaleLog2, mx);
                        }
                    } else {
#pragma unroll
                        for (int nt = 0; nt < ATT_NT; nt++) {
                            mask_scores(s[mt][nt], key0 + nt * 8 + 2 * tq, kEnd, limit[mt], scaleLog2, mx);
                        }
                    }
                    float alpha[2], base[2];
#pragma unroll
                    for (int hrow = 0; hrow < 2; hrow++) {
                        alpha[hrow] = softmax_step(quad_max(mx[hrow]), m[mt][hrow], base[hrow]);
                    }
                    if (MT == 1 || __any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f)) rescale_rows(o[mt], alpha);
                    // P and its row sums.
#pragma unroll
                    for (int nt = 0; nt < ATT_NT; nt++) {
                        float p0 = bf2f(f2bf(exp2f(s[mt][nt][0] - base[0])));
                        float p1 = bf2f(f2bf(exp2f(s[mt][nt][1] - base[0])));
                        float p2 = bf2f(f2bf(exp2f(s[mt][nt][2] - base[1])));
                        float p3 = bf2f(f2bf(exp2f(s[mt][nt][3] - base[1])));
                        add_p(l[mt][0], alpha[0], p0 + p1, nt);
                        add_p(l[mt][1], alpha[1], p2 + p3, nt);
                        int kk = nt >> 1, hi = nt & 1;
                        pa[mt][kk][2 * hi] = pack_bf16(p0, p1);
                        pa[mt][kk][2 * hi + 1] = pack_bf16(p2, p3);
                    }
                }
#pragma unroll
                for (int kk = 0; kk < ATT_NT / 2; kk++) {
#pragma unroll
                    for (int dp = 0; dp < HD / 16; dp++) {
                        uint32_t b[4];
                        ldmatrix_x4_trans(b, vt + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + dp * 16 +
                                                 (lane >> 4) * 8);
#pragma unroll
                        for (int mt = 0; mt < MT; mt++) {
                            const uint32_t* pr = pa[mt][kk];
                            mma_bf16(o[mt][2 * dp], pr[0], pr[1], pr[2], pr[3], b[0], b[1]);
                            mma_bf16(o[mt][2 * dp + 1], pr[0], pr[1], pr[2], pr[3], b[2], b[3]);
                        }
                    }
                }
            }
            __syncthreads();
        }
        if (active) {
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                write_partials<HD>(o[mt], m[mt], l[mt], qBase + 64 * mt + warp * 16, qcount, G, kvh, nHeads, split, po,
                                   pm, pl, g, tq);
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(128) attention64(const uint16_t* q, const uint16_t* kc,
                                                               const uint16_t* vc, int capacity,
                                                               const StepParams* p, int n, int nHeads, int G,
                                                               int S, float scaleLog2, float* po, float* pm,
                                                               float* pl) {
    attention_body<64>(q, kc, vc, capacity, p, n, nHeads, G, S, scaleLog2, po, pm, pl, blockIdx.x, blockIdx.y,
                        p->slot);
}

extern "C" __global__ void __launch_bounds__(128) attention128(const uint16_t* q, const uint16_t* kc,
                                                                const uint16_t* vc, int capacity,
                                                                const StepParams* p, int n, int nHeads, int G,
                                                                int S, float scaleLog2, float* po, float* pm,
                                                                float* pl) {
    attention_body<128>(q, kc, vc, capacity, p, n, nHeads, G, S, scaleLog2, po, pm, pl, blockIdx.x, blockIdx.y,
                        p->slot);
}

// The same on wgmma (Hopper) for steps of 32 or more query rows (n G: a verify of 8 or more tokens
// at 4 queries a KV head; CudaTransformer.attend); the same bits (CudaBackendTest's block vs
// token-by-token forwards). 128 threads, three stages of K and V tiles (CudaTransformer).
#define ATTENTION_WG_KERNEL(name, HD) \
    extern "C" __global__ void __launch_bounds__(128) name(const uint16_t* q, const uint16_t* kc, const uint16_t* vc, \
            int capacity, const StepParams* p, int n, int nHeads, int G, int S, float scaleLog2, float* po, float* pm, \
            float* pl) { \
        attention_body<HD, 1, true>(q, kc, vc, capacity, p, n, nHeads, G, S, scaleLog2, po, pm, pl, blockIdx.x, \
                                    blockIdx.y, 0); \
    }
ATTENTION_WG_KERNEL(attention64wg, 64)
ATTENTION_WG_KERNEL(attention128wg, 128)

// Merges the splits query t can see (slots <= slot + t) -> o_proj activations. One block of 256
// threads per (head, token): warp w takes splits w, w + 8, ...; lane takes dims lane + 32 j (head
// sizes 64 and 128, as DeviceModel requires). Each dim's adds run in the same order as when a
// block took 32 dims (4x the blocks, each reading the splits' maxima again): same bits. CORE:
// the activations in prefill's core order (core_act_index).
template <bool CORE>
__device__ __forceinline__ void combine_body(const StepParams* p, const float* po, const float* pm, const float* pl,
                                             int nHeads, int hd, int S, uint16_t* hi, uint16_t* lo, int head, int t,
                                             int bar = 0) {
    __shared__ float wm[8], wl[8], wo[8][128];
    pdl_launch_next();
    pdl_wait();
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int splits = (p->slot + t + S) / S;
    const size_t row = (size_t) t * nHeads + head;
    const size_t stride = (size_t) MAX_TOKENS * nHeads;
    float m = -INFINITY;
#pragma unroll 4
    for (int s = warp; s < splits; s += 8) m = fmaxf(m, pm[s * stride + row]);
    if (lane == 0) wm[warp] = m;
    sync_part(bar, 256);
    float mMax = wm[0];
    for (int w = 1; w < 8; w++) mMax = fmaxf(mMax, wm[w]);
    float sum = 0.f, acc[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll 4
    for (int s = warp; s < splits; s += 8) {
        float w = exp2f(pm[s * stride + row] - mMax);
        sum += pl[s * stride + row] * w;
        const float* o = po + (s * stride + row) * hd + lane;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            if (32 * j < hd) acc[j] += o[32 * j] * w;
        }
    }
#pragma unroll
    for (int j = 0; j < 4; j++) {
        if (32 * j < hd) wo[warp][lane + 32 * j] = acc[j];
    }
    if (lane == 0) wl[warp] = sum;
    sync_part(bar, 256);
    const int d = threadIdx.x;
    if (d < hd) {
        float total = 0.f, out = 0.f;
        for (int w = 0; w < 8; w++) {
            total += wl[w];
            out += wo[w][d];
        }
        write_act<CORE>(hi, lo, t, head * hd + d, out / total);
    }
}

// grid (nHeads, n), 256 threads.
extern "C" __global__ void attention_combine(const StepParams* p, const float* po, const float* pm,
                                             const float* pl, int nHeads, int hd, int S, uint16_t* hi,
                                             uint16_t* lo) {
    combine_body<false>(p, po, pm, pl, nHeads, hd, S, hi, lo, blockIdx.x, blockIdx.y);
}

// Greedy next token of each row (lowest index on ties). n blocks, 1024 threads.
extern "C" __global__ void argmax_rows(const float* logits, int vocab, int* out) {
    __shared__ float bv[32];
    __shared__ int bi[32];
    pdl_launch_next();
    pdl_wait();
    int t = blockIdx.x;
    const float* row = logits + (size_t) t * vocab;
    float best = -INFINITY;
    int idx = 0x7fffffff;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        float v = row[i];
        if (v > best) { best = v; idx = i; }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, best, o);
        int oi = __shfl_xor_sync(0xffffffffu, idx, o);
        if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
    }
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) { bv[warp] = best; bi[warp] = idx; }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < (int) (blockDim.x >> 5); w++) {
            if (bv[w] > best || (bv[w] == best && bi[w] < idx)) { best = bv[w]; idx = bi[w]; }
        }
        out[t] = idx;
    }
}

// ---------------------------------------------------------------------------------------------
// Retrieval cache (TriForce level 2). Per-layer cache buffers are reached through tables of
// base addresses [layers], so one launch covers every layer.

// score[layer][kvh][c] = sum over the query heads h sharing kvh of lastQuery_h . mean(keys of
// chunk c). grid (ceil(chunks / 8), nKv, layers), 256 threads: one warp per chunk.
extern "C" __global__ void chunk_scores(const uint64_t* keyTable, int capacity, const float* lastQuery, int nHeads,
                                        int nKv, int hd, int chunk, int chunks, int chunksCap, float* scores) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int c = blockIdx.x * 8 + warp, kvh = blockIdx.y, layer = blockIdx.z;
    if (c >= chunks) return;
    const int G = nHeads / nKv;
    const uint16_t* keys = (const uint16_t*) keyTable[layer] + ((size_t) kvh * capacity + (size_t) c * chunk) * hd;
    const float* q = lastQuery + ((size_t) layer * nHeads + kvh * G) * hd;
    float s = 0.f;
    for (int d = lane; d < hd; d += 32) {
        float mean = 0.f;
        for (int j = 0; j < chunk; j++) mean += bf2f(keys[(size_t) j * hd + d]);
        mean /= chunk;
        float qs = 0.f;
        for (int h = 0; h < G; h++) qs += q[h * hd + d];
        s += qs * mean;
    }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) scores[((size_t) layer * nKv + kvh) * chunksCap + c] = s;
}

// Chunk 0 plus the keep - 1 best other chunks (ties: lower index), ascending, per (kvh, layer):
// a bitonic sort of (score descending, index ascending) keys over N = pow2 >= chunks entries,
// then of the kept indices. grid (nKv, layers), 1024 threads, N * 8 bytes of shared memory.
__device__ void bitonic_sort(unsigned long long* keys, int N) {
    for (int k = 2; k <= N; k <<= 1) {
        for (int j = k >> 1; j > 0; j >>= 1) {
            for (int i = threadIdx.x; i < N; i += blockDim.x) {
                int ixj = i ^ j;
                if (ixj > i) {
                    unsigned long long a = keys[i], b = keys[ixj];
                    if ((a > b) == ((i & k) == 0)) {
                        keys[i] = b;
                        keys[ixj] = a;
                    }
                }
            }
            __syncthreads();
        }
    }
}

extern "C" __global__ void topk_chunks(const float* scores, int chunks, int chunksCap, int keep, int N, int* selected) {
    extern __shared__ unsigned long long keys[];
    const size_t head = (size_t) blockIdx.y * gridDim.x + blockIdx.x;
    const float* sc = scores + head * chunksCap;
    for (int i = threadIdx.x; i < N; i += blockDim.x) {
        if (i < chunks) {
            uint32_t b = __float_as_uint(i == 0 ? INFINITY : sc[i]);
            b = (b & 0x80000000u) ? ~b : (b | 0x80000000u);  // order-preserving
            keys[i] = ((unsigned long long) (~b) << 32) | (unsigned) i;
        } else {
            keys[i] = ~0ull;
        }
    }
    __syncthreads();
    bitonic_sort(keys, N);
    int K2 = 1;
    while (K2 < keep) K2 <<= 1;
    unsigned long long v[16];  // N <= 16 * 1024
    for (int r = 0; r < 16; r++) {
        int i = threadIdx.x + r * blockDim.x;
        v[r] = i < keep ? (keys[i] & 0xffffffffull) : ~0ull;
    }
    __syncthreads();
    for (int r = 0; r < 16; r++) {
        int i = threadIdx.x + r * blockDim.x;
        if (i < K2) keys[i] = v[r];
    }
    __syncthreads();
    bitonic_sort(keys, K2);
    for (int i = threadIdx.x; i < keep; i += blockDim.x) selected[head * keep + i] = (int) keys[i];
}

// Copies the selected chunks' keys and values to slots 0 .. keep*chunk of the retrieval cache.
// grid (keep, nKv, layers), 128 threads.
extern "C" __global__ void gather_chunks(const uint64_t* srcK, const uint64_t* srcV, int srcCap, const uint64_t* dstK,
                                         const uint64_t* dstV, int dstCap, const int* selected, int keep, int chunk,
                                         int hd) {
    const int i = blockIdx.x, kvh = blockIdx.y, layer = blockIdx.z;
    const int c = selected[((size_t) layer * gridDim.y + kvh) * keep + i];
    const size_t src = (((size_t) kvh * srcCap + (size_t) c * chunk) * hd) / 8;
    const size_t dst = (((size_t) kvh * dstCap + (size_t) i * chunk) * hd) / 8;
    for (int e = threadIdx.x; e < chunk * hd / 8; e += blockDim.x) {
        ((uint4*) dstK[layer])[dst + e] = ((const uint4*) srcK[layer])[src + e];
        ((uint4*) dstV[layer])[dst + e] = ((const uint4*) srcV[layer])[src + e];
    }
}

// Copies count slots from srcStart to dstStart, every layer and KV head. grid (count, nKv, layers).
extern "C" __global__ void copy_slots(const uint64_t* srcK, const uint64_t* srcV, int srcCap, int srcStart,
                                      const uint64_t* dstK, const uint64_t* dstV, int dstCap, int dstStart, int hd) {
    const int i = blockIdx.x, kvh = blockIdx.y, layer = blockIdx.z;
    const size_t src = (((size_t) kvh * srcCap + srcStart + i) * hd) / 8;
    const size_t dst = (((size_t) kvh * dstCap + dstStart + i) * hd) / 8;
    for (int e = threadIdx.x; e < hd / 8; e += blockDim.x) {
        ((uint4*) dstK[layer])[dst + e] = ((const uint4*) srcK[layer])[src + e];
        ((uint4*) dstV[layer])[dst + e] = ((const uint4*) srcV[layer])[src + e];
    }
}
#include "prefill.cuh"
#include "sampling.cuh"
#include "ring_step.cuh"
