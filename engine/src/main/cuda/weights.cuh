// Weights on the device: row-major bf16 -> the GEMV's tiles, seeded random fills for the
// benchmark, and the read-bandwidth probe. Included by triforce.cu.
#pragma once

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
