// Internal interface between the HISA files: the per-launch parameters, the geometry of one
// query row (SPEC.md "HISA"), and the launchers of pool_keys.cu, hisa_portable.cu and
// hisa_sm90.cu that hisa_select.cu strings together.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "hisa/types.hpp"

namespace hisa::cuda {

// One launch covers queries [t0, t0 + T) of the problem. All pointers are device memory.
struct HisaParams {
  DType dtype = DType::f32;
  int t0 = 0, T = 0;            // query chunk
  int H = 0, D = 0, S = 0;
  const void* q = nullptr;      // [T_total, H, D]
  const void* k = nullptr;      // [S, D]
  const float* k_scale = nullptr;
  const float* w = nullptr;     // [T_total, H]
  const int32_t* ks = nullptr;  // [T_total]
  const int32_t* ke = nullptr;
  int B = 64;                   // block size
  int m = 64;                   // kept blocks (block-sparse: topk / B)
  int topk = 2048;
  const void* pooled = nullptr; // [S, D] rows: row p = mean of the B keys from p (f32 or bf16)
  int32_t* kept = nullptr;      // [T, m] kept block ids of the chunk, ascending
  int32_t* out = nullptr;       // [T_total, topk]
  int cmax = 0;                 // most candidates of any row: max(min(m*B, S), min(topk, S))
  int kpad = 1;                 // next_pow2(min(topk, cmax)): the sort buffer
  int nbmax = 0;                // ceil(S / B): most blocks of any row
  // MISA re-scoring (misa_select.cu): stage 2 takes candidate lists instead of kept blocks.
  // Row r of the chunk scores kept[r * m + i], i < m (m = c * topk tokens chosen by the routed
  // score), or its whole range when that is at most max(B, m) tokens (misa_row_geometry).
  bool lists = false;
  // Streaming selection (sm_90a stage 2, hisa_sm90.cu): > 0 keeps at most this many candidates
  // in shared memory, dropping those that cannot reach the top K (a running threshold), so
  // shared memory stops growing with m (any m fits). 0: every candidate's key is kept.
  int stream_cap = 0;
  // shared_candidates = shared_q > 1 (hisa_shared_tiles.cuh; needs the streaming kernel): row t
  // selects from its tile's kept blocks (one launch holds every row of the call: t0 = 0).
  // seq_first [S + 1]: first row of each sequence start; list_max: most candidate blocks of one
  // row.
  bool shared_tiles = false;  // stage 2 takes the tile union (also with Q = 1: a test hook)
  int shared_q = 1;
  const int32_t* seq_first = nullptr;
  int list_max = 0;
  int order = 0;  // Config::order: 0 = score, 1 = index (hisa_rows.cuh RowOrder)
  // Two-pass stage 2 (hisa_select.cu, sm_90a): when `scores` is set, the tokens kernel selects
  // nothing; it writes candidate pos's f32 score to scores[r * scores_ld + pos] and the row's
  // candidate range [0, cvalid) to cand_begin[r], cand_end[r] (r: row of the chunk). The radix
  // top-k (topk_radix.cuh) then ranks those rows and turns positions into
  // tokens. Shared memory then no longer grows with m. The planner sets scores_ld (> 0: the
  // kernel's shared memory is sized for this mode) and hisa_select the pointers.
  float* scores = nullptr;
  int scores_ld = 0;
  int32_t* cand_begin = nullptr;
  int32_t* cand_end = nullptr;
  // Filtered two-pass stage 2a (hisa_tokens_filter.cu, HISA_TOKENS_FILTER=1): stage 1b marks
  // the set A of each row's kept blocks (first, own and the a_blocks - 2 best middle blocks by
  // J; a_blocks = filter_a_blocks: about 2 * topk tokens) in a_mask (bit i of row r's a_words words: kept entry i; all bits set where
  // stage 1b did not refine it, e.g. every row that keeps all its blocks). Stage 2a scores A
  // first, takes tau = a lower bound of A's k-th score from a histogram (cand_tau[r], a score
  // key), then stores each candidate as a (score, position) pair in no order, A's all and the
  // others only when >= tau: scores[r * scores_ld + i] and cand_pos[r * scores_ld + i] for
  // i < cand_end[r]. The top k of those pairs is the row's top k (docs/cuda_hisa.md).
  uint32_t* a_mask = nullptr;
  int a_words = 0;
  int a_blocks = 0;
  uint16_t* cand_pos = nullptr;
  uint32_t* cand_tau = nullptr;
};

// Kept blocks the filtered stage 2a scores first (A: first, own and the best middle ones): as
// many as hold 2 * topk tokens (64 at topk = 2048, B = 64; 32 at B = 128), at least 3. A bound of
// A's k-th score from ~2k scores leaves ~1.2 k of the m * B candidates on the structured workload
// (bench/results/cpu_2026-12-08_eadc6d8_threshold_emul.txt); from ~k scores it is ~their minimum.
inline int filter_a_blocks(int64_t topk, int64_t B) {
  const int64_t blocks = (2 * topk + B - 1) / B;
  return static_cast<int>(blocks < 3 ? 3 : blocks);
}

// The shape of query t's work (SPEC.md): blocks align to ks; when every block is kept (nb <= m)
// or every token fits (n <= topk), the answer is flat's and stage 1 is skipped.
struct RowGeometry {
  int ks, ke, n, nb;
  bool all_blocks;  // kept = every block 0..nb-1
  int nk;           // kept blocks
  int cvalid;       // candidates: positions [0, cvalid) (only the last kept block is partial)
  int K;            // outputs: min(topk, cvalid)
};

__host__ __device__ inline RowGeometry row_geometry(int ks, int ke, int B, int m, int topk) {
  RowGeometry g;
  g.ks = ks;
  g.ke = ke;
  g.n = ke - ks;
  g.nb = (g.n + B - 1) / B;
  g.all_blocks = g.nb <= m || g.n <= topk;
  g.nk = g.all_blocks ? g.nb : m;
  g.cvalid = g.all_blocks ? g.n : (m - 1) * B + (g.n - (g.nb - 1) * B);
  g.K = g.cvalid < topk ? g.cvalid : topk;
  return g;
}

// MISA's re-scoring geometry (C = c * topk candidates by the routed score, B = router block):
// a row that sees at most C tokens keeps them all, and a row with no full block before its
// local one (n <= B) routes to every head, so both take their whole range (flat's answer,
// SPEC.md); every other row holds exactly C candidates in its list. all_blocks = whole range.
__host__ __device__ inline RowGeometry misa_row_geometry(int ks, int ke, int B, int C, int topk) {
  RowGeometry g;
  g.ks = ks;
  g.ke = ke;
  g.n = ke - ks;
  g.nb = 0;
  g.all_blocks = g.n <= C || g.n <= B;
  g.nk = 0;
  g.cvalid = g.all_blocks ? g.n : C;
  g.K = g.cvalid < topk ? g.cvalid : topk;
  return g;
}

// Shared-memory ints of a shared_candidates row's block list and union bitmap.
__host__ __device__ inline int shared_list_ints(const HisaParams& p) {
  return p.list_max + (p.nbmax + 31) / 32;
}

#if defined(__CUDACC__)
// Query t's geometry with its range clamped into [0, S] and ks <= ke, so that a caller who
// skipped the value checks can get a wrong row but never an access outside k.
__device__ inline RowGeometry row_of(const HisaParams& p, int64_t t) {
  int a = p.ks[t], b = p.ke[t];
  a = a < 0 ? 0 : (a > p.S ? p.S : a);
  b = b < a ? a : (b > p.S ? p.S : b);
  return row_geometry(a, b, p.B, p.m, p.topk);
}
__device__ inline RowGeometry misa_row_of(const HisaParams& p, int64_t t) {
  int a = p.ks[t], b = p.ke[t];
  a = a < 0 ? 0 : (a > p.S ? p.S : a);
  b = b < a ? a : (b > p.S ? p.S : b);
  return misa_row_geometry(a, b, p.B, p.m, p.topk);
}
#endif

// pool_keys.cu -------------------------------------------------------------------------------
// used[r] = 1 for every residue r = ks[t] % B of a query that needs block scores.
void launch_mark_residues(const HisaParams& p, int T_total, uint32_t* used, cudaStream_t st);
// pooled row p = mean of k_scale[s] * k[s,:] over s in [p, p + B), for every p with
// used[p % B] and p + B <= S (SPEC.md pooled key; the CPU arithmetic, bitwise, in f32).
// `bf16_out`: rounded to bf16 (tensor-core stage 1), else f32.
void launch_pool_keys(const HisaParams& p, const uint32_t* used, void* pooled, bool bf16_out,
                      cudaStream_t st);

// hisa_shared_tiles.cu: seq_first[ks] = first row with that (clamped) ks, for every row.
void launch_seq_first(const HisaParams& p, int T_total, int32_t* table, cudaStream_t st);

// hisa_portable.cu: CUDA cores, any dtype/H/D, sm_80+; bitwise equal to the CPU backend ----
std::size_t portable_blocks_smem(const HisaParams& p);
std::size_t portable_tokens_smem(const HisaParams& p);
void launch_portable_blocks(const HisaParams& p, cudaStream_t st);  // stage 1: kept blocks
void launch_portable_tokens(const HisaParams& p, cudaStream_t st);  // stage 2 (p.lists: MISA)

// hisa_sm90.cu: wgmma tensor cores, sm_90a only, H == 64, D == 128, FP8 or bf16 ------------
bool sm90_supported(const HisaParams& p);
std::size_t sm90_blocks_smem(const HisaParams& p);
std::size_t sm90_tokens_smem(const HisaParams& p);  // with p.stream_cap as set
int sm90_stream_cap(const HisaParams& p);            // the streaming buffer's size
void launch_sm90_blocks(const HisaParams& p, cudaStream_t st);
void launch_sm90_tokens(const HisaParams& p, cudaStream_t st);  // p.lists: MISA re-scoring
// hisa_tokens_tma.cu: the two-pass stage 2a (p.scores set) with a TMA producer warp and two
// math warpgroups per CTA (FP8, H = 64, D = 128, B % 64 == 0, own kept blocks); same scores,
// bitwise, as launch_sm90_tokens in two-pass mode.
bool sm90_tma_tokens_supported(const HisaParams& p);
void launch_sm90_tma_tokens(const HisaParams& p, cudaStream_t st);
// hisa_tokens_union.cu: the same contract and bitwise the same scores with rows Qi .. Qi + Q - 1
// of one sequence as one item over the union of their kept blocks (each key tile loaded once
// per item). rows_per_item: 2 (pairs), 4 (quads), 1 (the pair kernel with every row alone: an
// A/B arm for its machinery).
bool sm90_union_tokens_supported(const HisaParams& p);
// rows_per_item 2 (pairs; row_per_warpgroup: each math warpgroup takes one row of the pair and
// every stage), 4 (quads) or 1 (each row alone).
void launch_sm90_union_tokens(const HisaParams& p, cudaStream_t st, int rows_per_item,
                              bool row_per_warpgroup = false);
// hisa_tokens_filter.cu: the filtered stage 2a (score order, HisaParams::a_mask, cand_pos,
// cand_tau set): A's blocks first, then only scores >= tau, stored as (score, position) pairs;
// the same scores, bitwise, as launch_sm90_tma_tokens.
bool sm90_filter_tokens_supported(const HisaParams& p);
void launch_sm90_filter_tokens(const HisaParams& p, cudaStream_t st);
// hisa_tokens_wide.cu: the same contract and bitwise the same scores on one CTA per SM (four
// math warpgroups with the weights in registers, an epilogue warpgroup for the stores).
bool sm90_wide_tokens_supported(const HisaParams& p);
void launch_sm90_wide_tokens(const HisaParams& p, cudaStream_t st);
// hisa_blocks_tma.cu: stage 1 as a block scorer (TMA producer warp, two math warpgroups; FP8 or
// bf16, H = 64, D = 128, m >= 3, any B) that writes row r's block scores J(t, j) to
// scores[r * scores_ld + j], j in [1, nb - 1), then select_kept (one CTA per row) writes the
// kept lists; with cand_begin/cand_end set (long rows) the radix top-k does, in index order.
// Same block scores, bitwise, and the same lists as launch_sm90_blocks.
bool sm90_tma_blocks_supported(const HisaParams& p);
// pairs: the query-pair kernel (two rows of one sequence per wgmma m64n128; HISA_BLOCKS_PAIR).
void launch_sm90_tma_blocks(const HisaParams& p, cudaStream_t st, bool pairs);

// hisa_sm90_pair.cu: the same kernels with two neighbouring queries per CTA, sharing key tiles
// (sm_90a, H == 64, D == 128, FP8 or bf16, B % 64 == 0, not MISA lists) ---------------------
bool sm90_pair_supported(const HisaParams& p);
std::size_t sm90_pair_blocks_smem(const HisaParams& p);
std::size_t sm90_pair_tokens_smem(const HisaParams& p);
void launch_sm90_pair_blocks(const HisaParams& p, cudaStream_t st);
void launch_sm90_pair_tokens(const HisaParams& p, cudaStream_t st);
void hisa_bench_pair_score_only(bool on);  // set by hisa_bench_score_only

// hisa_select.cu: test hook. When true, hisa_select always takes the portable kernels (the
// tests run both paths on one GPU). Not thread-safe; tests only.
void hisa_force_portable(bool on);
// Test hook: -1 (default) = the streaming selection only where the dense key array does not
// fit in shared memory (HISA_STREAM=0/1 overrides), 0 = never, 1 = wherever supported.
// Not thread-safe; tests only.
void hisa_set_streaming(int mode);
// Test hook: -1 (default) = the two-pass stage 2 (HisaParams::scores) where hisa_select's rule
// picks it (sm_90a HISA; HISA_TWO_PASS=0/1 overrides), 0 = never, 1 = wherever supported
// (sm_90a, Q = 1, HISA and block-sparse).
// Not thread-safe; tests only.
void hisa_set_two_pass(int mode);
// Test hook: -1 (default) = the two-pass stage 2a on the TMA kernel (hisa_tokens_tma.cu)
// wherever it is supported (HISA_TMA_TOKENS=0/1 overrides), 0 = the one-warpgroup kernel.
// Not thread-safe; tests only.
void hisa_set_tma_tokens(int mode);
// Test hook: 1 = the TMA stage 2a on the epilogue-warpgroup kernel (hisa_tokens_wide.cu) where
// supported, 0 = not, -1 (default) = HISA_TOKENS_EPI (off unless 1). Not thread-safe.
void hisa_set_tokens_epi(int mode);
// Test hook: the TMA stage 2a on the union kernel (hisa_tokens_union.cu) with 1 = row pairs,
// 2 = every row alone, 3 = row quads, 4 = row pairs with a math warpgroup per row; 0 = not;
// -1 (default) = HISA_TOKENS_UNION=1 (pairs), HISA_TOKENS_UNION_ROWWG=1 (pairs, a warpgroup
// per row), HISA_TOKENS_UNION4=1 (quads) or HISA_TOKENS_UNION_SINGLE=1 (alone), else not.
// Not thread-safe; tests only.
void hisa_set_tokens_union(int mode);
// Test hook: 1 = the filtered stage 2a (hisa_tokens_filter.cu) with pair rows for stage 2b
// where supported (score order, m > filter_a_blocks, m * B <= 16384, topk <= 2048), 0 = not,
// -1 (default) = HISA_TOKENS_FILTER (off unless 1). Not thread-safe; tests only.
void hisa_set_tokens_filter(int mode);
// Test hook: -1 (default) = stage 1 on the TMA block scorer + radix top-k (hisa_blocks_tma.cu)
// wherever it is supported (HISA_TMA_BLOCKS=0/1 overrides), 0 = the one-warpgroup kernel.
// Not thread-safe; tests only.
void hisa_set_tma_blocks(int mode);
// Test hook: 1 = the TMA stage 1 on query pairs (hisa_blocks_tma.cu's pair kernel), 0 = one
// query per item, -1 (default) = HISA_BLOCKS_PAIR (on unless 0). Not thread-safe.
void hisa_set_blocks_pair(int mode);
// Test hook: true runs plain HISA (Q = 1) through the shared_candidates kernels (tiles of one
// row: each union is the row's own kept list). Not thread-safe; tests only.
void hisa_force_shared_tiles(bool on);
// Test hook: -1 (default) = query pairs unless HISA_PAIR=0, 0 = one query per CTA, 1 = pairs
// wherever supported. Not thread-safe; tests only.
void hisa_set_pairing(int mode);
// Benchmark hook: when set (4 events), hisa_select records ev[0] at its start, ev[1] after
// pooling, ev[2] after the first chunk's stage 1 and ev[3] at its end. Null turns it off.
void hisa_set_stage_events(cudaEvent_t* ev);
// Benchmark hook: when on, the sm_90a stage 2 scores every candidate but skips the selection
// and writes garbage idx rows (one element per row): stage 2 time minus this = selection time.
void hisa_bench_score_only(bool on);
// Whether that hook is on (two-pass: hisa_select then skips the radix top-k and the mapping,
// so the split is the tokens kernel's scoring vs the two-pass selection).
bool hisa_bench_score_only_enabled();

}  // namespace hisa::cuda
