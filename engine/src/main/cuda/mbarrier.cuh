// Shared-memory rings fed by bulk copies (sm_90): the mbarrier operations, the bulk copy that fills a
// ring buffer, the hand-off between the phases of a persistent kernel, and the clock that times them. Used by the persistent
// one-token step (ring_step.cuh) and by the GPU probes (scripts/gpu/ring.cuh).
#pragma once
#include <stdint.h>

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return (uint32_t) __cvta_generic_to_shared(p); }

__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}

// Until the phase of `bar` with this parity has completed (the phase before the current one, or
// the current one once it completes: a wait more than one phase ahead would return at once).
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

// After shared memory was written by ordinary stores (or cp.async), before bulk copies write it again.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }

// The hand-off between the phases of a persistent kernel, by one thread a block once the block's
// output of phase p is written (and the block synced): count this block in and wait for every
// block's count of phase p. `arrived` starts at 0 for each launch.
__device__ __forceinline__ void grid_hand_off(uint32_t* arrived, int p) {
    __threadfence();
    atomicAdd(arrived, 1u);
    const uint32_t target = (uint32_t) (p + 1) * gridDim.x;
    uint32_t seen;
    do {
        asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(seen) : "l"(arrived) : "memory");
    } while (seen < target);
}

// Nanoseconds, the same clock on every SM.
__device__ __forceinline__ uint64_t globaltimer() {
    uint64_t t;
    asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t));
    return t;
}
