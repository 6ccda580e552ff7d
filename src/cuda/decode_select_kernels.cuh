// The decode pipeline's selection and value-check kernels (decode_select.cu launches them):
// kept blocks and the ranked top-k of the candidates, in the v1 (register sort) and v2
// (bucket ranking, decode_rank.cuh) forms, a ranking test hook, and the device value checks.
// Included by decode_select.cu alone.
#pragma once

#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/decode_common.cuh"
#include "cuda/decode_rank.cuh"
#include "cuda/hisa_block_ops.cuh"
#include "cuda/hisa_rows.cuh"
#include "cuda/methods.cuh"

namespace hisa::cuda::decode_kernels {

using dec::DecodeParams;
using dec::Stage;
using hisa_ops::SelectScratch;

constexpr int kSelectThreads = 128;
constexpr int kRegSortItems = 128 * 16;  // finish_tokens' register sort (1024 < K <= 2048)

// ---- selection kernels -----------------------------------------------------------------------

// The token kernels' row r: its geometry and output row; an empty row is filled with -1
// (false: the kernel returns).
__device__ __forceinline__ bool open_token_row(const DecodeParams& p, int r, RowGeometry& g,
                                               int32_t*& out_row) {
  g = dec::decode_row_geometry(p, dec::row_visible(p, r));
  out_row = p.out + static_cast<int64_t>(r) * p.topk;
  if (g.n != 0) return true;
  for (int i = threadIdx.x; i < p.topk; i += blockDim.x) out_row[i] = -1;
  return false;
}

// Kept blocks of row r (rows that select): block 0, block nb-1 and the m-2 best middle blocks
// by J (ties to the larger j), ascending, into kept[r][0..m).
__global__ void __launch_bounds__(kSelectThreads) block_select_kernel(DecodeParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int r = blockIdx.x;
  const RowGeometry g = dec::decode_row_geometry(p, dec::row_visible(p, r));
  if (g.n == 0 || g.all_blocks) return;
  auto& sc = *reinterpret_cast<SelectScratch*>(smem);
  uint32_t* jk = reinterpret_cast<uint32_t*>(smem + (sizeof(SelectScratch) + 15) / 16 * 16);
  const int nmid = g.nb - 2;
  const uint32_t* src = p.jkeys + static_cast<int64_t>(r) * p.nbmax;
  for (int i = threadIdx.x; i < nmid; i += blockDim.x) jk[i] = src[i];
  __syncthreads();
  finish_blocks(g, p.m, jk, p.kept + static_cast<int64_t>(r) * p.m, sc);
}

struct TokenCarve {
  size_t scratch, sort, keys, blocks, total;
};
__host__ __device__ inline TokenCarve token_carve(int cmax, int m, int sort_items) {
  TokenCarve c{};
  size_t o = 0;
  c.scratch = o; o += (sizeof(SelectScratch) + 15) / 16 * 16;
  c.sort = o;    o += sizeof(uint64_t) * static_cast<size_t>(sort_items);
  c.keys = o;    o += (sizeof(uint32_t) * static_cast<size_t>(cmax) + 15) / 16 * 16;
  c.blocks = o;  o += sizeof(int32_t) * static_cast<size_t>(m);
  c.total = o;
  return c;
}

// Row r's candidate keys (g.cvalid of them) and, unless every block is kept, its kept blocks
// into shared memory, for the token selection kernels (v1 and v2); ends with a barrier.
__device__ __forceinline__ void stage_row_candidates(const DecodeParams& p, const RowGeometry& g,
                                                     int r, uint32_t* keys, int32_t* blocks) {
  const uint32_t* src = p.ckeys + static_cast<int64_t>(r) * p.cmax;
  for (int i = threadIdx.x; i < g.cvalid; i += blockDim.x) keys[i] = src[i];
  if (!g.all_blocks)
    for (int i = threadIdx.x; i < p.m; i += blockDim.x)
      blocks[i] = p.kept[static_cast<int64_t>(r) * p.m + i];
  __syncthreads();
}

// The idx row of row r: the top min(topk, cvalid) candidates by score (ties to the larger
// position, NaN last), ranked, as positions; -1 after.
template <int IPT>
__global__ void __launch_bounds__(kSelectThreads) token_select_kernel(DecodeParams p, int sort_items) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int r = blockIdx.x;
  RowGeometry g;
  int32_t* out_row;
  if (!open_token_row(p, r, g, out_row)) return;
  const TokenCarve c = token_carve(p.cmax, p.m, sort_items);
  auto& sc = *reinterpret_cast<SelectScratch*>(smem + c.scratch);
  uint64_t* sortbuf = reinterpret_cast<uint64_t*>(smem + c.sort);
  uint32_t* keys = reinterpret_cast<uint32_t*>(smem + c.keys);
  int32_t* blocks = reinterpret_cast<int32_t*>(smem + c.blocks);
  stage_row_candidates(p, g, r, keys, blocks);
  const int B = p.B;
  auto token = [&](int cidx) -> int32_t {
    const int i = cidx / B;
    return (g.all_blocks ? i : blocks[i]) * B + cidx % B;
  };
  finish_tokens<IPT>(g, p.topk, keys, token, sortbuf, sc, out_row);
}

