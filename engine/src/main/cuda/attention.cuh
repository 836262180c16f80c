// The step's attention over the KV cache, split over the keys (flash-decoding), on mma.sync and,
// on Hopper, wgmma; and the combine of the splits into o_proj's activations. Included by
// triforce.cu.
#pragma once

// Attention, flash-decoding style: grid (splits, kvHeads), 128 threads. A block takes keys
// [split*S, split*S + S) of one KV head for all n*G queries of that head's group (query row
// qi = t*G + j for token t and group member j; warp w owns rows 16w..16w+15; at most 16 rows:
// attention_rows16), so every key and value is read once per block. Scores and P.V on tensor
// cores (bf16 operands, fp32 accumulation), online softmax in base 2. Query t sees slots
// <= slot + t. Outputs per split: unnormalised O [split][t*nHeads + head][hd], running max m
// (log2 units) and sum l.

#define ATT_TILE 64             // keys per shared-memory tile (a multiple of 16)
#define ATT_NT (ATT_TILE / 8)   // 8-key n-tiles of the score mma per tile
#define ATT_WG_STAGES 3         // WG form: stages of K and V tiles (CudaTransformer.wgAttentionShared)

__device__ __forceinline__ void cp_async16(uint32_t s, const void* gptr) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(gptr));
}
__device__ __forceinline__ void cp_async16(void* smem_ptr, const void* gptr) {
    cp_async16((uint32_t) __cvta_generic_to_shared(smem_ptr), gptr);
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }
__device__ __forceinline__ void cp_async_wait1() { asm volatile("cp.async.wait_group 1;" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait0() { asm volatile("cp.async.wait_group 0;" ::: "memory"); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
    uint32_t s = (uint32_t) __cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
    uint32_t s = (uint32_t) __cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
}

// Query row qi (= t*G + j) of KV head kvh: its token t, its head, and the last slot it sees
// (slot0 + t); past the rows (ok false) token 0 and head kvh * G, seeing no slot (-1).
struct QueryRow {
    bool ok;
    int t, head, limit;
};
__device__ __forceinline__ QueryRow query_row(int qi, int qcount, int G, int kvh, int slot0) {
    const bool ok = qi < qcount;
    const int t = ok ? qi / G : 0;
    return {ok, t, kvh * G + (ok ? qi % G : 0), ok ? slot0 + t : -1};
}

// Query fragments (A operand of the score mma) of rows row0 + g and row0 + g + 8 (g = lane / 4,
// tq = lane % 4; query row qi = t*G + j), and the last slot each row sees (-1 past the rows).
template <int HD>
__device__ __forceinline__ void load_query_rows(const uint16_t* __restrict__ q, int row0, int qcount, int G,
                                                int kvh, int nHeads, int slot0, int g, int tq,
                                                uint32_t (&qa)[HD / 16][4], int (&limit)[2]) {
#pragma unroll
    for (int hrow = 0; hrow < 2; hrow++) {
        const QueryRow r = query_row(row0 + g + 8 * hrow, qcount, G, kvh, slot0);
        limit[hrow] = r.limit;
        const uint32_t* qrow = (const uint32_t*) (q + ((size_t) r.t * nHeads + r.head) * HD);
#pragma unroll
        for (int ks16 = 0; ks16 < HD / 16; ks16++) {
            qa[ks16][hrow] = r.ok ? qrow[ks16 * 8 + tq] : 0u;
            qa[ks16][2 + hrow] = r.ok ? qrow[ks16 * 8 + 4 + tq] : 0u;
        }
    }
}

// Before tile `tile` of `tiles` is used: the next tile starts loading into the other stage, this
// one is waited for, and the block (or the attention group on barrier `bar`, sync_part) syncs.
template <typename LoadTile>
__device__ __forceinline__ void await_tile(LoadTile& load_tile, int tile, int tiles, int bar = 0) {
    if (tile + 1 < tiles) {
        load_tile(tile + 1, (tile & 1) ^ 1);
        cp_async_wait1();
    } else {
        cp_async_wait0();
    }
    sync_part(bar, 128);
}

// Scores s of one 8-key n-tile of this thread (its keys `key` and key + 1, for rows g and g + 8) in
// base-2 units, the keys a row may not see (past the split, after the row's own slot) at -inf;
// folds them into the rows' maxima mx. CHECK = false: the caller knows every row sees every key.
template <bool CHECK = true>
__device__ __forceinline__ void mask_scores(float (&s)[4], int key, int kEnd, const int (&limit)[2], float scaleLog2,
                                            float (&mx)[2]) {
#pragma unroll
    for (int e = 0; e < 4; e++) {
        int k = key + (e & 1);
        int hrow = e >> 1;
        bool ok = !CHECK || (k < kEnd && k <= limit[hrow]);
        s[e] = ok ? s[e] * scaleLog2 : -INFINITY;
        mx[hrow] = fmaxf(mx[hrow], s[e]);
    }
}

// The maximum of v over the four threads of a quad (the threads sharing a row's scores).
__device__ __forceinline__ float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

// The online-softmax step of one row for a tile whose scores peak at tileMax: the new running
// maximum m, the base the tile's exponentials subtract (0 while the row sees no key yet), and the
// factor alpha the row's sum (add_p) and outputs are rescaled by, returned.
__device__ __forceinline__ float softmax_step(float tileMax, float& m, float& base) {
    float mNew = fmaxf(m, tileMax);
    base = mNew == -INFINITY ? 0.f : mNew;
    float alpha = exp2f(m - base);
    m = mNew;
    return alpha;
}

// A row's sum l after a tile's n-tile nt: its pair of P values (added first) onto l, the first
// n-tile's fused with the tile's rescale -- l alpha + pair in one rounding. Every path adds so (nvcc
// had contracted the first add into an fma in the mma.sync loops but not in the WG form, whose
// bits then differed wherever a split held two tiles or more).
__device__ __forceinline__ void add_p(float& l, float alpha, float pair, int nt) {
    l = nt == 0 ? __fmaf_rn(l, alpha, pair) : l + pair;
}

// Rescales outputs o (n-tiles of mma accumulators: elements 0, 1 row g, 2, 3 row g + 8) by the rows' alpha.
template <int N>
__device__ __forceinline__ void rescale_rows(float (&o)[N][4], const float (&alpha)[2]) {
#pragma unroll
    for (int i = 0; i < N; i++) {
        o[i][0] *= alpha[0];
        o[i][1] *= alpha[0];
        o[i][2] *= alpha[1];
        o[i][3] *= alpha[1];
    }
}

// A warp's finished rows row0 + g, row0 + g + 8 (query rows qi = t G + j of KV head kvh) -> this
// split's partial outputs: O unnormalised (o[i]: the rows' 8-dim n-tile tile0 + i), the running
// maximum m and the sum l (added across the quad; written where stats).
template <int HD, int NT>
__device__ __forceinline__ void write_partials(const float (&o)[NT][4], const float (&m)[2], float (&l)[2],
                                               int row0, int qcount, int G, int kvh, int nHeads, int split,
                                               float* po, float* pm, float* pl, int g, int tq, int tile0 = 0,
                                               bool stats = true) {
#pragma unroll
    for (int hrow = 0; hrow < 2; hrow++) {
        l[hrow] += __shfl_xor_sync(0xffffffffu, l[hrow], 1);
        l[hrow] += __shfl_xor_sync(0xffffffffu, l[hrow], 2);
        int qi = row0 + g + 8 * hrow;
        if (qi >= qcount) continue;
        int t = qi / G, head = kvh * G + qi % G;
        size_t row = (size_t) split * MAX_TOKENS * nHeads + (size_t) t * nHeads + head;
        float* orow = po + row * HD;
        // A quad's pairs of an n-tile are one 32-byte sector a row: 8-byte stores (two 4-byte ones
        // made the warps of a prefill block wait on the store queue, ncu: a tenth of their stalls).
#pragma unroll
        for (int i = 0; i < NT; i++) {
            *(float2*) &orow[(tile0 + i) * 8 + 2 * tq] = make_float2(o[i][2 * hrow], o[i][2 * hrow + 1]);
        }
        if (tq == 0 && stats) {
            pm[row] = m[hrow];
            pl[row] = l[hrow];
        }
    }
}

// One group of at most 16 query rows (a decode step; a verify block of up to 16 / G tokens): the
// 4 warps split each tile, so all of them compute, not only warp 0 -- warp w takes the scores of
// keys 16w .. 16w+15 and the P.V product of head dims HD/4 * w .. HD/4 * (w+1). The tile's row
// maxima and P (bf16) go through shared memory. Every value takes the same operations in the
// same order as in the per-row loop of attention_body (the scores' k order, mask_scores, the tile
// maximum, softmax_step, P rounded to bf16, each thread's sum over the n-tiles in order, P.V over
// 16-key blocks in order), so a row's bits do not depend on which of the two computed it.
// GROUPS = 2 (the persistent step): the block's warps 4 group .. 4 group + 3 run it, on their own
// barrier and shared rows.
template <int HD, int GROUPS = 1, typename LoadTile>
__device__ __forceinline__ void attention_rows16(const uint16_t* __restrict__ q, const uint16_t* ks,
                                                 const uint16_t* vs, LoadTile& load_tile, bool early, int n,
                                                 int nHeads, int G, float scaleLog2, float* po, float* pm,
                                                 float* pl, int split, int kvh, int slot0, int kStart, int kEnd,
                                                 int tiles, int group = 0) {
    constexpr int LD = HD + 8;
    constexpr int LDP = ATT_TILE + 8;   // padded P row (bf16): the A-fragment reads hit distinct banks
    constexpr int DW = HD / 64;         // 16-dim blocks of P.V per warp
    __shared__ float tileMaxes[GROUPS][4][16];   // [group][warp][row]
    __shared__ uint16_t pss[GROUPS][16][LDP];    // P of the tile [group][row][key]
    float (*tileMax)[16] = tileMaxes[group];
    uint16_t (*ps)[LDP] = pss[group];
    const int bar = GROUPS == 1 ? 0 : 1 + group;   // sync_part: the block, or the group's barrier
    const int lane = threadIdx.x & 31, warp = (threadIdx.x >> 5) & 3;
    const int g = lane >> 2, tq = lane & 3;
    const int qcount = n * G;
    if (!early) load_tile(0, 0);

    uint32_t qa[HD / 16][4];   // query fragments, rows g and g + 8
    int limit[2];
    load_query_rows<HD>(q, 0, qcount, G, kvh, nHeads, slot0, g, tq, qa, limit);
    float o[2 * DW][4];   // this warp's dims: 8-dim n-tiles 2 * (DW * warp + d) + {0, 1}
#pragma unroll
    for (int i = 0; i < 2 * DW; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float m[2] = {-INFINITY, -INFINITY};
    float l[2] = {0.f, 0.f};

    for (int tile = 0; tile < tiles; tile++) {
        const int buf = tile & 1;
        await_tile(load_tile, tile, tiles, bar);
        const uint16_t* kt = ks + buf * ATT_TILE * LD;
        const uint16_t* vt = vs + buf * ATT_TILE * LD;
        float s[2][4];   // n-tiles 2 * warp + j
#pragma unroll
        for (int j = 0; j < 2; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
        for (int ks16 = 0; ks16 < HD / 16; ks16 += 2) {
#pragma unroll
            for (int j = 0; j < 2; j++) {
                uint32_t b[4];
                ldmatrix_x4(b, kt + ((2 * warp + j) * 8 + (lane & 7)) * LD + ks16 * 16 + (lane >> 3) * 8);
                mma_bf16(s[j], qa[ks16][0], qa[ks16][1], qa[ks16][2], qa[ks16][3], b[0], b[1]);
                mma_bf16(s[j], qa[ks16 + 1][0], qa[ks16 + 1][1], qa[ks16 + 1][2], qa[ks16 + 1][3], b[2], b[3]);
            }
        }
        const int key0 = kStart + tile * ATT_TILE;
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int j = 0; j < 2; j++) mask_scores(s[j], key0 + (2 * warp + j) * 8 + 2 * tq, kEnd, limit, scaleLog2, mx);
#pragma unroll
        for (int hrow = 0; hrow < 2; hrow++) {
            mx[hrow] = quad_max(mx[hrow]);
            if (tq == 0) tileMax[warp][g + 8 * hrow] = mx[hrow];
        }
        sync_part(bar, 128);
        float alpha[2], base[2];
#pragma unroll
        for (int hrow = 0; hrow < 2; hrow++) {
            const int row = g + 8 * hrow;
            float tmax = fmaxf(fmaxf(tileMax[0][row], tileMax[1][row]), fmaxf(tileMax[2][row], tileMax[3][row]));
            alpha[hrow] = softmax_step(tmax, m[hrow], base[hrow]);
        }
        rescale_rows(o, alpha);
#pragma unroll
        for (int j = 0; j < 2; j++) {
            const int key = (2 * warp + j) * 8 + 2 * tq;
            *(uint32_t*) &ps[g][key] = pack_bf16(exp2f(s[j][0] - base[0]), exp2f(s[j][1] - base[0]));
            *(uint32_t*) &ps[g + 8][key] = pack_bf16(exp2f(s[j][2] - base[1]), exp2f(s[j][3] - base[1]));
        }
        sync_part(bar, 128);
        // Each thread's row sums over the tile's n-tiles in order, as the per-row loop adds them.
#pragma unroll
        for (int nt = 0; nt < ATT_NT; nt++) {
#pragma unroll
            for (int hrow = 0; hrow < 2; hrow++) {
                uint32_t pp = *(const uint32_t*) &ps[g + 8 * hrow][nt * 8 + 2 * tq];
                add_p(l[hrow], alpha[hrow], bf2f(pp & 0xffffu) + bf2f(pp >> 16), nt);
            }
        }
#pragma unroll
        for (int kk = 0; kk < ATT_NT / 2; kk++) {
            const uint32_t a0 = *(const uint32_t*) &ps[g][kk * 16 + 2 * tq];
            const uint32_t a1 = *(const uint32_t*) &ps[g + 8][kk * 16 + 2 * tq];
            const uint32_t a2 = *(const uint32_t*) &ps[g][kk * 16 + 8 + 2 * tq];
            const uint32_t a3 = *(const uint32_t*) &ps[g + 8][kk * 16 + 8 + 2 * tq];
#pragma unroll
            for (int d = 0; d < DW; d++) {
                const int dp = DW * warp + d;
                uint32_t b[4];
                ldmatrix_x4_trans(b, vt + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + dp * 16 +
                                         (lane >> 4) * 8);
                mma_bf16(o[2 * d], a0, a1, a2, a3, b[0], b[1]);
                mma_bf16(o[2 * d + 1], a0, a1, a2, a3, b[2], b[3]);
            }
        }
        sync_part(bar, 128);
    }
    // This warp's n-tiles are 2 DW warp .. 2 DW warp + 2 DW - 1; warp 0 writes the rows' m and l.
    write_partials<HD>(o, m, l, 0, qcount, G, kvh, nHeads, split, po, pm, pl, g, tq, 2 * DW * warp, warp == 0);
}

// Query rows qBase .. qBase + rows of the block's KV head into shared memory [rows][HD + 8], zeros
// past qcount (MT = 2 below).
template <int HD>
__device__ __forceinline__ void stage_query_rows(const uint16_t* __restrict__ q, uint16_t* qs, int qBase, int rows,
                                                 int qcount, int G, int kvh, int nHeads) {
    for (int i = threadIdx.x; i < rows * (HD / 8); i += blockDim.x) {
        const int row = i / (HD / 8), c = (i % (HD / 8)) * 8;
        const QueryRow r = query_row(qBase + row, qcount, G, kvh, 0);
        uint4 v = make_uint4(0u, 0u, 0u, 0u);
        if (r.ok) v = *(const uint4*) (q + ((size_t) r.t * nHeads + r.head) * HD + c);
        *(uint4*) (qs + row * (HD + 8) + c) = v;
    }
}

// exp2f(x); NORMAL: for x >= -126 only, where exp2f is one ex2 (below it, exp2f halves x and squares
// the result, for results under 2^-126).
template <bool NORMAL>
__device__ __forceinline__ float exp2_as(float x) {
    if constexpr (!NORMAL) return exp2f(x);
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// bf16 of lo and hi, rounded to nearest even as f2bf rounds, in one instruction: (hi << 16) | lo.
__device__ __forceinline__ uint32_t round_pair_bf16(float lo, float hi) {
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

// P of a tile for a warp's 16 rows (scores s in base-2 units, less the rows' bases), rounded to bf16 as
// A fragments pa (16 keys each), added to the rows' sums l (rescaled by alpha) in the step kernels' order.
template <bool NORMAL>
__device__ __forceinline__ void p_tile(const float (&s)[ATT_NT][4], const float (&base)[2], const float (&alpha)[2],
                                       float (&l)[2], uint32_t (&pa)[ATT_NT / 2][4]) {
#pragma unroll
    for (int nt = 0; nt < ATT_NT; nt++) {
        const uint32_t r0 = round_pair_bf16(exp2_as<NORMAL>(s[nt][0] - base[0]), exp2_as<NORMAL>(s[nt][1] - base[0]));
        const uint32_t r1 = round_pair_bf16(exp2_as<NORMAL>(s[nt][2] - base[1]), exp2_as<NORMAL>(s[nt][3] - base[1]));
        add_p(l[0], alpha[0], __uint_as_float(r0 << 16) + __uint_as_float(r0 & 0xffff0000u), nt);
        add_p(l[1], alpha[1], __uint_as_float(r1 << 16) + __uint_as_float(r1 & 0xffff0000u), nt);
        pa[nt >> 1][2 * (nt & 1)] = r0;
        pa[nt >> 1][2 * (nt & 1) + 1] = r1;
    }
}

// The online softmax of a tile's scores s for a warp's 16 rows (keys key0 + 8 nt + 2 tq + (e & 1)),
// as attention_body's loop computes it (mask_scores, softmax_step, P rounded to bf16): moves the
// rows' maxima m and sums l, leaves P as A fragments pa, 16 keys each, and the factors alpha the
// outputs are to be rescaled by before P.V. A tile every row of the warp sees whole skips the key
// checks (exact).
__device__ __forceinline__ void softmax_tile(float (&s)[ATT_NT][4], int key0, int kEnd, const int (&limit)[2],
                                             float scaleLog2, float (&m)[2], float (&l)[2],
                                             uint32_t (&pa)[ATT_NT / 2][4], float (&alpha)[2], int tq) {
    float mx[2] = {-INFINITY, -INFINITY}, mn[2] = {INFINITY, INFINITY};
    const bool whole = __all_sync(0xffffffffu, key0 + ATT_TILE <= kEnd && key0 + ATT_TILE - 1 <= min(limit[0], limit[1]));
    if (whole) {
#pragma unroll
        for (int nt = 0; nt < ATT_NT; nt++) {
            mask_scores<false>(s[nt], key0 + nt * 8 + 2 * tq, kEnd, limit, scaleLog2, mx);
#pragma unroll
            for (int e = 0; e < 4; e++) mn[e >> 1] = fminf(mn[e >> 1], s[nt][e]);
        }
    } else {
#pragma unroll
        for (int nt = 0; nt < ATT_NT; nt++) mask_scores(s[nt], key0 + nt * 8 + 2 * tq, kEnd, limit, scaleLog2, mx);
    }
    float base[2];
#pragma unroll
    for (int hrow = 0; hrow < 2; hrow++) alpha[hrow] = softmax_step(quad_max(mx[hrow]), m[hrow], base[hrow]);
    // Every exponent of the warp at -126 or above (s - base rounds monotonically, so the rows' minima
    // decide): exp2f is one ex2 there.
    if (__all_sync(0xffffffffu, whole && mn[0] - base[0] >= -126.f && mn[1] - base[1] >= -126.f)) {
        p_tile<true>(s, base, alpha, l, pa);
    } else {
        p_tile<false>(s, base, alpha, l, pa);
    }
}

// A thread's copies of one K or V tile in the WG form (THREADS a block): key rows THREADS / (HD / 8)
// apart from its first, the same dims; to and src its first copy's destination and source.
template <int HD, int THREADS>
__device__ __forceinline__ void load_tile_rows(uint32_t to, const uint16_t* src) {
    constexpr int ROWS = THREADS / (HD / 8);
#pragma unroll
    for (int j = 0; j < ATT_TILE / ROWS; j++) cp_async16(to + j * ROWS * 128, src + j * ROWS * HD);
}

// attention_body's tiles in its WG form (Hopper): this warpgroup's 64 rows (the warp's 16: query
// fragments qa, outputs o, maxima m, sums l) over the split's tiles, the products on wgmma in the
// step kernels' order -- scores over k16 steps of the head dims, P.V over 16-key steps. Step t
// rescales the outputs by tile t - 1's factors, issues the scores of tile t + 1 and P.V of tile
// t - 1, and runs tile t's softmax while the tensor cores take both (P alternates between two sets
// of registers, as the scores do: no other instruction may write a wgmma's registers while one is
// in flight, or ptxas serialises them). K and V tiles: three stages each (kWg, vWg),
// [HD / 64][ATT_TILE][128 bytes] 128-byte-swizzled; after step t's block sync K(t + 3) and V(t + 2)
// load into the stages that K(t) and V(t - 1) left. load_tile(tile, stage address, values) copies
// one K or V tile. All threads of the block call it.
template <int HD, typename LoadTile>
__device__ __forceinline__ void attention_tiles_wg(LoadTile& load_tile, uint32_t kWg, uint32_t vWg, int tiles,
                                                   bool active, const uint32_t (&qa)[HD / 16][4],
                                                   float (&o)[HD / 8][4], float (&m)[2], float (&l)[2], int kStart,
                                                   int kEnd, const int (&limit)[2], float scaleLog2, int tq) {
    constexpr int STAGE = HD / 64 * ATT_TILE * 128;   // bytes of a stage's K (or V) tile
    float (&d)[HD / 2] = reinterpret_cast<float (&)[HD / 2]>(o);
    auto load = [&](int kTile, int vTile) {   // K of kTile and V of vTile, those within the split; one group
        if (kTile < tiles) load_tile(kTile, kWg + (kTile % ATT_WG_STAGES) * STAGE, false);
        if (vTile < tiles) load_tile(vTile, vWg + (vTile % ATT_WG_STAGES) * STAGE, true);
        cp_async_commit();
    };
    auto scores = [&](int tile, float (&s)[ATT_NT][4]) {   // issue S = Q K^T of tile, k16 steps in order
        float (&c)[ATT_NT * 4] = reinterpret_cast<float (&)[ATT_NT * 4]>(s);
        wgmma_fence();
        const uint32_t k = kWg + (tile % ATT_WG_STAGES) * STAGE;
        // The first step starts from 0 (ACC false), as the step kernels' scores do.
        wgmma<ATT_TILE, 0, false>(c, qa[0][0], qa[0][1], qa[0][2], qa[0][3], smem_descriptor(k, 16, 1024, 1));
#pragma unroll
        for (int ks16 = 1; ks16 < HD / 16; ks16++) {
            const uint32_t kk = k + (ks16 / 4) * ATT_TILE * 128 + (ks16 % 4) * 32;
            wgmma<ATT_TILE, 0>(c, qa[ks16][0], qa[ks16][1], qa[ks16][2], qa[ks16][3], smem_descriptor(kk, 16, 1024, 1));
        }
        wgmma_commit();
    };
    float alpha[2] = {1.f, 1.f};   // the last softmax's factors, for the outputs before its P.V
    auto product = [&](int tile, const uint32_t (&pa)[ATT_NT / 2][4]) {   // issue O = alpha O + P V of tile
        // Outputs whose alpha is 1 for every row of the warp (the maxima did not move) skip it: exact.
        if (__any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f)) rescale_rows(o, alpha);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < ATT_NT / 2; kk++) {   // 16 keys a step in order; V N-major
            const uint32_t v = vWg + (tile % ATT_WG_STAGES) * STAGE + kk * 16 * 128;
            wgmma<HD, 1>(d, pa[kk][0], pa[kk][1], pa[kk][2], pa[kk][3], smem_descriptor(v, ATT_TILE * 128, 1024, 1));
        }
        wgmma_commit();
    };
    // s: the scores of tile, landed; pa: its P; prev: tile - 1's P.
    auto step = [&](int tile, float (&s)[ATT_NT][4], float (&next)[ATT_NT][4], uint32_t (&pa)[ATT_NT / 2][4],
                    const uint32_t (&prev)[ATT_NT / 2][4]) {
        if (active) {
            if (tile + 1 < tiles) scores(tile + 1, next);
            if (tile > 0) product(tile - 1, prev);
            float sc[ATT_NT][4];   // a copy: masking s in place (wgmma registers) made ptxas serialise the wgmma
#pragma unroll
            for (int nt = 0; nt < ATT_NT; nt++) {
#pragma unroll
                for (int e = 0; e < 4; e++) sc[nt][e] = s[nt][e];
            }
            softmax_tile(sc, kStart + tile * ATT_TILE, kEnd, limit, scaleLog2, m, l, pa, alpha, tq);
            wgmma_wait<0>();
            fence_registers(d);
            fence_registers(reinterpret_cast<float (&)[ATT_NT * 4]>(next));
        }
        asm volatile("cp.async.wait_group 0;" ::: "memory");   // K(tile + 2), V(tile + 1) have landed
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        __syncthreads();   // for every thread; and every warpgroup is done with K(tile) and V(tile - 1)
        load(tile + 3, tile + 2);
    };
    load(0, 0);
    load(1, 1);
    load(2, tiles);
    asm volatile("cp.async.wait_group 0;" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    __syncthreads();
    float s0[ATT_NT][4] = {}, s1[ATT_NT][4] = {};   // scores of even and odd tiles
    uint32_t pa0[ATT_NT / 2][4], pa1[ATT_NT / 2][4];   // their P
    if (active) {
        scores(0, s0);
        wgmma_wait<0>();
        fence_registers(reinterpret_cast<float (&)[ATT_NT * 4]>(s0));
    }
    for (int tile = 0; tile < tiles; tile += 2) {
        step(tile, s0, s1, pa0, pa1);
        if (tile + 1 < tiles) step(tile + 1, s1, s0, pa1, pa0);
    }
    if (active) {   // the last tile's P.V
        if (tiles & 1) {
            product(tiles - 1, pa0);
        } else {
            product(tiles - 1, pa1);
        }
        wgmma_wait<0>();
        fence_registers(d);
    }
    __syncthreads();   // the stages are free for the next pass
}

// Keys and values key0 .. key0 + ATT_TILE of a KV head (kbase, vbase) into stage `buf` of the
// shared tiles ks, vs [2][ATT_TILE][HD + 8], by threads t of `threads`, as one cp.async group.
template <int HD>
__device__ __forceinline__ void load_kv_tile(uint16_t* ks, uint16_t* vs, const uint16_t* kbase, const uint16_t* vbase,
                                             int key0, int buf, int t, int threads) {
    constexpr int LD = HD + 8;
    for (int i = t; i < ATT_TILE * HD / 8; i += threads) {
        int r = i / (HD / 8), c = (i % (HD / 8)) * 8;
        size_t off = (size_t) (key0 + r) * HD + c;
        int to = (buf * ATT_TILE + r) * LD + c;
        cp_async16(ks + to, kbase + off);
        cp_async16(vs + to, vbase + off);
    }
    cp_async_commit();
}

// MT: m-tiles of 16 query rows a warp when a block has more than 16 rows (below). WG (Hopper: the
// prefill's chunk_attention*wg, steps of 32 or more query rows attention*wg): the block's
// warpgroups (blockDim / 128) take 64 rows each (rows past the last fill its warpgroup and see no
// key), their score and P.V products on wgmma (attention_tiles_wg). Same bits every way.
template <int HD, int MT = 1, bool WG = false>
__device__ __forceinline__ void attention_body(const uint16_t* __restrict__ q, const uint16_t* __restrict__ kc,
                                               const uint16_t* __restrict__ vc, int capacity,
                                               const StepParams* p, int n, int nHeads, int G, int S,
                                               float scaleLog2, float* po, float* pm, float* pl, int split,
                                               int kvh, int settled) {
    constexpr int LD = HD + 8;  // padded row (bf16): ldmatrix rows land in distinct banks
    extern __shared__ uint16_t sm[];
    uint16_t* ks = sm;                       // [2][ATT_TILE][LD]
    uint16_t* vs = sm + 2 * ATT_TILE * LD;   // [2][ATT_TILE][LD]
    // WG: [ATT_WG_STAGES][HD / 64 atoms][ATT_TILE keys][128 bytes] each (two tiles in flight while
    // one is used), 1024-byte aligned: key r's dims 64 a + 8 j .. + 7 at 16 (j ^ r % 8) in its row
    // (the 128-byte swizzle wgmma reads)
    uint32_t kWg = 0, vWg = 0;
    if constexpr (WG) {
        const uint32_t base = (uint32_t) __cvta_generic_to_shared(sm);
        kWg = (base + 1023) & ~1023u;
        vWg = kWg + ATT_WG_STAGES * ATT_TILE * HD * 2;
    }

    pdl_launch_next();
    const int slot0 = p->slot;  // StepParams are set by the host, not by a kernel: readable before the wait
    const int total = slot0 + n;
    const int kStart = split * S;
    const uint16_t* kbase = kc + (size_t) kvh * capacity * HD;
    const uint16_t* vbase = vc + (size_t) kvh * capacity * HD;
    auto load_tile = [&](int tile, int buf) {
        load_kv_tile<HD>(ks, vs, kbase, vbase, kStart + tile * ATT_TILE, buf, threadIdx.x, blockDim.x);
    };
    // WG: thread i copies items i + blockDim.x j of a tile, key rows r0 + j blockDim.x / (HD / 8) (a
    // multiple of 8 apart: the same swizzle phase) and dims c .. c + 7, so only the bases move.
    const int r0 = threadIdx.x / (HD / 8), c0 = threadIdx.x % (HD / 8) * 8;
    const uint32_t wgTo = ((c0 / 64) * ATT_TILE + r0) * 128 + (((c0 / 8) & 7) ^ (r0 & 7)) * 16;
    auto load_tile_wg = [&](int tile, uint32_t stage, bool values) {
        const uint16_t* src = (values ? vbase : kbase) + (size_t) (kStart + tile * ATT_TILE + r0) * HD + c0;
        if (blockDim.x == 256) {
            load_tile_rows<HD, 256>(stage + wgTo, src);
        } else {
            load_tile_rows<HD, 128>(stage + wgTo, src);
        }
    };
    // Slots below `settled` were written before this launch's kernel chain began: a first tile
    // of them streams while the kernel before this one finishes.
    const bool early = kStart + ATT_TILE <= settled;
    if (early) load_tile(0, 0);
    pdl_wait();
    if (kStart >= total) return;
    const int kEnd = min(kStart + S, total);
    const int tiles = (kEnd - kStart + ATT_TILE - 1) / ATT_TILE;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, tq = lane & 3;
    const int qcount = n * G;
    if (MT == 1 && !WG && qcount <= 16) {
        attention_rows16<HD>(q, ks, vs, load_tile, early, n, nHeads, G, scaleLog2, po, pm, pl, split, kvh, slot0,
                             kStart, kEnd, tiles);
        return;
    }

    // Rows 64 * MT at a time: warp w takes the m-tiles of 16 rows at qBase + 64 m + 16 w (m < MT); more
    // rows than that (blocks of many tokens) stream the split's keys and values again. MT = 2 (the
    // prefill's GQA sub-blocks: chunk_attention*x2): the pass's query rows wait in shared memory for
    // ldmatrix instead of in registers, and each K and V fragment feeds both m-tiles -- half the
    // fragment loads a mma, twice the independent mma a warp. Every row takes the same operations in
    // the same order either way.
    uint16_t* qs = sm + 4 * ATT_TILE * LD;   // MT = 2: [64 * MT][LD] the pass's query rows
    for (int qBase = 0; qBase < qcount; qBase += WG ? (int) blockDim.x / 2 : 64 * MT) {
        // WG: whole warpgroups (wgmma is theirs); rows past qcount see no key and are not written.
        const bool active = qBase + (WG ? warp / 4 * 64 : warp * 16) < qcount;
        if (!WG && (qBase > 0 || !early)) load_tile(0, 0);

        uint32_t qa[HD / 16][4];   // MT = 1: query fragments, rows qBase + 16 warp + g and + 8
        int limit[MT][2];
        if constexpr (MT == 1) {
            load_query_rows<HD>(q, qBase + warp * 16, qcount, G, kvh, nHeads, slot0, g, tq, qa, limit[0]);
        } else {
            stage_query_rows<HD>(q, qs, qBase, 64 * MT, qcount, G, kvh, nHeads);   // read after await_tile's sync
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
#pragma unroll
                for (int hrow = 0; hrow < 2; hrow++) {
                    limit[mt][hrow] = query_row(qBase + 64 * mt + warp * 16 + g + 8 * hrow, qcount, G, kvh, slot0).limit;
                }
            }
        }

        float o[MT][HD / 8][4];
        float m[MT][2], l[MT][2];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
#pragma unroll
            for (int i = 0; i < HD / 8; i++) o[mt][i][0] = o[mt][i][1] = o[mt][i][2] = o[mt][i][3] = 0.f;
            m[mt][0] = m[mt][1] = -INFINITY;
            l[mt][0] = l[mt][1] = 0.f;
        }

        if constexpr (WG) {
            attention_tiles_wg<HD>(load_tile_wg, kWg, vWg, tiles, active, qa, o[0], m[0], l[0], kStart, kEnd, limit[0],
                                   scaleLog2, tq);
        }
        for (int tile = 0; !WG && tile < tiles; tile++) {
            const int buf = tile & 1;
            await_tile(load_tile, tile, tiles);
            if (active) {
                const uint16_t* kt = ks + buf * ATT_TILE * LD;
                const uint16_t* vt = vs + buf * ATT_TILE * LD;
                float s[MT][ATT_NT][4];
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
#pragma unroll
                    for (int nt = 0; nt < ATT_NT; nt++) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.f;
                }
#pragma unroll
                for (int ks16 = 0; ks16 < HD / 16; ks16 += 2) {
                    uint32_t a[MT][2][4];   // MT = 2: query fragments of k16 steps ks16 and ks16 + 1
#pragma unroll
                    for (int mt = 0; MT > 1 && mt < MT; mt++) {
#pragma unroll
                        for (int h = 0; h < 2; h++) {
                            ldmatrix_x4(a[mt][h], qs + (64 * mt + 16 * warp + (lane & 15)) * LD + (ks16 + h) * 16 +
                                                      (lane >> 4) * 8);
                        }
                    }
#pragma unroll
                    for (int nt = 0; nt < ATT_NT; nt++) {
                        uint32_t b[4];
                        ldmatrix_x4(b, kt + (nt * 8 + (lane & 7)) * LD + ks16 * 16 + (lane >> 3) * 8);
#pragma unroll
                        for (int mt = 0; mt < MT; mt++) {
                            const uint32_t* a0 = MT == 1 ? qa[ks16] : a[mt][0];
                            const uint32_t* a1 = MT == 1 ? qa[ks16 + 1] : a[mt][1];
                            mma_bf16(s[mt][nt], a0[0], a0[1], a0[2], a0[3], b[0], b[1]);
                            mma_bf16(s[mt][nt], a1[0], a1[1], a1[2], a1[3], b[2], b[3]);
                        }
                    }
                }
                const int key0 = kStart + tile * ATT_TILE;
                uint32_t pa[MT][ATT_NT / 2][4];   // P (rounded to bf16, as the P.V product sees it)
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    float mx[2] = {-INFINITY, -INFINITY};
                    // MT = 2: a tile every row of the warp sees whole (all but the last ones of a long
                    // split) skips the key checks, and outputs whose alpha is 1 for every row of the warp
                    // (the maxima did not move) skip their rescaling: multiplying by 1 is exact.
                    // (softmax_tile, the WG form's, gives the same bits with fewer instructions -- P
                    // rounded two at a time, exp2f as the one ex2 it is where every exponent is >= -126;
                    // this loop keeps its own copy: sharing it changes the step kernels' machine code.)
                    const bool whole = MT > 1 && key0 + ATT_TILE <= kEnd &&
                                       key0 + ATT_TILE - 1 <= min(limit[mt][0], limit[mt][1]);
                    if (MT > 1 && __all_sync(0xffffffffu, whole)) {
#pragma unroll
                        for (int nt = 0; nt < ATT_NT; nt++) {
                            mask_scores<false>(s[mt][nt], key0 + nt * 8 + 2 * tq, kEnd, limit[mt], scaleLog2, mx);
                        }
                    } else {
#pragma unroll
                        for (int nt = 0; nt < ATT_NT; nt++) {
                            mask_scores(s[mt][nt], key0 + nt * 8 + 2 * tq, kEnd, limit[mt], scaleLog2, mx);
                        }
                    }
                    float alpha[2], base[2];
#pragma unroll
                    for (int hrow = 0; hrow < 2; hrow++) {
                        alpha[hrow] = softmax_step(quad_max(mx[hrow]), m[mt][hrow], base[hrow]);
                    }
                    if (MT == 1 || __any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f)) rescale_rows(o[mt], alpha);
                    // P and its row sums.
#pragma unroll
                    for (int nt = 0; nt < ATT_NT; nt++) {
                        float p0 = bf2f(f2bf(exp2f(s[mt][nt][0] - base[0])));
                        float p1 = bf2f(f2bf(exp2f(s[mt][nt][1] - base[0])));
                        float p2 = bf2f(f2bf(exp2f(s[mt][nt][2] - base[1])));
                        float p3 = bf2f(f2bf(exp2f(s[mt][nt][3] - base[1])));
                        add_p(l[mt][0], alpha[0], p0 + p1, nt);
                        add_p(l[mt][1], alpha[1], p2 + p3, nt);
                        int kk = nt >> 1, hi = nt & 1;
                        pa[mt][kk][2 * hi] = pack_bf16(p0, p1);
                        pa[mt][kk][2 * hi + 1] = pack_bf16(p2, p3);
                    }
                }
#pragma unroll
                for (int kk = 0; kk < ATT_NT / 2; kk++) {
#pragma unroll
                    for (int dp = 0; dp < HD / 16; dp++) {
                        uint32_t b[4];
                        ldmatrix_x4_trans(b, vt + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + dp * 16 +
                                                 (lane >> 4) * 8);
#pragma unroll
                        for (int mt = 0; mt < MT; mt++) {
                            const uint32_t* pr = pa[mt][kk];
                            mma_bf16(o[mt][2 * dp], pr[0], pr[1], pr[2], pr[3], b[0], b[1]);
                            mma_bf16(o[mt][2 * dp + 1], pr[0], pr[1], pr[2], pr[3], b[2], b[3]);
                        }
                    }
                }
            }
            __syncthreads();
        }
        if (active) {
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                write_partials<HD>(o[mt], m[mt], l[mt], qBase + 64 * mt + warp * 16, qcount, G, kvh, nHeads, split, po,
                                   pm, pl, g, tq);
            }
        }
    }
}

