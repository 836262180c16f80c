// The prefill GEMM on Hopper's warpgroup mma (wgmma, sm_90a): gemm_wg_store / _resid / _swiglu,
// which CudaPrefill runs instead of gemm_* on GPUs of compute capability 9.0 (the attention's wgmma
// form is attention_body's WG, attention.cuh). In the compute_90 PTX that other GPUs JIT, the wgmma
// helpers trap (no __CUDA_ARCH_FEAT_SM90_ALL there).
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

template <int OUT>
__device__ __forceinline__ void gemm_wg_body(const GemmArgs& a) {
    extern __shared__ uint4 gsm[];
    pdl_launch_next();
    pdl_wait();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;   // warp: the block's row tile it holds
    const int tile0 = blockIdx.y * 8;
    GemmStaging staging(a, tile0);
    // B of stage 0's hi, step 0; a stage is STAGE_UINT4 further on, step 1 256, lo 512 (16-byte units)
    const uint64_t b0 = smem_descriptor((uint32_t) __cvta_generic_to_shared(gsm + STAGE_W), 128, 256, 0);
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
        wgmma_fence();
        wgmma<128, 0>(d, w[0], w[1], w[2], w[3], b);         // hi, step 0
        wgmma<128, 0>(d, w[4], w[5], w[6], w[7], b + 256);   // hi, step 1
        wgmma<128, 0>(d, w[0], w[1], w[2], w[3], b + 512);   // lo, step 0
        wgmma<128, 0>(d, w[4], w[5], w[6], w[7], b + 768);   // lo, step 1
        wgmma_commit();
    };
    auto retire = [&](int c) {   // after chunk c's issue: chunk c - 1 done, or all of a slice added to total
        if (++inSlice == a.cps || c + 1 == a.kChunks) {   // a GEMV slice ends: total += it, in slice order
            wgmma_wait<0>();
            fence_registers(d);
#pragma unroll
            for (int i = 0; i < 64; i++) {
                total[i] = __fadd_rn(total[i], d[i]);
                d[i] = 0.f;
            }
            inSlice = 0;
        } else {
            wgmma_wait<1>();
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
    wgmma_wait<0>();   // (the last chunk ended a slice: for ptxas)

    gemm_epilogue<OUT>(a, tile0, lane, [&](auto out) {
#pragma unroll
        for (int i = 0; i < 16; i++) out(warp, 8 * i, total + 4 * i);
    });
}

GEMM_KERNELS(gemm_wg_, gemm_wg_body, 1)