// ---- v2 selection kernels (decode_rank.cuh): bucket ranking, 512 threads per row -------------

struct RankCarve {
  size_t sel, rank, keys, flags, beg, cur, stage, blocks, total;
};
// Shared memory of a v2 selection CTA: n keys (uint32), optional per-item flags (block select),
// nb bucket starts and cursors, `stage` uint64 entries (grouped items; also the fallback's sort
// buffer), m kept blocks (token select).
__host__ __device__ inline RankCarve rank_carve(int n, bool flags, int nb, int stage, int m) {
  RankCarve c{};
  size_t o = 0;
  auto up = [](size_t v) { return (v + 15) / 16 * 16; };
  c.sel = o;    o += up(sizeof(SelectScratch));
  c.rank = o;   o += up(sizeof(dec::RankScratch));
  c.keys = o;   o += up(sizeof(uint32_t) * static_cast<size_t>(n));
  c.flags = o;  o += flags ? up(static_cast<size_t>(n)) : 0;
  c.beg = o;    o += sizeof(uint32_t) * static_cast<size_t>(nb);
  c.cur = o;    o += sizeof(uint32_t) * static_cast<size_t>(nb);
  c.stage = o;  o += sizeof(uint64_t) * static_cast<size_t>(stage);
  c.blocks = o; o += sizeof(int32_t) * static_cast<size_t>(m);
  c.total = o;
  return c;
}

