// The two row-finishing steps every HISA kernel shares, once a CTA holds one query's scores
// (as ranking keys) in shared memory:
//   finish_blocks: keep block 0, the local block nb-1 and the m-2 best middle blocks (ties to
//                  the larger j) and write the kept list in ascending order;
//   finish_tokens: keep the top K candidates (ties to the larger index, NaN last), sort them,
//                  write the idx row with -1 padding (finish_select: the same over any view).
//                  Order::index (RowOrder below) writes the same set in ascending index order:
//                  with no sort at all when candidate positions already ascend with the index.
#pragma once

#include "cuda/hisa_block_ops.cuh"
#include "cuda/hisa_launch.cuh"
#include "cuda/hisa_register_sort.cuh"

namespace hisa::cuda {

// The filtered stage 2a's set A (HisaParams::a_mask), written by finish_blocks when asked: bit
// i of `row` (`words` words, written whole) marks kept entry i when it is the first block, the
// own block or one of the a_blocks - 2 best middle blocks (finish_blocks' ranking: J, ties to
// the larger block). `smem`: `words` words of shared memory. No row: no mask.
struct BestBlocksMask {
  int a_blocks = 0;
  uint32_t* row = nullptr;
  int words = 0;
  uint32_t* smem = nullptr;
};

// jkeys[i] = ranking key of middle block j = i + 1, i in [0, nb-2). Writes kept_row[0..m) and,
// if mask.row (uniform), the mask of A.
__device__ inline void finish_blocks(const RowGeometry& g, int m, const uint32_t* jkeys,
                                     int32_t* kept_row, hisa_ops::SelectScratch& sc,
                                     const BestBlocksMask mask = {}) {
  const int nmid = g.nb - 2;
  const hisa_ops::Threshold thr = hisa_ops::block_select_top(
      nmid, m - 2, [&](int i) { return jkeys[i]; },
      [](int i) { return static_cast<uint32_t>(i); }, sc);
  const bool marks = mask.row != nullptr;
  hisa_ops::Threshold best = thr;
  if (marks) {
    __syncthreads();  // the first select's last reads of sc are done
    best = hisa_ops::block_select_top(
        nmid, mask.a_blocks - 2, [&](int i) { return jkeys[i]; },
        [](int i) { return static_cast<uint32_t>(i); }, sc);
    for (int w = threadIdx.x; w < mask.words; w += blockDim.x) mask.smem[w] = 0;
    __syncthreads();
  }
  // Stable compaction: each thread takes a contiguous run of positions, so the scan of the
  // per-thread counts gives ascending output order.
  const int per = (nmid + blockDim.x - 1) / blockDim.x;
  const int lo = min(nmid, static_cast<int>(threadIdx.x) * per), hi = min(nmid, lo + per);
  uint32_t mine = 0;
  for (int i = lo; i < hi; ++i) mine += thr.selects(jkeys[i], i) ? 1u : 0u;
  uint32_t total = 0;
  uint32_t at = 1 + hisa_ops::block_exclusive_scan(mine, sc, total);
  for (int i = lo; i < hi; ++i) {
    if (!thr.selects(jkeys[i], i)) continue;
    if (marks && best.selects(jkeys[i], i)) atomicOr(&mask.smem[at >> 5], 1u << (at & 31));
    kept_row[at++] = i + 1;
  }
  if (threadIdx.x == 0) {
    kept_row[0] = 0;
    kept_row[m - 1] = g.nb - 1;
  }
  if (marks) {
    if (threadIdx.x == 0) {
      atomicOr(&mask.smem[0], 1u);
      atomicOr(&mask.smem[(m - 1) >> 5], 1u << ((m - 1) & 31));
    }
    __syncthreads();
    for (int w = threadIdx.x; w < mask.words; w += blockDim.x) mask.row[w] = mask.smem[w];
  }
}

// How finish_select orders the row. score: SPEC.md's order (a sort by score). index_by_position:
// ascending index, and token_at(i) ascends with i (HISA's kept blocks, ascending), so an ordered
// compaction is the whole job. index_sorted: ascending index for any positions (MISA's candidate
// lists, the streaming buffer): the sort runs on the index instead of the score.
enum class RowOrder { score, index_by_position, index_sorted };

// The row order of a HISA kernel: HisaParams::order (0 = score) and whether its positions
// ascend with the token index.
__host__ __device__ inline RowOrder row_order(int order, bool positions_ascend) {
  if (order == 0) return RowOrder::score;
  return positions_ascend ? RowOrder::index_by_position : RowOrder::index_sorted;
}

// Ordered compaction: the selected items of [0, n), in position order, as out_row[0..K), then
// -1 up to topk. Each warp takes a contiguous segment: one counting pass, the warp offsets,
// one writing pass (ballot prefixes); reads are consecutive, so shared memory sees no conflicts.
template <class Selected, class TokenAt>
__device__ inline void write_in_position_order(int n, int K, int topk, Selected selected,
                                               TokenAt token_at, hisa_ops::SelectScratch& sc,
                                               int32_t* out_row) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  const int seg = ((n + nwarps - 1) / nwarps + 31) & ~31;
  const int lo = min(n, warp * seg), hi = min(n, lo + seg);
  uint32_t count = 0;
  for (int b = lo; b < hi; b += 32) {
    const int i = b + lane;
    count += __popc(__ballot_sync(0xffffffffu, i < hi && selected(i)));
  }
  __syncthreads();  // every reader of sc.warp_sums (the select) is done
  if (lane == 0) sc.warp_sums[warp] = count;
  __syncthreads();
  uint32_t at = 0;
  for (int w = 0; w < warp; ++w) at += sc.warp_sums[w];
  for (int b = lo; b < hi; b += 32) {
    const int i = b + lane;
    const bool sel = i < hi && selected(i);
    const uint32_t ballot = __ballot_sync(0xffffffffu, sel);
    if (sel) out_row[at + __popc(ballot & ((1u << lane) - 1u))] = static_cast<int32_t>(token_at(i));
    at += __popc(ballot);
  }
  for (int i = K + threadIdx.x; i < topk; i += blockDim.x) out_row[i] = -1;
  __syncthreads();  // sc may be reused by the caller
}

