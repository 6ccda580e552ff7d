// Exact top-K ranking of one row's items in one CTA by value buckets (decode's selection
// kernels, "v2"; decode_select.cu). The v1 kernels select with radix passes over the 32-bit
// ranking keys and then bitonic-sort the K winners on one 128-thread CTA per row: a latency
// chain of ~10 barrier-separated passes over 4096 candidates plus a 66-stage sort. This file
// ranks in a fixed handful of passes instead:
//
//   1. statistics of the scores (the ranking key read back as a float): min, max, mean and
//      standard deviation of the finite ones;
//   2. histogram over nb buckets: bucket 0 holds NaN, buckets 1..nb-1 split the window
//      [max(min, mean - 4 sd), min(max, mean + 4 sd)] evenly (x = (s - lo) * scale, f32 with
//      explicit rounding; scores outside the window, +-Inf included, join the end buckets), so
//      the map is monotone: a larger score never lands in a lower bucket, equal keys share one;
//   3. a descending scan gives each bucket's first rank (items in higher buckets);
//   4. items of the buckets that start before rank K are grouped by bucket (stage);
//   5. each grouped item's rank = its bucket's first rank + the number of items of its bucket
//      that rank above it (key, then index: the order of hisa_rows.cuh, ties to the larger
//      index); items ranked < K are emitted with their rank.
//
// Exact for any input: bucketing only groups, the order inside a bucket is the exact
// (key, index) order. The fast path declines (returns false, nothing emitted, keys untouched)
// when a bucket that starts before rank K holds more than kRankLimit items (many equal scores,
// a far outlier that inflates the deviation) or nothing is finite: callers then run the v1
// selection (radix select + sort) on the same keys, so every input still gets the exact answer.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/hisa_block_ops.cuh"

namespace hisa::cuda::dec {

constexpr int kRankThreads = 512;  // CTA size of the v2 selection kernels
constexpr int kRankLimit = 256;    // largest bucket (starting before rank K) the fast path ranks

struct RankScratch {
  uint32_t wmin[32], wmax[32], wcnt[32], wbig[32];
  float wsum[32], wsq[32];
  int ntop;  // staged items: [0, ntop)
};

// Bucket count for n items: a power of two in [kRankThreads, 2048] (a multiple of the CTA; at
// most 8 per thread in the scan). 2048 buckets keep a 4096-candidate row's shared memory near
// 52 KB (4 CTAs of 512 threads per SM).
__host__ __device__ inline int rank_buckets(int n) {
  int b = kRankThreads;
  while (b < n && b < 2048) b <<= 1;
  return b;
}
// Stage entries the fast path may need for K of n items.
__host__ __device__ inline int rank_stage_items(int n, int K) {
  const int cap = K + kRankLimit;
  return n < cap ? n : cap;
}

// The score of a ranking key (hisa_ops::score_key's inverse; key 0 = NaN is never asked).
__device__ __forceinline__ float key_score(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k);
}

// Bucket of a key: 0 for NaN; for scores, x = (s - lo) * scale (f32, explicitly rounded, so the
// same key always gives the same bucket and a larger score never a lower one); scores below the
// window [lo, hi] (and -Inf) share bucket 1, scores above it (and +Inf) bucket nb - 1.
struct Buckets {
  float lo = 0.0f, scale = 0.0f;
  int nb = 0;
  __device__ __forceinline__ int of(uint32_t k) const {
    if (k == 0u) return 0;
    const float x = __fmul_rn(__fsub_rn(key_score(k), lo), scale);
    if (!(x >= 1.0f)) return 1;
    if (x >= static_cast<float>(nb - 2)) return nb - 1;
    return 1 + static_cast<int>(x);
  }
};

