// ---------------------------------------------------------------------------------------------
// Sampling and the rejection test on the device, so that a sampled step sends the host token ids
// (and, for a level that proposes upward, the rows of p it keeps), not rows of logits.
// Sampler.java and RejectionSampler.java are the oracle; the rules are theirs:
//   - distribution: weights exp((logit - max) / T); keys ordered by (logit desc, id asc); top-k
//     keeps the k largest keys, top-p the smallest prefix of those whose weight reaches topP of
//     their total; the kept weights are renormalised;
//   - rejection: accept x_i when u_i * q_i(x_i) < p_i(x_i); at the first rejection draw the
//     recovered token from max(0, p_i - q_i) (from p_i when that has no mass); when all are
//     accepted draw the bonus token from p_k; draws by inverse CDF in id order.
// The host draws the uniforms from the request's stream. Every sum is reduced in a fixed order
// (fixed-point for the mass that decides the top-p cut), so results do not depend on timing.

#define SAMPLE_THREADS 1024

struct SampleArgs {
    double topP;            // in (0, 1]; 1: no top-p cut
    float inverseT;         // 1 / temperature
    int topK;               // 0: no top-k cut
    int k;                  // proposed tokens (rows of q); p has k + 1 rows
    int vocab;
    int tokens[64];         // the proposal
    double uniforms[65];    // [i < k]: acceptance test of row i; [k]: the recovered or bonus draw
};

// A float's bits as an unsigned int ordered like the float (-inf lowest; no NaN expected).
__device__ __forceinline__ unsigned ordered_bits(float v) {
    unsigned b = __float_as_uint(v);
    return b ^ ((b >> 31) ? 0xffffffffu : 0x80000000u);
}

// Block-wide reduction by op; every thread gets the result. Exact whatever the order for what
// it reduces here: integer sums and a float maximum.
template <typename T, typename Op>
__device__ T block_reduce(T v, T identity, T* scratch, Op op) {
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < (int) (blockDim.x >> 5) ? scratch[lane] : identity;
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ unsigned long long block_sum(unsigned long long v, unsigned long long* scratch) {
    return block_reduce(v, 0ull, scratch, [](unsigned long long a, unsigned long long b) { return a + b; });
}

// Weight in 2^-40 units (w <= 1: a row sums to < 2^57, exactly and in any order).
__device__ __forceinline__ unsigned long long fixed_weight(float w) {
    return (unsigned long long) (w * 1099511627776.0f);
}

// A token's place in the Sampler's order as one number: larger logit first, then lower id.
__device__ __forceinline__ unsigned long long sort_key(float logit, int id) {
    return ((unsigned long long) ordered_bits(logit) << 32) | (unsigned) ~id;
}

// Calls f(i, logit) for every token of a row: 4 consecutive tokens a thread at a time with
// 16-byte loads when rows are 16-byte aligned (vocab % 4 == 0), two loads in flight.
template <typename F>
__device__ __forceinline__ void each_logit(const float* row, int vocab, F f) {
    if ((vocab & 3) == 0) {
        const float4* quads = (const float4*) row;
#pragma unroll 2
        for (int q = threadIdx.x; q < vocab / 4; q += blockDim.x) {
            const float4 v = quads[q];
            f(4 * q, v.x);
            f(4 * q + 1, v.y);
            f(4 * q + 2, v.z);
            f(4 * q + 3, v.w);
        }
    } else {
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) f(i, row[i]);
    }
}

#define SAMPLE_BINS 2048         // histogram bins: -log2(weight) in 1/64 steps (the last holds the rest), then
                                 // 1/2048 of such a bin
#define SAMPLE_CANDIDATES 8192   // keys of one bin that fit in shared memory to be sorted

// -log2(weight) * 64 for a logit: non-decreasing as the logit falls, so bins hold runs of keys.
__device__ __forceinline__ float weight_scale(float logit, float maxLogit, float inverseT) {
    return (maxLogit - logit) * inverseT * (64 * 1.44269504f);
}

__device__ __forceinline__ int weight_bin(float scaled) {
    return scaled < SAMPLE_BINS - 1 ? (int) scaled : SAMPLE_BINS - 1;
}