// A kernel of the attention: BODY is attention_body's form, SETTLED the slots it may load before
// its PDL wait (0: none).
#define ATTENTION_KERNEL(name, BODY, SETTLED) \
    extern "C" __global__ void __launch_bounds__(128) name(const uint16_t* q, const uint16_t* kc, const uint16_t* vc, \
            int capacity, const StepParams* p, int n, int nHeads, int G, int S, float scaleLog2, float* po, float* pm, \
            float* pl) { \
        BODY(q, kc, vc, capacity, p, n, nHeads, G, S, scaleLog2, po, pm, pl, blockIdx.x, blockIdx.y, SETTLED); \
    }
ATTENTION_KERNEL(attention64, attention_body<64>, p->slot)
ATTENTION_KERNEL(attention128, attention_body<128>, p->slot)

// The same on wgmma (Hopper) for steps of 32 or more query rows (n G: a verify of 8 or more tokens
// at 4 queries a KV head; CudaTransformer.attend); the same bits (CudaBackendTest's block vs
// token-by-token forwards). 128 threads, three stages of K and V tiles (CudaTransformer).
ATTENTION_KERNEL(attention64wg, (attention_body<64, 1, true>), 0)
ATTENTION_KERNEL(attention128wg, (attention_body<128, 1, true>), 0)

