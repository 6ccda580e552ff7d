// Decode: token selection for the newest queries of many sequences whose index keys live in a
// paged cache, as serving engines hold it (SPEC.md "Decode"; docs/decode.md).
//
//   hisa::DecodeProblem p;                 // views, nothing is copied
//   p.cache = {DType::fp8_e4m3, num_pages, /*P=*/64, /*D=*/128, kv_cache};
//   p.batch = B; p.next_n = 1; p.H = 64;
//   p.q = q; p.w = w;                      // [batch, next_n, H, D], [batch * next_n, H]
//   p.context_lens = lens; p.block_table = table; p.max_pages = max_pages;
//   p.pooled = pooled;                     // HISA / block-sparse: the pooled-key cache
//   p.memory = Device::cuda;
//   hisa::decode_select(p, cfg, idx, opts); // idx int32 [batch, next_n, topk], positions
//
// Semantics: query i (0-based) of sequence b sees positions [0, context_lens[b] - next_n + i + 1)
// of its sequence and selects EXACTLY what the prefill selection (hisa::select) selects for that
// query at that position, with indices being positions within the sequence (0 .. ctx - 1).
#pragma once

#include <cstddef>
#include <cstdint>

#include "hisa/types.hpp"

namespace hisa {

// The paged index-key cache. Page p starts at byte p * page_bytes(cache) of `data`.
//   fp8_e4m3: DeepGEMM's / vLLM's [num_pages, P, 1, D + 4] uint8 array. Inside a page, bytes
//             [0, P*D) hold the P tokens' D e4m3 codes, token after token, and bytes
//             [P*D, P*D + 4P) the P float32 dequant scales (k_scale), token after token
//             (the [P, 1, D+4] shape is a view, not a per-token record).
//   bf16:     [num_pages, P, 1, D] bfloat16, token after token, no scale (k_scale = 1).
// Requirements (ArgumentError "kv_cache" otherwise): D a multiple of 16, P >= 1 (FP8: P a
// multiple of 4, so every page and its scales stay 16-byte aligned), data 16-byte aligned.
struct PagedCache {
  DType dtype = DType::fp8_e4m3;
  int64_t num_pages = 0;
  int64_t page_size = 64;  // P: tokens per page
  int64_t D = 128;
  const void* data = nullptr;
};
// Bytes of one page: P * (D + 4) for FP8, P * D * 2 for bf16.
int64_t page_bytes(const PagedCache& cache);

// The pooled-key cache of HISA and block-sparse decode: f32 [num_pages, D], one row per
// physical page of the paged cache (allocate cache.num_pages * D floats). The pooled key of
// block j (tokens [jB, (j+1)B)) of a sequence lives in the row of the block's FIRST page,
// block_table[b][j * B / P]; rows of other pages are unused. A full block's row holds
//   kbar_j[d] = (sum over its tokens s ascending of f32(k_scale[s] * k[s, d])) / f32(B)
// (products rounded to f32, then added, no fma; one division): bitwise the pooled key of the
// CPU reference (src/cpu/score.hpp), so decode selects exactly what prefill selects. The row
// of a sequence's open (not yet full) block holds the running f32 sum of its tokens so far;
// it becomes the mean when the block's last token is appended. Nothing else is stored.
struct PooledCache {
  float* data = nullptr;
  int64_t block_size = 64;  // B: a multiple of the page size P
};

// One decode step's inputs. All pointers live in `memory`.
struct DecodeProblem {
  PagedCache cache;
  int64_t batch = 0;    // sequences
  int64_t next_n = 1;   // queries per sequence, 1..4 (MTP / speculative decoding)
  int64_t H = 64;       // heads
  const void* q = nullptr;                // [batch, next_n, H, D], cache.dtype
  const float* w = nullptr;               // [batch * next_n, H] head weights
  const int32_t* context_lens = nullptr;  // [batch]: keys of each sequence, incl. the new ones
  const int32_t* block_table = nullptr;   // [batch, max_pages]: entry j holds tokens [jP, (j+1)P)
  int64_t max_pages = 0;                  // row length of block_table
  const float* pooled = nullptr;          // PooledCache::data: needed by hisa and block
  Device memory = Device::cpu;
};

// Writes idx [batch, next_n, cfg.topk] int32 into `out` (same memory as the problem): for each
// query, positions in its sequence, best first (ties to the larger position, NaN last), -1
// padded. Methods: flat, hisa, block (block_summary mean); cfg.block_size is B for hisa/block
// and must equal the PooledCache's B. Rows whose visible length is <= 0 are all -1.
// opts.check_values (host inputs: always possible; device inputs: one host sync) checks
// context_lens in [0, max_pages * P], the block-table entries a sequence uses in
// [0, num_pages), and NaN/Inf in q, w (and, on host, in the used keys and scales) unless
// allow_nonfinite. With check_values = false the CUDA path never syncs the host and, for fixed
// batch / next_n / max_pages / config, is capturable in a CUDA graph; bad values then give
// wrong rows but never an access outside the cache (every index is clamped).
void decode_select(const DecodeProblem& p, const Config& cfg, int32_t* out,
                   const Options& opts = {});

// Device workspace bytes decode_select needs for this shape and config (0 on the CPU). It
// depends on batch, next_n, max_pages, P and the config only, not on the context lengths.
std::size_t decode_workspace_bytes(const DecodeProblem& p, const Config& cfg, Device device);

// Shape/config validation only (no value scans). Throws ArgumentError.
void validate_decode_shapes(const DecodeProblem& p, const Config& cfg);

// ---- maintaining the pooled-key cache -------------------------------------------------------

// Tokens that were just written into the paged cache, in one of two forms.
//  (a) vLLM's slot mapping (slot_mapping != null): n tokens; token i sits at slot
//      slot_mapping[i] = page * P + offset (negative: a padding token, skipped) and has
//      position positions[i] in its sequence. When B > P a block spans several pages and its
//      pooled row is keyed by its first page, so seq_index[i] (the token's row of block_table)
//      and the block table are needed too; with B == P they may be null.
//      The tokens of one sequence must be consecutive in the list (padding tokens may sit
//      anywhere) and in ascending position order, as engines lay them out; checked on host
//      inputs, assumed on device inputs.
//  (b) per sequence (slot_mapping == null): sequence b appended its last `new_tokens` tokens,
//      positions [context_lens[b] - new_tokens, context_lens[b]) (context_lens after the
//      append); new_tokens = -1 means the whole context (this is pooled_build).
struct PooledUpdate {
  int64_t n = 0;
  const int64_t* slot_mapping = nullptr;  // (a) [n]
  const int32_t* positions = nullptr;     // (a) [n]
  const int32_t* seq_index = nullptr;     // (a) [n], needed when B > P
  int64_t batch = 0;                      // rows of block_table (and of context_lens)
  const int32_t* block_table = nullptr;   // [batch, max_pages]: (b), and (a) when B > P
  int64_t max_pages = 0;
  const int32_t* context_lens = nullptr;  // (b) [batch]
  int64_t new_tokens = 1;                 // (b)
  Device memory = Device::cpu;            // where all of the above and the caches live
};

// Folds the new tokens into the pooled cache: each touched block's row gets the tokens added
// to its running sum in position order (a block's first token starts a fresh sum, so stale
// rows of reused pages need no clearing), and a block whose last token arrived gets its mean.
// Never re-reads earlier tokens. CUDA: one small kernel on opts.stream, no host sync when
// check_values is false (graph-capturable).
void pooled_update(const PagedCache& cache, const PooledCache& pooled, const PooledUpdate& u,
                   const Options& opts = {});

// Prefill-to-decode hand-off: builds the pooled rows of every block (full: mean; open: running
// sum) of sequences [0, batch) from the paged cache. Equal, bit for bit, to appending the same
// tokens one pooled_update at a time.
void pooled_build(const PagedCache& cache, const PooledCache& pooled, int64_t batch,
                  const int32_t* block_table, int64_t max_pages, const int32_t* context_lens,
                  const Options& opts = {}, Device memory = Device::cpu);

}  // namespace hisa
