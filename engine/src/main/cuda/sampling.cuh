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

// Block-wide sum in a fixed order (xor-shuffle trees); every thread gets the result.
template <typename T>
__device__ T block_sum(T v, T* scratch) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < (int) (blockDim.x >> 5) ? scratch[lane] : (T) 0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ unsigned block_min(unsigned v, unsigned* scratch) {
    for (int o = 16; o > 0; o >>= 1) v = min(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < (int) (blockDim.x >> 5) ? scratch[lane] : 0xffffffffu;
    for (int o = 16; o > 0; o >>= 1) v = min(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Weight of token i in 2^-40 units (w <= 1: a row sums to < 2^57, exact and order-free).
__device__ __forceinline__ unsigned long long fixed_weight(float w) {
    return (unsigned long long) (w * 1099511627776.0f);
}

// How much of the row lies at or above the key (v, c): tokens with ordered logit > v, and those
// equal to v with id <= c. Counts tokens, or sums their fixed-point weights when mass.
__device__ unsigned long long tally(const float* row, const float* w, int vocab, unsigned v, int c, bool mass,
                                    unsigned long long* scratch) {
    unsigned long long acc = 0;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        unsigned o = ordered_bits(row[i]);
        if (o > v || (o == v && i <= c)) acc += mass ? fixed_weight(w[i]) : 1ull;
    }
    return block_sum(acc, scratch);
}

// The largest key (v, c) with tally(v, c) >= target: bisection over the ordered logits in
// [lo, hi], then over the ids of the tokens tied at v when there are several.
__device__ void select_key(const float* row, const float* w, int vocab, unsigned lo, unsigned hi,
                           unsigned long long target, bool mass, unsigned long long* scratch, unsigned* v, int* c) {
    unsigned long long top = (unsigned long long) hi + 1;      // tally(top) < target <= tally(lo)
    unsigned long long bottom = lo;
    while (top - bottom > 1) {
        unsigned mid = (unsigned) (bottom + (top - bottom) / 2);
        if (tally(row, w, vocab, mid, vocab - 1, mass, scratch) >= target) bottom = mid;
        else top = mid;
    }
    *v = (unsigned) bottom;
    int first = -1, last = vocab - 1;                        // tally(v, first) < target <= tally(v, last)
    if (tally(row, w, vocab, *v, vocab - 1, false, scratch) - tally(row, w, vocab, *v, -1, false, scratch) > 1) {
        while (last - first > 1) {
            int mid = first + (last - first) / 2;
            if (tally(row, w, vocab, *v, mid, mass, scratch) >= target) last = mid;
            else first = mid;
        }
        *c = last;
    } else {
        *c = vocab - 1;                                      // one token at v: all of v is kept
    }
}

// probs[r] = the distribution of logits row r (Sampler.distribution). grid (rows), 1024 threads.
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) sample_probs(const float* logits, float* probs,
                                                                           const SampleArgs a) {
    __shared__ unsigned long long scratch[32];
    __shared__ double dscratch[32];
    __shared__ unsigned uscratch[32];
    pdl_wait();
    const int vocab = a.vocab;
    const float* row = logits + (size_t) blockIdx.x * vocab;
    float* w = probs + (size_t) blockIdx.x * vocab;          // the weights first, then the probabilities
    unsigned mx = 0, mn = 0xffffffffu;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        unsigned o = ordered_bits(row[i]);
        mx = max(mx, o);
        mn = min(mn, o);
    }
    mx = ~block_min(~mx, uscratch);
    mn = block_min(mn, uscratch);
    const float maxLogit = __uint_as_float(mx ^ ((mx >> 31) ? 0x80000000u : 0xffffffffu));
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) w[i] = expf((row[i] - maxLogit) * a.inverseT);
    __syncthreads();
    unsigned v = mn;                                          // the kept keys: those >= (v, c)
    int c = vocab - 1;
    if (a.topK > 0 && a.topK < vocab) {
        select_key(row, w, vocab, mn, mx, (unsigned long long) a.topK, false, scratch, &v, &c);
    }
    if (a.topP < 1) {
        unsigned long long kept = tally(row, w, vocab, v, c, true, scratch);
        unsigned long long target = (unsigned long long) ceil(a.topP * (double) kept);
        target = max(1ull, min(target, kept));
        select_key(row, w, vocab, v, mx, target, true, scratch, &v, &c);
    }
    double keptMass = 0;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        unsigned o = ordered_bits(row[i]);
        if (o > v || (o == v && i <= c)) keptMass += w[i];
    }
    keptMass = block_sum(keptMass, dscratch);
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        unsigned o = ordered_bits(row[i]);
        w[i] = (o > v || (o == v && i <= c)) ? (float) (w[i] / keptMass) : 0.f;
    }
}

// Inverse-CDF draw over weight(j), j in id order, with uniform u: each thread sums a contiguous
// segment, a block scan places the segments, and the thread whose segment holds u * total walks
// it. -1 when the weights have no mass. Rounding can leave u * total in no segment (the last
// token with weight is taken, as Sampler.sample does) or in two (the lower id is taken).
template <typename Weight>
__device__ int draw(int vocab, double u, Weight weight) {
    __shared__ double sums[SAMPLE_THREADS / 32];
    __shared__ double dscratch[32];
    __shared__ unsigned uscratch[32];
    const int seg = (vocab + blockDim.x - 1) / blockDim.x;
    const int lo = min(vocab, (int) threadIdx.x * seg), hi = min(vocab, lo + seg);
    double s = 0;
    int lastPositive = -1;
    for (int j = lo; j < hi; j++) {
        float wj = weight(j);
        if (wj > 0) { s += wj; lastPositive = j; }
    }
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    double inclusive = s;                                     // scan within the warp
    for (int o = 1; o < 32; o <<= 1) {
        double up = __shfl_up_sync(0xffffffffu, inclusive, o);
        if (lane >= o) inclusive += up;
    }
    if (lane == 31) sums[warp] = inclusive;
    __syncthreads();
    double before = 0;
    for (int wi = 0; wi < warp; wi++) before += sums[wi];
    const double prefix = before + inclusive - s;
    const double total = block_sum(s, dscratch);
    if (!(total > 0)) return -1;
    const double local = u * total - prefix;
    unsigned found = 0xffffffffu;
    if (local >= 0 && local < s) {
        double cumulative = 0;
        for (int j = lo; j < hi; j++) {
            float wj = weight(j);
            if (wj > 0) {
                cumulative += wj;
                if (local < cumulative) { found = j; break; }
            }
        }
    }
    found = block_min(found, uscratch);
    if (found != 0xffffffffu) return (int) found;
    return (int) ~block_min(~(unsigned) lastPositive, uscratch);
}

// The rejection test over p [k + 1][vocab] (sample_probs' rows) and q [k][vocab]:
// out = {accepted, next token, 1 if bonus}. grid (1), 1024 threads.
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) reject_chain(const float* p, const float* q, int* out,
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