// Kept blocks of row r, as block_select_kernel, by bucket ranking of the middle blocks' J keys;
// finish_blocks (radix) when the fast path declines.
__global__ void __launch_bounds__(dec::kRankThreads, 3) block_rank_kernel(DecodeParams p, int nb_buckets,
                                                                        int stage_items) {
  dec::pdl_wait();
  dec::pdl_trigger();
  extern __shared__ __align__(16) unsigned char smem[];
  const int r = blockIdx.x;
  const RowGeometry g = dec::decode_row_geometry(p, dec::row_visible(p, r));
  if (g.n == 0 || g.all_blocks) return;
  const RankCarve c = rank_carve(p.nbmax, true, nb_buckets, stage_items, 0);
  auto& sc = *reinterpret_cast<SelectScratch*>(smem + c.sel);
  auto& rs = *reinterpret_cast<dec::RankScratch*>(smem + c.rank);
  uint32_t* jk = reinterpret_cast<uint32_t*>(smem + c.keys);
  uint8_t* flags = smem + c.flags;
  const int nmid = g.nb - 2;
  const uint32_t* src = p.jkeys + static_cast<int64_t>(r) * p.nbmax;
  for (int i = threadIdx.x; i < nmid; i += blockDim.x) {
    jk[i] = src[i];
    flags[i] = 0;
  }
  __syncthreads();
  int32_t* kept_row = p.kept + static_cast<int64_t>(r) * p.m;
  const bool ok = dec::bucket_rank_top(
      nmid, p.m - 2, nb_buckets, [&](int i) { return jk[i]; },
      [](int i) { return static_cast<uint32_t>(i); },
      [&](int, uint32_t, uint32_t idx) { flags[idx] = 1; },
      reinterpret_cast<uint32_t*>(smem + c.beg), reinterpret_cast<uint32_t*>(smem + c.cur),
      reinterpret_cast<uint64_t*>(smem + c.stage), rs, sc);
  if (!ok) {
    finish_blocks(g, p.m, jk, kept_row, sc);
    return;
  }
  __syncthreads();
  // Ascending compaction of the flagged middle blocks (as finish_blocks).
  const int per = (nmid + blockDim.x - 1) / blockDim.x;
  const int lo = min(nmid, static_cast<int>(threadIdx.x) * per), hi = min(nmid, lo + per);
  uint32_t mine = 0;
  for (int i = lo; i < hi; ++i) mine += flags[i];
  uint32_t total = 0;
  uint32_t at = 1 + hisa_ops::block_exclusive_scan(mine, sc, total);
  for (int i = lo; i < hi; ++i)
    if (flags[i]) kept_row[at++] = i + 1;
  if (threadIdx.x == 0) {
    kept_row[0] = 0;
    kept_row[p.m - 1] = g.nb - 1;
  }
}

// The idx row of row r, as token_select_kernel, by bucket ranking of the candidates' keys;
// finish_tokens (radix select + shared-memory sort) when the fast path declines.
__global__ void __launch_bounds__(dec::kRankThreads, 3) token_rank_kernel(DecodeParams p, int nb_buckets,
                                                                        int stage_items) {
  dec::pdl_wait();
  dec::pdl_trigger();
  extern __shared__ __align__(16) unsigned char smem[];
  const int r = blockIdx.x;
  RowGeometry g;
  int32_t* out_row;
  if (!open_token_row(p, r, g, out_row)) return;
  const RankCarve c = rank_carve(p.cmax, false, nb_buckets, stage_items, p.m);
  auto& sc = *reinterpret_cast<SelectScratch*>(smem + c.sel);
  auto& rs = *reinterpret_cast<dec::RankScratch*>(smem + c.rank);
  uint32_t* keys = reinterpret_cast<uint32_t*>(smem + c.keys);
  int32_t* blocks = reinterpret_cast<int32_t*>(smem + c.blocks);
  uint64_t* stage = reinterpret_cast<uint64_t*>(smem + c.stage);
  stage_row_candidates(p, g, r, keys, blocks);
  const int B = p.B;
  const hisa_ops::BlockSplit split(B);
  auto token = [&](int cidx) -> int32_t {
    const int i = split.block(cidx);
    return (g.all_blocks ? i : blocks[i]) * B + split.offset(cidx);
  };
  const bool ok = dec::bucket_rank_top(
      g.cvalid, g.K, nb_buckets, [&](int i) { return keys[i]; },
      [&](int i) { return static_cast<uint32_t>(token(i)); },
      [&](int rank, uint32_t, uint32_t tok) { out_row[rank] = static_cast<int32_t>(tok); },
      reinterpret_cast<uint32_t*>(smem + c.beg), reinterpret_cast<uint32_t*>(smem + c.cur), stage,
      rs, sc);
  if (!ok) {
    finish_tokens<0>(g, p.topk, keys, token, stage, sc, out_row);
    return;
  }
  for (int i = g.K + threadIdx.x; i < p.topk; i += blockDim.x) out_row[i] = -1;
}

