// Row-wise top-k by radix select on the GPU (no full sort), reusable by every method:
// flat selects tokens from a logits row, HISA's stage 1 may select blocks from a block-score row.
//
// Row r holds candidates in columns [begin[r], end[r]) of scores + r * ld. The result row
// out + r * out_ld gets the column indices of the best min(k, n) candidates ranked by score
// descending, ties to the LARGER column, NaN below everything (rank_key in common.cuh, the
// CPU backend's comparator), then -1 up to k. Exact: no tolerance, no approximation.
//
// Algorithm (one CTA of 512 threads per row): the 64-bit rank keys (score key << 32 | column)
// are unique, so the k-th largest key T is found digit by digit (12 bits per pass) with a
// shared-memory histogram over the keys that still match the resolved prefix. Passes read the
// row from global memory until the undecided bin holds <= `cap` keys; those are copied into
// shared memory (the keys above the bin go straight to the output list) and the remaining
// passes run there. The final list {key >= T} (exactly min(k, n) keys) is ranked by a counting
// sort on key buckets (k <= 2048, topk_bucket_rank.cuh; a set with a bucket of more than 32
// keys is sorted in registers instead) or bitonic-sorted in shared memory. Typical long rows cost two reads of the row
// (histogram + collect); ties and degenerate rows (all scores equal) cost a few more passes,
// never a wrong answer.
//
// Short rows (k < n <= 16384 at k = 2048: HISA's stage-2 candidate rows) are copied by column
// as 32-bit score keys and selected by one bucket histogram (topk_bucket_select.cuh; default,
// HISA_TOPK_SELECT=0 turns it off): in score order one counting sort selects and ranks, in
// index order it finds the k-th key; a row it refuses (crowded buckets) takes the passes below.
//
// Index order (sorted && by_index) needs no sort: the keys stay in column order throughout (a
// short row, k = 2048: up to 16384 columns, HISA's stage-2 candidate rows, is copied by column
// as 32-bit score keys, the column being the position, and the threshold passes run there; a
// long row's collect pass keeps every key at or above the undecided bin in column order) and
// the final pass writes the columns of the keys >= T by block-wide prefix sums
// (topk_ordered.cuh). A row with n <= k is written without reading it.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace hisa::cuda {

// Largest k the shared-memory ranking supports (the sort buffer is next_pow2(k) 8-byte keys).
constexpr int64_t kRadixTopkMaxK = 16384;

// HISA's two-pass stage 2b (hisa_select.cu): row r's columns are candidate positions of the
// kept blocks of query t = t0 + r, written as tokens: pos -> ks + kept[r * m + pos / B] * B +
// pos % B, or ks + pos for a row that keeps every block (row_geometry's all_blocks), with
// [ks, ke) = [ks[t], ke[t]] clamped into [0, S]. Positions ascend with tokens, so both orders
// carry over. Set `kept` to enable.
struct KeptBlockColumns {
  const int32_t* kept = nullptr;  // device [rows, m]
  const int32_t* ks = nullptr;    // device [t0 + rows]
  const int32_t* ke = nullptr;
  int64_t t0 = 0;
  int S = 0, B = 0, m = 0, topk = 0;
};

struct TopkRowsArgs {
  const float* scores = nullptr;  // device, row r at scores + r * ld
  const uint16_t* scores_f16 = nullptr;  // instead of `scores`: IEEE half rows (MISA's routed
                                         // logits), ranked by their exact f32 values
  int64_t ld = 0;                 // floats between rows
  int64_t rows = 0;
  int64_t cols = 0;               // columns of a row; ranges are clamped into [0, cols]
  const int32_t* begin = nullptr; // device [rows] or null (then the row is [0, cols))
  const int32_t* end = nullptr;   // device [rows] or null
  int64_t k = 0;                  // 1 <= k <= kRadixTopkMaxK
  int32_t* out = nullptr;         // device, row r at out + r * out_ld, k entries written
  int64_t out_ld = 0;
  bool sorted = true;             // false: the same set, in no particular order (then -1)
  bool by_index = false;          // with sorted: ascending column instead of score order
  KeptBlockColumns columns;       // optional: write tokens of kept blocks instead of columns
  // Pair rows (HISA's filtered stage 2a, hisa_tokens_filter.cu; score order, k <= 2048, cols <=
  // 16384, `columns` set): row r holds end[r] pairs (scores[r * ld + i], positions[r * ld + i])
  // in no order, begin[r] = 0, positions distinct and below cols; a pair whose score key
  // (common.cuh score_key) is below min_key[r] (if given) may be dropped, which the caller
  // guarantees cannot change the row's top k. The short-row kernel selects them by (score,
  // position); a row it refuses is rewritten in place by position (scores[r * ld + pos], NaN
  // where no pair is kept) with end[r] = the row's candidate count, and the retry pass selects
  // it as an ordinary row: `scores` and `end` must then be writable.
  const uint16_t* positions = nullptr;
  const uint32_t* min_key = nullptr;
};

// Test hook for the score-order ranking of k <= 2048: -1 (default) = HISA_TOPK_BUCKETS=0/1,
// else kBucketRankDefault; 0 = the register sort; 1 = the bucket ranking (topk_bucket_rank.cuh).
void radix_topk_set_bucket_rank(int mode);
// Test hook for score-order rows of k < n <= the short-row limit (16384 columns at k = 2048):
// -1 (default) = HISA_TOPK_SELECT=0/1, else on; 1 = one counting sort that selects and ranks
// (topk_bucket_select.cuh, the radix passes when a bucket is crowded); 0 = the radix passes.
void radix_topk_set_bucket_select(int mode);
// Test hook for rows of k <= 2048 and at most 16384 columns: 1 = the short-row kernel in
// 256-thread CTAs with the radix kernel's retry pass for the rows it refuses (topk_short.cuh),
// 0 = the radix kernel alone, -1 (default) = HISA_TOPK_SHORT_CTA=0/1, else on for rows of at
// most 8192 columns (topk_switches.cu).
void radix_topk_set_short_cta(int mode);
// Test hook for the short-row kernel's bucket limit (topk_bucket_select.cuh, SelectShared's
// kLimit): 1 = 64 keys, 0 = 32, -1 (default) = HISA_TOPK_BUCKET64=0/1, else 64.
void radix_topk_set_bucket64(int mode);
// Test hook for the sampled window of long rows (HISA_TOPK_SAMPLE): -1 = environment /
// default (on for rows of >= HISA_TOPK_SAMPLE_MIN, default 65536, columns), 0 = off, 1 = on
// for every long row, 2 = on for every long row with its bounds by histograms
// (HISA_TOPK_SAMPLE_HIST, topk_sample_window.cuh's bounds_by_histogram).
void radix_topk_set_sample(int mode);

// Enqueues the selection on `stream`. No allocation, no host sync (graph-capturable).
// Throws ArgumentError for k outside [1, kRadixTopkMaxK], BackendError on launch failure.
void radix_topk_rows(const TopkRowsArgs& args, cudaStream_t stream);

}  // namespace hisa::cuda
