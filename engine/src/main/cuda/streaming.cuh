// StreamingLLM's cache on the GPU (CudaStreamingKvCache; the positions are StreamingWindow's): a
// ring store keeps each kept position's key as the step that wrote it left it, rotated by RoPE
// to the index that token had in its own view, and a view cache holds what the step's queries
// see, keys rotated to their index in that view. A step's graph builds the view first and banks
// its tokens in the ring last; the step kernels between run on the view as on a full cache, RoPE
// position and slot the index in the view (StepParams: pos = slot; seq, the position). Rotating
// a key from index w to index j is RoPE by j - w: the rotations compose (the same frequency per
// pair), and the attention scaling that RoPE's table carries was applied once, when the key was
// written.

// Where query p's view puts its entries (StreamingWindow): [0, min(sinks, p + 1)) then
// [windowFirst(p), p]; a position's index in the view of the token that wrote it is
// attended(pos) - 1.
struct StreamingPositions {
    int sinks, window, ring, windowStart;

    __device__ __forceinline__ int windowFirst(int p) const { return max(max(sinks, p + 1 - window), windowStart); }
    __device__ __forceinline__ int sinksSeen(int p) const { return min(sinks, p + 1); }
    __device__ __forceinline__ int attended(int p) const { return sinksSeen(p) + max(0, p + 1 - windowFirst(p)); }
    __device__ __forceinline__ int slot(int pos) const { return pos < sinks ? pos : sinks + (pos - sinks) % ring; }
};

// Before a step: the view of its first token p = p->seq without p itself (p->slot entries), entry j
// its position's key from the ring, rotated from the index it was written at to j, and its value.
// grid (most entries a view has, nKv, layers), hd / 2 threads (a RoPE pair each: dims d and d + hd / 2).
extern "C" __global__ void streaming_view(const uint64_t* ringK, const uint64_t* ringV, int ringCap,
                                          const uint64_t* viewK, const uint64_t* viewV, int viewCap,
                                          const StreamingPositions* s, const StepParams* p, const float* invFreq,
                                          int hd) {
    pdl_wait();
    const int j = blockIdx.x, kvh = blockIdx.y, layer = blockIdx.z, d = threadIdx.x, half = hd / 2;
    if (j >= p->slot) return;
    const int seen = s->sinksSeen(p->seq);
    const int pos = j < seen ? j : s->windowFirst(p->seq) + j - seen;
    const int delta = j - (s->attended(pos) - 1);
    const size_t from = ((size_t) kvh * ringCap + s->slot(pos)) * hd, to = ((size_t) kvh * viewCap + j) * hd;
    const uint16_t* k = (const uint16_t*) ringK[layer] + from;
    const uint16_t* v = (const uint16_t*) ringV[layer] + from;
    uint16_t* kOut = (uint16_t*) viewK[layer] + to;
    uint16_t* vOut = (uint16_t*) viewV[layer] + to;
    const float angle = invFreq[d] * (float) delta;
    const float c = (float) cos((double) angle), sn = (float) sin((double) angle);
    const float x1 = bf2f(k[d]), x2 = bf2f(k[d + half]);
    kOut[d] = f2bf(__fsub_rn(__fmul_rn(x1, c), __fmul_rn(x2, sn)));
    kOut[d + half] = f2bf(__fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, sn)));
    vOut[d] = v[d];
    vOut[d + half] = v[d + half];
}

// After the step: its tokens' keys and values (positions p->seq + t, view slots p->slot + t) move to
// their ring slots. grid (p->n, nKv, layers), hd / 8 threads (16 bytes each).
extern "C" __global__ void streaming_bank(const uint64_t* viewK, const uint64_t* viewV, int viewCap,
                                          const uint64_t* ringK, const uint64_t* ringV, int ringCap,
                                          const StreamingPositions* s, const StepParams* p, int hd) {
    pdl_wait();
    const int t = blockIdx.x, kvh = blockIdx.y, layer = blockIdx.z;
    const size_t from = (((size_t) kvh * viewCap + p->slot + t) * hd) / 8 + threadIdx.x;
    const size_t to = (((size_t) kvh * ringCap + s->slot(p->seq + t)) * hd) / 8 + threadIdx.x;
    ((uint4*) ringK[layer])[to] = ((const uint4*) viewK[layer])[from];
    ((uint4*) ringV[layer])[to] = ((const uint4*) viewV[layer])[from];
}