// The finer bin within weight bin b.
__device__ __forceinline__ int sub_bin(float scaled, int b) {
    float f = (scaled - b) * SAMPLE_BINS;
    return f < SAMPLE_BINS - 1 ? (int) f : SAMPLE_BINS - 1;
}

// The kept keys: those >= key; their count and fixed-point mass.
struct Cut {
    unsigned long long key, count, mass;
};

// How many of the row's tokens lie at or above key, and their fixed-point mass (w: their weights).
__device__ void tally(const float* row, const float* w, int vocab, unsigned long long key, unsigned long long* count,
                      unsigned long long* mass, unsigned long long* scratch) {
    unsigned long long c = 0, m = 0;
    each_logit(row, vocab, [&](int i, float l) {
        if (sort_key(l, i) >= key) { c++; m += fixed_weight(w[i]); }
    });
    *count = block_sum(c, scratch);
    *mass = block_sum(m, scratch);
}

// The slow way to the cut, for a bin too full to sort even after refining: bisection over the
// keys, a pass over the row each.
__device__ Cut bisect_cut(const float* row, const float* w, int vocab, unsigned long long target, bool mass,
                          unsigned long long* scratch) {
    unsigned long long lo = 0, hi = ~0ull;   // tally(lo) >= target > tally(hi), or hi is the largest key
    unsigned long long c, m;
    tally(row, w, vocab, hi, &c, &m, scratch);
    if ((mass ? m : c) >= target) return Cut{hi, c, m};
    while (hi - lo > 1) {
        unsigned long long mid = lo + (hi - lo) / 2;
        tally(row, w, vocab, mid, &c, &m, scratch);
        if ((mass ? m : c) >= target) lo = mid; else hi = mid;
    }
    tally(row, w, vocab, lo, &c, &m, scratch);
    return Cut{lo, c, m};
}

// Per bin of keys: how many, and their fixed-point mass as 32-bit halves, so that every update
// is a native 32-bit shared-memory atomic (the high half takes the carries); exact in any order.
struct Histogram {
    unsigned* count;
    unsigned* lo;
    unsigned* hi;

    __device__ void clear() const {
        for (int i = threadIdx.x; i < SAMPLE_BINS; i += blockDim.x) { count[i] = 0; lo[i] = 0; hi[i] = 0; }
    }

    __device__ void add(int b, unsigned long long m) const {
        atomicAdd(&count[b], 1u);
        const unsigned l = (unsigned) m;
        unsigned h = (unsigned) (m >> 32);
        if (atomicAdd(&lo[b], l) + l < l) h++;
        if (h) atomicAdd(&hi[b], h);
    }

    __device__ unsigned long long mass(int b) const { return ((unsigned long long) hi[b] << 32) | lo[b]; }
};

// A bin of a histogram and what lies above it (the keys of earlier bins, plus what lies above
// the histogram itself).
struct Place {
    int bin;
    unsigned long long count, mass;
};

// The bin where the running total (count, or mass), starting from above, reaches target.
__device__ __forceinline__ Place find_bin(const Histogram h, unsigned long long target, bool mass, Place above,
                          unsigned long long* scratch) {
    __shared__ int bin;
    const int t = threadIdx.x, warp = t >> 5, lane = t & 31;
    const unsigned long long v0 = mass ? h.mass(2 * t) : h.count[2 * t];   // two bins a thread;
    const unsigned long long v1 = mass ? h.mass(2 * t + 1) : h.count[2 * t + 1];   // scanned over the block
    const unsigned long long s = v0 + v1;
    unsigned long long inclusive = s;
    for (int o = 1; o < 32; o <<= 1) {
        unsigned long long up = __shfl_up_sync(0xffffffffu, inclusive, o);
        if (lane >= o) inclusive += up;
    }
    __syncthreads();
    if (lane == 31) scratch[warp] = inclusive;
    __syncthreads();
    unsigned long long prefix = (mass ? above.mass : above.count) + inclusive - s;
    for (int i = 0; i < warp; i++) prefix += scratch[i];
    if (prefix < target && prefix + v0 >= target) bin = 2 * t;
    if (prefix + v0 < target && prefix + v0 + v1 >= target) bin = 2 * t + 1;
    __syncthreads();
    const int b = bin;
    unsigned long long c = 0, m = 0;
    for (int i = t; i < b; i += blockDim.x) { c += h.count[i]; m += h.mass(i); }
    return Place{b, above.count + block_sum(c, scratch), above.mass + block_sum(m, scratch)};
}