// Test hook (decode_rank_rows_for_test): row r of `keys` ([rows, n]) ranked by the v2 routine
// with index(i) = i, as token_rank_kernel does, fallback included.
__global__ void __launch_bounds__(dec::kRankThreads) rank_rows_test_kernel(const uint32_t* keys_g, int n,
                                                                            int K, int nb, int stage_items,
                                                                            int32_t* out, int32_t* path) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int r = blockIdx.x;
  const RankCarve c = rank_carve(n, false, nb, stage_items, 0);
  auto& sc = *reinterpret_cast<SelectScratch*>(smem + c.sel);
  auto& rs = *reinterpret_cast<dec::RankScratch*>(smem + c.rank);
  uint32_t* keys = reinterpret_cast<uint32_t*>(smem + c.keys);
  uint64_t* stage = reinterpret_cast<uint64_t*>(smem + c.stage);
  for (int i = threadIdx.x; i < n; i += blockDim.x) keys[i] = keys_g[static_cast<int64_t>(r) * n + i];
  __syncthreads();
  int32_t* out_row = out + static_cast<int64_t>(r) * K;
  RowGeometry g{};
  g.n = n;
  g.cvalid = n;
  g.K = n < K ? n : K;
  auto index = [](int i) { return static_cast<int32_t>(i); };
  const bool ok = dec::bucket_rank_top(
      n, g.K, nb, [&](int i) { return keys[i]; }, [](int i) { return static_cast<uint32_t>(i); },
      [&](int rank, uint32_t, uint32_t idx) { out_row[rank] = static_cast<int32_t>(idx); },
      reinterpret_cast<uint32_t*>(smem + c.beg), reinterpret_cast<uint32_t*>(smem + c.cur), stage, rs, sc);
  if (threadIdx.x == 0) path[r] = ok ? 1 : 0;
  if (!ok) {
    finish_tokens<0>(g, K, keys, index, stage, sc, out_row);
    return;
  }
  for (int i = g.K + threadIdx.x; i < K; i += blockDim.x) out_row[i] = -1;
}

// ---- device value checks -------------------------------------------------------------------

// res[0]: first sequence with a bad context_len; res[1]: first (b * max_pages + j) whose
// block-table entry is out of range among the pages sequence b uses; res[2], res[3]: first
// non-finite element of q, w. All start at ~0 (none).
__global__ void decode_check_kernel(DecodeParams p, unsigned long long* res, int check_finite) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t cap = static_cast<int64_t>(p.max_pages) * p.P;
  for (int64_t b = tid; b < p.batch; b += stride) {
    const int64_t n = p.context_lens[b];
    if (n < 0 || n > cap) atomicMin(res, static_cast<unsigned long long>(b));
  }
  const int64_t entries = static_cast<int64_t>(p.batch) * p.max_pages;
  for (int64_t e = tid; e < entries; e += stride) {
    const int64_t b = e / p.max_pages, j = e % p.max_pages;
    const int64_t n = p.context_lens[b];
    if (n < 0 || n > cap || j >= (n + p.P - 1) / p.P) continue;
    const int32_t v = p.block_table[e];
    if (v < 0 || v >= p.num_pages) atomicMin(res + 1, static_cast<unsigned long long>(e));
  }
  if (!check_finite) return;
  const int64_t rows = static_cast<int64_t>(p.batch) * p.next_n;
  const int64_t nq = rows * p.H * p.D;
  for (int64_t i = tid; i < nq; i += stride) {
    const bool bad = p.elem == 1
                         ? (static_cast<const uint8_t*>(p.q)[i] & 0x7F) == 0x7F
                         : (static_cast<const uint16_t*>(p.q)[i] & 0x7F80) == 0x7F80;
    if (bad) atomicMin(res + 2, static_cast<unsigned long long>(i));
  }
  for (int64_t i = tid; i < rows * p.H; i += stride)
    if (!isfinite(p.w[i])) atomicMin(res + 3, static_cast<unsigned long long>(i));
}

}  // namespace hisa::cuda::decode_kernels