// Merges the splits query t can see (slots <= slot + t) -> o_proj activations. One block of 256
// threads per (head, token): warp w takes splits w, w + 8, ...; lane takes dims lane + 32 j (head
// sizes 64 and 128, as DeviceModel requires). Each dim's adds run in the same order as when a
// block took 32 dims (4x the blocks, each reading the splits' maxima again): same bits. CORE:
// the activations in prefill's core order (core_act_index).
template <bool CORE>
__device__ __forceinline__ void combine_body(const StepParams* p, const float* po, const float* pm, const float* pl,
                                             int nHeads, int hd, int S, uint16_t* hi, uint16_t* lo, int head, int t,
                                             int bar = 0) {
    __shared__ float wm[8], wl[8], wo[8][128];
    pdl_launch_next();
    pdl_wait();
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int splits = (p->slot + t + S) / S;
    const size_t row = (size_t) t * nHeads + head;
    const size_t stride = (size_t) MAX_TOKENS * nHeads;
    // The warp's first U splits (all of them, up to 8 U splits) are read at once -- maxima, sums
    // and outputs -- so the merge waits on the attention's results once; later splits are read as
    // they are added.
    constexpr int U = 4;
    float mu[U], lu[U], ou[U][4];
#pragma unroll
    for (int u = 0; u < U; u++) {
        const int s = warp + 8 * u;
        const bool ok = s < splits;
        const float* o = po + (s * stride + row) * hd + lane;
        mu[u] = ok ? pm[s * stride + row] : -INFINITY;
        lu[u] = ok ? pl[s * stride + row] : 0.f;
#pragma unroll
        for (int j = 0; j < 4; j++) ou[u][j] = ok && 32 * j < hd ? o[32 * j] : 0.f;
    }
    float m = -INFINITY;
#pragma unroll
    for (int u = 0; u < U; u++) m = fmaxf(m, mu[u]);
#pragma unroll 4
    for (int s = warp + 8 * U; s < splits; s += 8) m = fmaxf(m, pm[s * stride + row]);
    if (lane == 0) wm[warp] = m;
    sync_part(bar, 256);
    float mMax = wm[0];
    for (int w = 1; w < 8; w++) mMax = fmaxf(mMax, wm[w]);
    float sum = 0.f, acc[4] = {0.f, 0.f, 0.f, 0.f};
    auto merge = [&](float ms, float ls, const float (&os)[4]) {   // the next split, in split order
        const float w = exp2f(ms - mMax);
        sum += ls * w;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            if (32 * j < hd) acc[j] += os[j] * w;
        }
    };