// The cut among the n keys inBin selects, with what lies above them: the keys sorted in shared
// memory (bitonic, largest first), then walked by one warp until the running total reaches target.
template <typename InBin>
__device__ __forceinline__ Cut sorted_cut(const float* row, const float* w, int vocab, InBin inBin, int n, Place above,
                          unsigned long long target, bool mass, unsigned long long* candidates) {
    __shared__ int found;
    __shared__ Cut cut;
    const int t = threadIdx.x, warp = t >> 5, lane = t & 31;
    int size = 1;
    while (size < n) size <<= 1;
    __syncthreads();
    for (int i = t; i < size; i += blockDim.x) candidates[i] = 0;   // padding sorts last
    if (t == 0) found = 0;
    __syncthreads();
    each_logit(row, vocab, [&](int i, float l) {
        if (inBin(l)) candidates[atomicAdd(&found, 1)] = sort_key(l, i);
    });
    __syncthreads();
    for (int k = 2; k <= size; k <<= 1) {
        for (int j = k >> 1; j > 0; j >>= 1) {
            for (int i = t; i < size; i += blockDim.x) {
                int partner = i ^ j;
                if (partner > i) {
                    unsigned long long x = candidates[i], y = candidates[partner];
                    if ((i & k) == 0 ? x < y : x > y) { candidates[i] = y; candidates[partner] = x; }
                }
            }
            __syncthreads();
        }
    }
    if (warp == 0) {
        unsigned long long runCount = above.count, runMass = above.mass;
        for (int base = 0; base < n; base += 32) {
            const int i = base + lane;
            unsigned long long cc = i < n ? 1 : 0, mm = i < n ? fixed_weight(w[~(unsigned) candidates[i]]) : 0;
            for (int o = 1; o < 32; o <<= 1) {
                unsigned long long uc = __shfl_up_sync(0xffffffffu, cc, o), um = __shfl_up_sync(0xffffffffu, mm, o);
                if (lane >= o) { cc += uc; mm += um; }
            }
            unsigned reached = __ballot_sync(0xffffffffu, i < n && (mass ? runMass + mm : runCount + cc) >= target);
            if (reached) {
                if (lane == __ffs(reached) - 1) cut = Cut{candidates[i], runCount + cc, runMass + mm};
                break;
            }
            runCount += __shfl_sync(0xffffffffu, cc, 31);
            runMass += __shfl_sync(0xffffffffu, mm, 31);
        }
    }
    __syncthreads();
    return cut;
}

// The smallest prefix of the keys, largest first, whose count (or fixed-point mass) reaches
// target: the weight bin where the histogram's running total reaches it; when that bin holds too
// many keys to sort, the finer bin within it (a histogram in the candidates' memory); then the
// bin's keys sorted. Bisection when even the finer bin is too full (thousands of equal logits).
__device__ __forceinline__ Cut select_cut(const float* row, const float* w, int vocab, float maxLogit, float inverseT,
                          const Histogram bins, unsigned long long* candidates, unsigned long long target,
                          bool mass, unsigned long long* scratch) {
    const Place p = find_bin(bins, target, mass, Place{0, 0, 0}, scratch);
    const int b = p.bin;
    if (bins.count[b] <= SAMPLE_CANDIDATES) {
        return sorted_cut(row, w, vocab, [&](float l) { return weight_bin(weight_scale(l, maxLogit, inverseT)) == b; },
                          (int) bins.count[b], p, target, mass, candidates);
    }
    unsigned* subMemory = (unsigned*) candidates;
    const Histogram sub{subMemory, subMemory + SAMPLE_BINS, subMemory + 2 * SAMPLE_BINS};
    sub.clear();
    __syncthreads();
    each_logit(row, vocab, [&](int i, float l) {
        float scaled = weight_scale(l, maxLogit, inverseT);
        if (weight_bin(scaled) == b) {
            sub.add(sub_bin(scaled, b), fixed_weight(w[i]));
        }
    });
    __syncthreads();
    const Place q = find_bin(sub, target, mass, p, scratch);
    const unsigned long long n = sub.count[q.bin];
    if (n > SAMPLE_CANDIDATES) return bisect_cut(row, w, vocab, target, mass, scratch);
    return sorted_cut(row, w, vocab, [&](float l) {
        float scaled = weight_scale(l, maxLogit, inverseT);
        return weight_bin(scaled) == b && sub_bin(scaled, b) == q.bin;
    }, (int) n, q, target, mass, candidates);
}

