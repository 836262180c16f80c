// The retrieval cache of TriForce's level 2 on the device: chunk scores, top-k, gather.
// Included by triforce.cu.
#pragma once

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
