// Does a warpgroup mma (wgmma, sm_90a) add bf16 products into fp32 accumulators with the same bits
// as mma.sync m16n8k16? The prefill GEMM must give the step GEMVs' bits (prefill.cuh), which sum
// with mma.sync; a wgmma GEMM could replace it only if the answer is yes.
//
// One warpgroup per block: warp w holds rows 16w .. 16w + 15 of a 64 x 16 A operand in registers
// (the m16n8k16 A fragment), B (16 x 8) is in shared memory as two 8 x 8 core matrices (no
// swizzle, K-major). Each block runs S steps of D += A_s B_s from the same fp32 start, once with
// mma.sync and once with wgmma, and writes both results; the host compares their bits and both
// against an fp64 reference (a layout mistake shows as a large error, a rounding difference as a
// few ulps).
//
// nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o .device/wgmma_bits scripts/gpu/wgmma_bits.cu
// .device/wgmma_bits [blocks] [steps]   (exit status 0: same bits everywhere; 3: some differ)
#include <cuda_bf16.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <vector>

__device__ __forceinline__ uint32_t pack2(uint16_t lo, uint16_t hi) { return (uint32_t) lo | ((uint32_t) hi << 16); }

__device__ __forceinline__ void mma_bf16(float* d, const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// D += A B, waited for in the same asm statement, so the compiler never touches d in between.
__device__ __forceinline__ void wgmma_bf16(float* d, const uint32_t (&a)[4], uint64_t bDesc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
                 "wgmma.fence.sync.aligned;\n"
                 "wgmma.mma_async.sync.aligned.m64n8k16.f32.bf16.bf16 {%0,%1,%2,%3}, {%4,%5,%6,%7}, %8, p, 1, 1, 0;\n"
                 "wgmma.commit_group.sync.aligned;\n"
                 "wgmma.wait_group.sync.aligned 0;\n}"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(bDesc)
                 : "memory");
}

// A: [blocks][S][64][16] bf16, B: [blocks][S][16][8] bf16 (k, n), C: [blocks][64][8] fp32.
__global__ void __launch_bounds__(128) probe(const uint16_t* A, const uint16_t* B, const float* C, float* outMma,
                                             float* outWg, int S) {
    __shared__ __align__(128) uint16_t bs[128];   // core matrix c (k 8c .. 8c + 7): 8 rows n of 8 k
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, tq = lane & 3;
    const int r0 = 16 * warp + g, r1 = r0 + 8;
    const float* c = C + (size_t) blockIdx.x * 64 * 8;
    float dm[4] = {c[r0 * 8 + 2 * tq], c[r0 * 8 + 2 * tq + 1], c[r1 * 8 + 2 * tq], c[r1 * 8 + 2 * tq + 1]};
    float dw[4] = {dm[0], dm[1], dm[2], dm[3]};
    const uint32_t bAddr = (uint32_t) __cvta_generic_to_shared(bs);
    const uint64_t bDesc = (uint64_t) ((bAddr & 0x3FFFF) >> 4) | ((uint64_t) (128 >> 4) << 16) |
                           ((uint64_t) (256 >> 4) << 32);   // LBO: next core matrix in K; SBO: in N (one here)
    for (int s = 0; s < S; s++) {
        const uint16_t* a = A + ((size_t) blockIdx.x * S + s) * 64 * 16;
        const uint16_t* b = B + ((size_t) blockIdx.x * S + s) * 16 * 8;
        uint32_t af[4] = {pack2(a[r0 * 16 + 2 * tq], a[r0 * 16 + 2 * tq + 1]),
                          pack2(a[r1 * 16 + 2 * tq], a[r1 * 16 + 2 * tq + 1]),
                          pack2(a[r0 * 16 + 2 * tq + 8], a[r0 * 16 + 2 * tq + 9]),
                          pack2(a[r1 * 16 + 2 * tq + 8], a[r1 * 16 + 2 * tq + 9])};
        const uint32_t b0 = pack2(b[(2 * tq) * 8 + g], b[(2 * tq + 1) * 8 + g]);
        const uint32_t b1 = pack2(b[(2 * tq + 8) * 8 + g], b[(2 * tq + 9) * 8 + g]);
        mma_bf16(dm, af, b0, b1);

        {   // element (k, n) of B into core matrix k / 8, row n, column k % 8
            const int k = tid >> 3, n = tid & 7;
            bs[(k >> 3) * 64 + n * 8 + (k & 7)] = b[k * 8 + n];
        }
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");   // the writes, visible to wgmma
        __syncthreads();
        wgmma_bf16(dw, af, bDesc);
        __syncthreads();   // bs is rewritten next step
    }
    float* om = outMma + (size_t) blockIdx.x * 64 * 8;
    float* ow = outWg + (size_t) blockIdx.x * 64 * 8;
    const int idx[4] = {r0 * 8 + 2 * tq, r0 * 8 + 2 * tq + 1, r1 * 8 + 2 * tq, r1 * 8 + 2 * tq + 1};
    for (int e = 0; e < 4; e++) {
        om[idx[e]] = dm[e];
        ow[idx[e]] = dw[e];
    }
}