// probs[r] = the distribution of logits row r (Sampler.distribution). grid (rows), 1024 threads,
// SAMPLE_CANDIDATES * 8 + SAMPLE_BINS * 12 bytes of dynamic shared memory: candidates, histogram.
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS, 1) sample_probs(const float* logits, float* probs,
                                                                           const SampleArgs a) {
    extern __shared__ unsigned long long sampleShared[];
    unsigned long long* candidates = sampleShared;
    unsigned* binMemory = (unsigned*) (candidates + SAMPLE_CANDIDATES);
    const Histogram bins{binMemory, binMemory + SAMPLE_BINS, binMemory + 2 * SAMPLE_BINS};
    __shared__ unsigned long long scratch[32];
    __shared__ float fscratch[32];
    pdl_wait();
    const int vocab = a.vocab;
    const float* row = logits + (size_t) blockIdx.x * vocab;
    float* w = probs + (size_t) blockIdx.x * vocab;          // the weights first, then the probabilities
    float mx = -INFINITY;
    each_logit(row, vocab, [&](int, float l) { mx = fmaxf(mx, l); });
    const float maxLogit = block_reduce(mx, -INFINITY, fscratch, [](float x, float y) { return fmaxf(x, y); });
    bins.clear();
    __syncthreads();
    each_logit(row, vocab, [&](int i, float l) {
        float wi = expf((l - maxLogit) * a.inverseT);
        w[i] = wi;
        bins.add(weight_bin(weight_scale(l, maxLogit, a.inverseT)), fixed_weight(wi));
    });
    __syncthreads();
    Cut cut{0, (unsigned long long) vocab, 0};
    unsigned long long m = 0;
    for (int i = threadIdx.x; i < SAMPLE_BINS; i += blockDim.x) m += bins.mass(i);
    cut.mass = block_sum(m, scratch);
    if (a.topK > 0 && a.topK < vocab) {
        cut = select_cut(row, w, vocab, maxLogit, a.inverseT, bins, candidates, a.topK, false, scratch);
    }
    if (a.topP < 1) {
        unsigned long long target = (unsigned long long) ceil(a.topP * (double) cut.mass);
        target = max(1ull, min(target, cut.mass));
        cut = select_cut(row, w, vocab, maxLogit, a.inverseT, bins, candidates, target, true, scratch);
    }
    const double scale = 1099511627776.0 / (double) cut.mass;
    each_logit(row, vocab, [&](int i, float l) { w[i] = sort_key(l, i) >= cut.key ? (float) (w[i] * scale) : 0.f; });
}

// The sum of weight(j) over ids [lo, hi) for one warp (coalesced), every lane getting lane 0's
// sum, and the last id there with weight.
template <typename Weight>
__device__ double warp_sum(int lo, int hi, Weight weight, int* last) {
    double s = 0;
    int l = -1;
#pragma unroll 4
    for (int j = lo + (threadIdx.x & 31); j < hi; j += 32) {
        float wj = weight(j);
        if (wj > 0) { s += wj; l = j; }
    }
    for (int o = 16; o > 0; o >>= 1) {
        s += __shfl_xor_sync(0xffffffffu, s, o);
        l = max(l, __shfl_xor_sync(0xffffffffu, l, o));
    }
    *last = l;
    return __shfl_sync(0xffffffffu, s, 0);
}

// Which of n pieces of consecutive ids, their sums added in order, holds target; how far into it.
__device__ int locate(const double* sums, int n, double target, double* into) {
    double prefix = 0;
    for (int i = 0; i < n; i++) {
        double next = prefix + sums[i];
        if (target >= prefix && target < next) { *into = target - prefix; return i; }
        prefix = next;
    }
    return -1;
}

