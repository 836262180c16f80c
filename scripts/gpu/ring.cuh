// What the GPU probes with a shared-memory ring share (phase_probe.cu, ring_step_probe.cu): error
// checks and the windowed issue; the mbarrier operations, the bulk copy, ring set-up, the grid
// hand-off and the clock are the engine's (mbarrier.cuh).
#pragma once
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>
#include <stdint.h>

#include "../../engine/src/main/cuda/mbarrier.cuh"

#define CHECK(x)                                                                               \
    do {                                                                                       \
        cudaError_t e = (x);                                                                   \
        if (e != cudaSuccess) {                                                                \
            fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e)); \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

// Issue copy i of a ring of `stages` buffers once buffer i % stages is free (its previous round
// read: `empty`) and, with a window W > 0, once copy i - W has landed, so that at most W copies are
// in flight and the rest of the ring stays free for the moments the consumers stop reading.
__device__ __forceinline__ void ring_wait_to_issue(uint64_t* full, uint64_t* empty, uint32_t stages, uint32_t i,
                                                   uint32_t window) {
    mbar_wait(&empty[i % stages], ((i / stages) & 1) ^ 1);
    if (window > 0 && i >= window) mbar_wait(&full[(i - window) % stages], ((i - window) / stages) & 1);
}