// Ranks the top min(K, n) of items [0, n) by (key desc, index desc); index(i) distinct, < 2^32.
// key_at(i) must be cheap (shared memory) and stable for the whole call. For every item of rank
// r < K: emit(r, key, index). beg / cur: nb uint32 each; stage: rank_stage_items(n, K) uint64.
// Returns false, having emitted nothing and written only beg / cur / rs / sc, when the fast path
// does not apply (see the file comment); the caller then selects another way. Must be called by
// all threads of the CTA (blockDim.x = kRankThreads, nb a multiple of it); ends without a
// barrier after the emits (callers synchronize before reading what emit wrote).
//
// The bucket window: [max(min, mean - 4 sd), min(max, mean + 4 sd)] over the finite scores, so
// that a few far values (a heavy tail, +-Inf) do not stretch the buckets of the bulk.
template <class KeyAt, class IndexAt, class Emit>
__device__ bool bucket_rank_top(int n, int K, int nb, KeyAt key_at, IndexAt index_at, Emit emit,
                                uint32_t* beg, uint32_t* cur, uint64_t* stage, RankScratch& rs,
                                hisa_ops::SelectScratch& sc) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  constexpr int kWarps = kRankThreads / 32;
  if (K <= 0 || n <= 0) return false;
  // 1. Statistics of the scores (min / max key over non-NaN items; count, sum and sum of
  // squares of the finite ones); zero the histogram meanwhile.
  uint32_t kmin = 0xFFFFFFFFu, kmax = 0u, cnt = 0u;
  float sum = 0.0f, sq = 0.0f;
  for (int i = tid; i < n; i += kRankThreads) {
    const uint32_t k = key_at(i);
    if (k != 0u) {
      kmin = k < kmin ? k : kmin;
      kmax = k > kmax ? k : kmax;
      const float v = key_score(k);
      if (isfinite(v)) {
        ++cnt;
        sum = __fadd_rn(sum, v);
        sq = __fmaf_rn(v, v, sq);
      }
    }
  }
  for (int i = tid; i < nb; i += kRankThreads) beg[i] = 0u;
  kmin = __reduce_min_sync(0xffffffffu, kmin);
  kmax = __reduce_max_sync(0xffffffffu, kmax);
  cnt = __reduce_add_sync(0xffffffffu, cnt);
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    sum = __fadd_rn(sum, __shfl_xor_sync(0xffffffffu, sum, off));
    sq = __fadd_rn(sq, __shfl_xor_sync(0xffffffffu, sq, off));
  }
  if (lane == 0) {
    rs.wmin[warp] = kmin;
    rs.wmax[warp] = kmax;
    rs.wcnt[warp] = cnt;
    rs.wsum[warp] = sum;
    rs.wsq[warp] = sq;
  }
  if (tid == 0) rs.ntop = n;
  __syncthreads();
  // Every thread combines the partials in the same order: identical, uniform decisions.
  kmin = 0xFFFFFFFFu;
  kmax = 0u;
  cnt = 0u;
  sum = 0.0f;
  sq = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    kmin = rs.wmin[w] < kmin ? rs.wmin[w] : kmin;
    kmax = rs.wmax[w] > kmax ? rs.wmax[w] : kmax;
    cnt += rs.wcnt[w];
    sum = __fadd_rn(sum, rs.wsum[w]);
    sq = __fadd_rn(sq, rs.wsq[w]);
  }
  if (cnt == 0u) return false;  // every item NaN or infinite
  const float fc = static_cast<float>(cnt);
  const float mean = __fdiv_rn(sum, fc);
  const float var = fmaxf(__fsub_rn(__fdiv_rn(sq, fc), __fmul_rn(mean, mean)), 0.0f);
  const float sd4 = __fmul_rn(4.0f, __fsqrt_rn(var));
  const float lo = fmaxf(key_score(kmin), __fsub_rn(mean, sd4));
  const float hi = fminf(key_score(kmax), __fadd_rn(mean, sd4));
  const float range = __fsub_rn(hi, lo);
  // All equal (range 0) or overflowing statistics: decline.
  if (!(range > 0.0f) || !isfinite(range) || !isfinite(lo)) return false;
  Buckets bk;
  bk.nb = nb;
  bk.lo = lo;
  bk.scale = __fdiv_rn(static_cast<float>(nb - 2), range);
  if (!(bk.scale > 0.0f) || !isfinite(bk.scale)) return false;

  // 2. Histogram.
  for (int i = tid; i < n; i += kRankThreads) atomicAdd(&beg[bk.of(key_at(i))], 1u);
  __syncthreads();

  // 3. Descending exclusive scan: thread t owns buckets nb-1-(per*t + e), e < per (thread 0 the
  // top ones), so thread order is descending bucket order.
  const int per = nb / kRankThreads;  // 1..8
  uint32_t bc[8];
  uint32_t mine = 0;
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    bc[e] = e < per ? beg[nb - 1 - (per * tid + e)] : 0u;
    mine += bc[e];
  }
  uint32_t total = 0;
  uint32_t before = hisa_ops::block_exclusive_scan(mine, sc, total);  // has barriers
  uint32_t big = 0;
  const uint32_t uK = static_cast<uint32_t>(K);
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    if (e < per) {
      const int b = nb - 1 - (per * tid + e);
      beg[b] = before;
      cur[b] = before;
      if (before < uK && bc[e] > big) big = bc[e];
      if (before < uK && before + bc[e] >= uK && bc[e] > 0u)
        rs.ntop = static_cast<int>(before + bc[e]);  // the bucket holding rank K - 1
      before += bc[e];
    }
  }
  big = __reduce_max_sync(0xffffffffu, big);
  if (lane == 0) rs.wbig[warp] = big;
  __syncthreads();
  big = 0;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) big = rs.wbig[w] > big ? rs.wbig[w] : big;
  if (big > static_cast<uint32_t>(kRankLimit)) return false;

  // 4. Group the items of the buckets that start before rank K.
  for (int i = tid; i < n; i += kRankThreads) {
    const uint32_t k = key_at(i);
    const int b = bk.of(k);
    if (beg[b] < uK) {
      const uint32_t slot = atomicAdd(&cur[b], 1u);
      stage[slot] = (static_cast<uint64_t>(k) << 32) | static_cast<uint32_t>(index_at(i));
    }
  }
  __syncthreads();

  // 5. Rank inside the bucket.
  const int ntop = rs.ntop;
  for (int s = tid; s < ntop; s += kRankThreads) {
    const uint64_t v = stage[s];
    const int b = bk.of(static_cast<uint32_t>(v >> 32));
    const uint32_t first = beg[b], end = cur[b];  // the bucket's staged items
    uint32_t r = first;
    for (uint32_t j = first; j < end; ++j) r += stage[j] > v ? 1u : 0u;
    if (r < uK) emit(static_cast<int>(r), static_cast<uint32_t>(v >> 32), static_cast<uint32_t>(v));
  }
  return true;
}

}  // namespace hisa::cuda::dec