// Inverse-CDF draw over weight(j) >= 0, j in id order, with uniform u; -1 when the weights have
// no mass. Every warp sums a run of consecutive ids; every warp then sums a 32nd of the run that
// holds u * total; one warp walks that piece 32 ids at a time. Rounding can leave the target in
// no piece (sums added in another order): then the last id with weight before it is taken, as
// Sampler.sample does at the end.
template <typename Weight>
__device__ int draw(int vocab, double u, Weight weight) {
    __shared__ double sums[32];
    __shared__ int lasts[32];
    __shared__ int drawn;
    const int warps = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int run = ((vocab + warps - 1) / warps + 31) / 32 * 32;
    int last;
    double s = warp_sum(min(vocab, warp * run), min(vocab, (warp + 1) * run), weight, &last);
    if (lane == 0) { sums[warp] = s; lasts[warp] = last; }
    __syncthreads();
    double total = 0, into;
    int lastOverall = -1;
    for (int i = 0; i < warps; i++) { total += sums[i]; lastOverall = max(lastOverall, lasts[i]); }
    const int r = total > 0 ? locate(sums, warps, u * total, &into) : -1;
    __syncthreads();
    if (!(total > 0)) return -1;
    if (r < 0) return lastOverall;
    const int runLo = r * run, runHi = min(vocab, runLo + run);
    const int piece = ((run + warps - 1) / warps + 31) / 32 * 32;
    s = warp_sum(min(runHi, runLo + warp * piece), min(runHi, runLo + (warp + 1) * piece), weight, &last);
    if (lane == 0) { sums[warp] = s; lasts[warp] = last; }
    if (threadIdx.x == 0) drawn = -1;
    __syncthreads();
    const int p = locate(sums, warps, into, &into);
    if (p >= 0 && warp == 0) {
        const int lo = runLo + p * piece, hi = min(runHi, lo + piece);
        double below = 0;
        int hit = -1;
        for (int base = lo; base < hi && hit < 0; base += 32) {
            const int j = base + lane;
            const float wj = j < hi ? weight(j) : 0.f;
            double inclusive = wj > 0 ? wj : 0;
            for (int o = 1; o < 32; o <<= 1) {
                double up = __shfl_up_sync(0xffffffffu, inclusive, o);
                if (lane >= o) inclusive += up;
            }
            unsigned reached = __ballot_sync(0xffffffffu, wj > 0 && into < below + inclusive);
            if (reached) hit = base + __ffs(reached) - 1;
            below += __shfl_sync(0xffffffffu, inclusive, 31);
        }
        if (lane == 0) drawn = hit >= 0 ? hit : lasts[p];
    }
    __syncthreads();
    if (drawn >= 0) return drawn;
    int before = -1;   // no piece held the target: the last id with weight in the run
    for (int i = 0; i < warps; i++) before = max(before, lasts[i]);
    return before >= 0 ? before : lastOverall;
}

// The rejection test over p [k + 1][vocab] (sample_probs' rows) and q [k][vocab]:
// out = {accepted, next token, 1 if bonus}. grid (1), 1024 threads.
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS, 1) reject_chain(const float* p, const float* q, int* out,
                                                                           const SampleArgs a) {
    pdl_wait();
    const size_t V = a.vocab;
    for (int i = 0; i < a.k; i++) {
        const float* pi = p + i * V;
        const float* qi = q + i * V;
        const int x = a.tokens[i];
        if (!(pi[x] > 0 && a.uniforms[i] * (double) qi[x] < (double) pi[x])) {
            int t = draw(a.vocab, a.uniforms[a.k], [&](int j) { return fmaxf(0.f, pi[j] - qi[j]); });
            if (t < 0) t = draw(a.vocab, a.uniforms[a.k], [&](int j) { return pi[j]; });
            if (threadIdx.x == 0) { out[0] = i; out[1] = t; out[2] = 0; }
            return;
        }
    }
    const float* pk = p + a.k * V;
    const int t = draw(a.vocab, a.uniforms[a.k], [&](int j) { return pk[j]; });
    if (threadIdx.x == 0) { out[0] = a.k; out[1] = t; out[2] = 1; }
}