#pragma unroll
    for (int u = 0; u < U; u++) {
        if (warp + 8 * u < splits) merge(mu[u], lu[u], ou[u]);
    }
#pragma unroll 4
    for (int s = warp + 8 * U; s < splits; s += 8) {
        const float* o = po + (s * stride + row) * hd + lane;
        float os[4];
#pragma unroll
        for (int j = 0; j < 4; j++) os[j] = 32 * j < hd ? o[32 * j] : 0.f;
        merge(pm[s * stride + row], pl[s * stride + row], os);
    }
#pragma unroll
    for (int j = 0; j < 4; j++) {
        if (32 * j < hd) wo[warp][lane + 32 * j] = acc[j];
    }
    if (lane == 0) wl[warp] = sum;
    sync_part(bar, 256);
    const int d = threadIdx.x;
    if (d < hd) {
        float total = 0.f, out = 0.f;
        for (int w = 0; w < 8; w++) {
            total += wl[w];
            out += wo[w][d];
        }
        write_act<CORE>(hi, lo, t, head * hd + d, out / total);
    }
}

// grid (nHeads, n), 256 threads.
extern "C" __global__ void attention_combine(const StepParams* p, const float* po, const float* pm,
                                             const float* pl, int nHeads, int hd, int S, uint16_t* hi,
                                             uint16_t* lo) {
    combine_body<false>(p, po, pm, pl, nHeads, hd, S, hi, lo, blockIdx.x, blockIdx.y);
}
