// What every kernel file shares: the step parameters, the tensor-core (mma.sync, wgmma) and bf16
// helpers, the activation layouts, programmatic dependent launch and partial barriers. Included
// first by triforce.cu.
#pragma once

#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <stdint.h>

#define MAX_TOKENS 64

struct StepParams {
    int pos;    // RoPE position of token 0
    int slot;   // cache slot of token 0 (keys already in the cache before this block)
    int n;      // tokens in the block
    int seq;    // position of token 0 in the sequence: pos, but in a StreamingLLM view (streaming.cuh)
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