static uint16_t to_bf16(float v) {   // round to nearest even
    uint32_t u;
    memcpy(&u, &v, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t) (u >> 16);
}

static float from_bf16(uint16_t h) {
    uint32_t u = (uint32_t) h << 16;
    float v;
    memcpy(&v, &u, 4);
    return v;
}

#define CHECK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { \
    fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e)); return 1; } } while (0)

int main(int argc, char** argv) {
    const int blocks = argc > 1 ? atoi(argv[1]) : 4096, S = argc > 2 ? atoi(argv[2]) : 4;
    srand(7);
    auto uni = [] { return (float) rand() / RAND_MAX * 2.f - 1.f; };
    // Values over a range of magnitudes, as a GEMM's hi and lo activation parts have.
    auto val = [&] { return uni() * ldexpf(1.f, rand() % 24 - 12); };
    std::vector<uint16_t> A((size_t) blocks * S * 64 * 16), B((size_t) blocks * S * 16 * 8);
    std::vector<float> C((size_t) blocks * 64 * 8);
    for (auto& v : A) v = to_bf16(val());
    for (auto& v : B) v = to_bf16(val());
    for (auto& v : C) v = val();
    uint16_t *dA, *dB;
    float *dC, *dM, *dW;
    CHECK(cudaMalloc(&dA, A.size() * 2));
    CHECK(cudaMalloc(&dB, B.size() * 2));
    CHECK(cudaMalloc(&dC, C.size() * 4));
    CHECK(cudaMalloc(&dM, C.size() * 4));
    CHECK(cudaMalloc(&dW, C.size() * 4));
    CHECK(cudaMemcpy(dA, A.data(), A.size() * 2, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(dB, B.data(), B.size() * 2, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(dC, C.data(), C.size() * 4, cudaMemcpyHostToDevice));
    probe<<<blocks, 128>>>(dA, dB, dC, dM, dW, S);
    CHECK(cudaGetLastError());
    CHECK(cudaDeviceSynchronize());
    std::vector<float> M(C.size()), W(C.size());
    CHECK(cudaMemcpy(M.data(), dM, M.size() * 4, cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(W.data(), dW, W.size() * 4, cudaMemcpyDeviceToHost));
    size_t differ = 0;
    double maxErrMma = 0, maxErrWg = 0, maxDiff = 0;
    for (int blk = 0; blk < blocks; blk++) {
        for (int r = 0; r < 64; r++) {
            for (int n = 0; n < 8; n++) {
                const size_t i = ((size_t) blk * 64 + r) * 8 + n;
                double ref = C[i], mag = fabs(C[i]);
                for (int s = 0; s < S; s++) {
                    for (int k = 0; k < 16; k++) {
                        double p = (double) from_bf16(A[(((size_t) blk * S + s) * 64 + r) * 16 + k]) *
                                   from_bf16(B[(((size_t) blk * S + s) * 16 + k) * 8 + n]);
                        ref += p;
                        mag += fabs(p);
                    }
                }
                uint32_t um, uw;
                memcpy(&um, &M[i], 4);
                memcpy(&uw, &W[i], 4);
                if (um != uw) differ++;
                maxErrMma = fmax(maxErrMma, fabs(M[i] - ref) / mag);
                maxErrWg = fmax(maxErrWg, fabs(W[i] - ref) / mag);
                maxDiff = fmax(maxDiff, fabs((double) M[i] - W[i]) / mag);
            }
        }
    }
    printf("blocks %d, steps %d: %zu of %zu results differ in their bits between mma.sync and wgmma "
           "(largest difference %.3g of the sum of |terms|)\n", blocks, S, differ, M.size(), maxDiff);
    printf("largest error against fp64, relative to the sum of |terms|: mma.sync %.3g, wgmma %.3g\n", maxErrMma,
           maxErrWg);
    return differ == 0 ? 0 : 3;
}