// The top K of items [0, n) by (key_at(i), token_at(i)), sorted, as the idx row
// out_row[0..topk) with -1 padding (K <= n).
// sortbuf holds next_pow2(max(K, 1)) entries, and 128 * IPT when IPT > 0. IPT = 0 sorts in
// shared memory (any blockDim); IPT > 0 sorts in the registers of a 128-thread CTA
// (hisa_register_sort.cuh), for K <= 128 * IPT.
// `order` (RowOrder above) picks the order of the row; the set is the same.
template <int IPT = 0, class KeyAt, class TokenAt>
__device__ inline void finish_select(int n, int K, int topk, KeyAt key_at, TokenAt token_at,
                                     uint64_t* sortbuf, hisa_ops::SelectScratch& sc,
                                     int32_t* out_row, RowOrder order = RowOrder::score) {
  if (threadIdx.x == 0) sc.counter = 0;
  __syncthreads();
  const hisa_ops::Threshold thr = hisa_ops::block_select_top(
      n, K, key_at, [&](int i) { return static_cast<uint32_t>(token_at(i)); }, sc);
  if (order == RowOrder::index_by_position) {
    write_in_position_order(
        n, K, topk,
        [&](int i) { return thr.selects(key_at(i), static_cast<uint32_t>(token_at(i))); },
        token_at, sc, out_row);
    return;
  }
  // index_sorted: the sort key is the complemented index (descending = ascending index).
  const bool by_index = order == RowOrder::index_sorted;
  // Compaction into the sort buffer: one atomic per warp (ballot), not one per item.
  const int lane = threadIdx.x & 31;
  for (int base = threadIdx.x - lane; base < n; base += blockDim.x) {
    const int i = base + lane;
    bool sel = false;
    uint64_t item = 0;
    if (i < n) {
      const uint32_t tok = static_cast<uint32_t>(token_at(i));
      const uint32_t key = key_at(i);
      sel = thr.selects(key, tok);
      item = (static_cast<uint64_t>(by_index ? ~tok : key) << 32) | tok;
    }
    const uint32_t ballot = __ballot_sync(0xffffffffu, sel);
    uint32_t at = 0;
    if (lane == 0 && ballot != 0u) at = atomicAdd(&sc.counter, static_cast<uint32_t>(__popc(ballot)));
    at = __shfl_sync(0xffffffffu, at, 0);
    if (sel) sortbuf[at + __popc(ballot & ((1u << lane) - 1u))] = item;
  }
  if constexpr (IPT > 0) {
    constexpr int kN = 128 * IPT;
    for (int i = K + threadIdx.x; i < kN; i += blockDim.x) sortbuf[i] = 0;  // sorts last
    __syncthreads();
    uint64_t v[IPT];
#pragma unroll
    for (int r = 0; r < IPT; ++r) v[r] = sortbuf[r * 128 + threadIdx.x];
    __syncthreads();  // sortbuf becomes the sort's exchange buffer
    hisa_ops::warpgroup_sort_desc<IPT>(v, sortbuf);
#pragma unroll
    for (int r = 0; r < IPT; ++r) {
      const int i = static_cast<int>(threadIdx.x) * IPT + r;
      if (i < topk) out_row[i] = i < K ? static_cast<int32_t>(v[r] & 0xFFFFFFFFu) : -1;
    }
    for (int i = kN + threadIdx.x; i < topk; i += blockDim.x) out_row[i] = -1;
  } else {
    const int n2 = hisa_ops::next_pow2(K > 0 ? K : 1);
    for (int i = K + threadIdx.x; i < n2; i += blockDim.x) sortbuf[i] = 0;  // sorts last
    hisa_ops::block_bitonic_sort_desc(sortbuf, n2);
    for (int r = threadIdx.x; r < topk; r += blockDim.x)
      out_row[r] = r < K ? static_cast<int32_t>(sortbuf[r] & 0xFFFFFFFFu) : -1;
  }
}

// keys[pos] = ranking key of candidate pos in [0, g.cvalid); token(pos) its key row. The
// top g.K of them as the idx row (finish_select).
template <int IPT = 0, class TokenAt>
__device__ inline void finish_tokens(const RowGeometry& g, int topk, const uint32_t* keys,
                                     TokenAt token, uint64_t* sortbuf,
                                     hisa_ops::SelectScratch& sc, int32_t* out_row,
                                     RowOrder order = RowOrder::score) {
  finish_select<IPT>(g.cvalid, g.K, topk, [&](int i) { return keys[i]; }, token, sortbuf, sc,
                     out_row, order);
}

}  // namespace hisa::cuda
