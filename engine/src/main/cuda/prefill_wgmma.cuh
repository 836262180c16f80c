// The prefill GEMM on Hopper's warpgroup mma (wgmma, sm_90a): gemm_wg_store / _resid / _swiglu,
// which CudaPrefill runs instead of gemm_* on GPUs of compute capability 9.0. Compiled only for
// sm_90a (__CUDA_ARCH_FEAT_SM90_ALL); the PTX for other GPUs holds kernels that trap.
//
// Same block (128 rows x 128 tokens), staging and epilogue as gemm_body, in two warpgroups: warp w
// (0..7) holds row tile w's A fragments in registers (the GEMV's tiles, as mma.sync takes them), and
// each warpgroup multiplies its 64 rows by all 128 tokens of a k16 step at once, B read by the
// tensor cores from the stage's core matrices. A wgmma m64nNk16 adds a k16 step into fp32 with the
// bits of mma.sync m16n8k16 (scripts/gpu/wgmma_bits.cu on an H100: 0 of 2.6M sums differ), and a
// chunk's four steps run in gemm_chunk's order (hi s0, hi s1, lo s0, lo s1) into the same
// accumulators; slices are summed and added in order as there. So: the step kernels' bits.
//
// Ring: WG_STAGES stages of one chunk, filled two at a time, four chunks ahead, one barrier a pair;
// a warpgroup leaves the wgmma of one chunk in flight while it issues the next (its A fragments in
// the other register buffer), so a pair's stages are free two pairs on. The slice sums stay in
// registers (64 a thread, beside the 64 accumulators): one block of 256 threads a SM.

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// d += A B for a warpgroup: A 64 x 16 (this warp's m16n8k16 A fragment), B 16 x 128 from shared memory.
__device__ __forceinline__ void wgmma_m64n128(float (&d)[64], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                              uint64_t b) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 0;\n}"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "l"(b));
}

// Shared-memory descriptor of a step's B operand at byte address addr: 8 x 8 core matrices, no
// swizzle; the next 8 columns (c) 128 bytes on (leading), the next 8 tokens 256 bytes on (stride).
__device__ __forceinline__ uint64_t core_matrices(uint32_t addr) {
    return (uint64_t) ((addr & 0x3FFFF) >> 4) | ((uint64_t) (128 >> 4) << 16) | ((uint64_t) (256 >> 4) << 32);
}

// The compiler must not read or move registers a wgmma still uses across this point.
template <int N>
__device__ __forceinline__ void fence_registers(float (&r)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(r[i])::"memory");
}
#endif

template <int OUT>
__device__ __forceinline__ void gemm_wg_body(const GemmArgs& a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    extern __shared__ uint4 gsm[];
    pdl_launch_next();
    pdl_wait();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;   // warp: the block's row tile it holds
    const int tile0 = blockIdx.y * 8;
    GemmStaging staging(a, tile0);
    // B of stage 0's hi, step 0; a stage is STAGE_UINT4 further on, step 1 256, lo 512 (16-byte units)
    const uint64_t b0 = core_matrices((uint32_t) __cvta_generic_to_shared(gsm + STAGE_W));
    float d[64], total[64];   // d[4i + e]: row 16 warp + g + 8 (e >> 1), token 8i + 2 tq + (e & 1)
#pragma unroll
    for (int i = 0; i < 64; i++) d[i] = total[i] = 0.f;
#pragma unroll
    for (int c = 0; c < WG_STAGES - 4; c++) staging.load(a, gsm + c * STAGE_UINT4);
    int inSlice = 0;   // chunks of the current GEMV slice summed so far
    uint32_t fragments[2][8];
    auto issue = [&](int c, uint32_t (&w)[8]) {   // chunk c's four k16 steps, in gemm_chunk's order
        const int stage = c & (WG_STAGES - 1);
        const uint4 w0 = gsm[stage * STAGE_UINT4 + warp * 64 + lane], w1 = gsm[stage * STAGE_UINT4 + warp * 64 + 32 + lane];
        w[0] = w0.x, w[1] = w1.x, w[2] = w0.y, w[3] = w1.y;   // k16 step 0 (gemm_chunk's operands)
        w[4] = w0.z, w[5] = w1.z, w[6] = w0.w, w[7] = w1.w;   // step 1
        const uint64_t b = b0 + stage * STAGE_UINT4;
        asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
        wgmma_m64n128(d, w[0], w[1], w[2], w[3], b);         // hi, step 0
        wgmma_m64n128(d, w[4], w[5], w[6], w[7], b + 256);   // hi, step 1
        wgmma_m64n128(d, w[0], w[1], w[2], w[3], b + 512);   // lo, step 0
        wgmma_m64n128(d, w[4], w[5], w[6], w[7], b + 768);   // lo, step 1
        asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
    };
    auto retire = [&](int c) {   // after chunk c's issue: chunk c - 1 done, or all of a slice added to total
        if (++inSlice == a.cps || c + 1 == a.kChunks) {   // a GEMV slice ends: total += it, in slice order
            asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
            fence_registers(d);
#pragma unroll
            for (int i = 0; i < 64; i++) {
                total[i] = __fadd_rn(total[i], d[i]);
                d[i] = 0.f;
            }
            inSlice = 0;
        } else {
            asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");
        }
    };
    for (int c = 0; c < a.kChunks; c += 2) {   // a pair of chunks between barriers
        asm volatile("cp.async.wait_group 2;" ::: "memory");   // chunks c, c + 1 have landed (c + 2, c + 3 may not)
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");   // the copies, visible to wgmma
        __syncthreads();   // for every thread; and chunks c - 4, c - 3 are done in both warpgroups
        issue(c, fragments[0]);
        staging.load(a, gsm + ((c + WG_STAGES - 4) & (WG_STAGES - 1)) * STAGE_UINT4);   // while the tensor cores work
        staging.load(a, gsm + ((c + WG_STAGES - 3) & (WG_STAGES - 1)) * STAGE_UINT4);
        retire(c);
        if (c + 1 < a.kChunks) {
            issue(c + 1, fragments[1]);
            retire(c + 1);
        }
    }
    asm volatile("cp.async.wait_group 0;" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");   // (the last chunk ended a slice: for ptxas)

    float* sq = (float*) gsm;   // GEMM_RESID: [128 tokens][128 rows] squares of the new x
    if (OUT == GEMM_RESID) __syncthreads();   // every warp is done with the ring
#pragma unroll
    for (int i = 0; i < 16; i++) gemm_fragment_out<OUT>(a, tile0, warp, 8 * i, total + 4 * i, sq, lane);
    if (OUT == GEMM_RESID) gemm_square_sums(a, sq);
#else
    __trap();
#endif
}

#define GEMM_WG_KERNEL(name, OUT) \
    extern "C" __global__ void __launch_bounds__(256, 1) name(const GemmArgs a) { gemm_wg_body<OUT>(a); }
GEMM_WG_KERNEL(gemm_wg_store, GEMM_STORE)
GEMM_WG_KERNEL(gemm_wg_resid, GEMM_RESID)
GEMM_WG_KERNEL(gemm_wg_swiglu, GEMM_SWIGLU)
