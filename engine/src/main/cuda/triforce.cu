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
//
// Files, in the order this translation unit includes them:
//   common.cuh      step parameters, mma / wgmma / bf16 helpers, activation layouts, PDL, barriers
//   weights.cuh     weight tiling, random fills, the read-bandwidth probe
//   gemv.cuh        the step's GEMVs and their fused norms and epilogues
//   (here) embed    the step's first kernel
//   attention.cuh   split attention over the KV cache and the combine of the splits
//   (here) argmax   greedy picks on the device
//   retrieval.cuh   the retrieval cache: chunk scores, top-k, gather
//   streaming.cuh   the StreamingLLM cache: its view built from a ring, new keys banked in the ring
//   prefill.cuh     chunked prefill (tensor-core GEMMs, prefill_wgmma.cuh on Hopper)
//   sampling.cuh    sampling and the rejection test on the device
//   ring_step.cuh   the persistent one-token step (opt-in), on mbarrier.cuh
#include "common.cuh"
#include "weights.cuh"
#include "gemv.cuh"

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

#include "attention.cuh"

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

#include "retrieval.cuh"
#include "streaming.cuh"
#include "prefill.cuh"
#include "sampling.cuh"
#include "ring_step.cuh"

// Greedy decoding kept on the device (CudaGreedyRun): the step's pick becomes the next step's token
// and StepParams move on by one token, so the next step can run before the host has read this one;
// the pick goes to host-mapped memory at picks[seq % 64]. Over a StreamingLLM view (s not null) the
// next token's index in its view is its RoPE position and slot (streaming.cuh); over a full cache,
// both move on by one. One thread, after the argmax.
extern "C" __global__ void greedy_feed(StepParams* p, const int* argmax, int* picks, const StreamingPositions* s) {
    pdl_wait();
    int t = argmax[0];
    picks[p->seq & 63] = t;
    __threadfence_system();
    p->tokens[0] = t;
    p->seq += 1;
    if (s) {
        p->pos = p->slot = s->attended(p->seq) - 1;
    } else {
        p->pos += 1;
        p->slot += 1;
    }
}
