// What the GPU probes with a shared-memory ring share (phase_probe.cu, ring_step_probe.cu): error
// checks, the mbarrier operations, the bulk copy that fills a ring buffer, and the clock.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>
#include <stdint.h>

#define CHECK(x)                                                                               \
    do {                                                                                       \
        cudaError_t e = (x);                                                                   \
        if (e != cudaSuccess) {                                                                \
            fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e)); \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return (uint32_t) __cvta_generic_to_shared(p); }

__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}

// Until the phase of `bar` with this parity has completed.
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
    asm volatile(
        "{\n .reg .pred done;\n wait:\n"
        " mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        " @!done bra wait;\n}" ::"r"(smem_addr(bar)), "r"(parity) : "memory");
}

// Whether it has, without waiting.
__device__ __forceinline__ bool mbar_test(uint64_t* bar, uint32_t parity) {
    uint32_t done;
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.test_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}"
        : "=r"(done) : "r"(smem_addr(bar)), "r"(parity) : "memory");
    return done;
}

__device__ __forceinline__ void mbar_arrive(uint64_t* bar, uint32_t count = 1) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}

// The producer: expect `bytes` on `full`, then copy them from global `src` to shared `dst`.
__device__ __forceinline__ void bulk_load(void* dst, const void* src, uint32_t bytes, uint64_t* full) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(full)), "r"(bytes) : "memory");
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];"
                 ::"r"(smem_addr(dst)), "l"(src), "r"(bytes), "r"(smem_addr(full)) : "memory");
}

// Issue copy i of a ring of `stages` buffers once buffer i % stages is free (its previous round
// read: `empty`) and, with a window W > 0, once copy i - W has landed, so that at most W copies are
// in flight and the rest of the ring stays free for the moments the consumers stop reading.
__device__ __forceinline__ void ring_wait_to_issue(uint64_t* full, uint64_t* empty, uint32_t stages, uint32_t i,
                                                   uint32_t window) {
    mbar_wait(&empty[i % stages], ((i / stages) & 1) ^ 1);
    if (window > 0 && i >= window) mbar_wait(&full[(i - window) % stages], ((i - window) / stages) & 1);
}

// Thread 0 makes a ring's barriers -- buffer s is full once its copy has landed (one arrival, the
// producer's, with the bytes expected), empty once its `readers` arrivals are in -- then the block
// syncs.
__device__ __forceinline__ void ring_init(uint64_t* full, uint64_t* empty, int stages, uint32_t readers) {
    if (threadIdx.x == 0) {
        for (int s = 0; s < stages; s++) {
            mbar_init(&full[s], 1);
            mbar_init(&empty[s], readers);
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();
}

// The hand-off between the phases of a persistent kernel, by one thread a block once the block's
// output of phase p is written: count this block in and wait for every block's count of phase p.
__device__ __forceinline__ void grid_hand_off(uint32_t* arrived, int p) {
    __threadfence();
    atomicAdd(arrived, 1u);
    const uint32_t target = (uint32_t) (p + 1) * gridDim.x;
    uint32_t seen;
    do {
        asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(seen) : "l"(arrived) : "memory");
    } while (seen < target);
}

__device__ __forceinline__ uint64_t globaltimer() {
    uint64_t t;
    asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t));
    return t;
}
