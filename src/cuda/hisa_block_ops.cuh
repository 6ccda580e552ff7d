// Block-wide (one CTA) building blocks of the HISA kernels: the ranking key, an exclusive scan,
// a radix select of the top K items and a bitonic sort, all in shared memory. Every CTA runs one
// query, so these work on the few thousand candidates of that query and never touch global
// memory. They are written for any blockDim.x that is a multiple of 32 (<= 1024).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace hisa::cuda::hisa_ops {

// Order-preserving map of a score to uint32 (larger score -> larger key), exactly the CPU
// contract (cpu/score.hpp rank_key): every NaN -> 0, below everything; -0 and +0 are one score.
__device__ __forceinline__ uint32_t score_key(float s) {
  if (s != s) return 0u;
  uint32_t u = __float_as_uint(s);
  if (s == 0.0f) u = 0u;  // -0 ties with +0
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Candidate position -> (kept-list index, offset in the block) for block size B: shifts when B
// is a power of two (64, and the paper's 128), divisions otherwise. Per-thread integer
// divisions in the stage-2 loaders cost B = 128 a quarter of its scoring time (H100, e410a1e).
struct BlockSplit {
  int B, shift;  // shift < 0: B is not a power of two
  __device__ explicit BlockSplit(int b) : B(b), shift(-1) {
    if (b > 0 && (b & (b - 1)) == 0)
      for (shift = 0; (1 << shift) < b;) ++shift;
  }
  __device__ __forceinline__ int block(int c) const { return shift >= 0 ? c >> shift : c / B; }
  __device__ __forceinline__ int offset(int c) const { return shift >= 0 ? c & (B - 1) : c % B; }
};

// Shared scratch of the select routines (one per CTA).
struct SelectScratch {
  uint32_t hist[256];
  uint32_t warp_sums[32];
  uint32_t digit, greater, in_bin;  // results of one radix pass
  uint32_t counter;                 // compaction cursor
};

// Exclusive prefix sum of `v` over the CTA (thread order). Returns this thread's offset and
// writes the CTA total to `total`. Contains __syncthreads: call from every thread.
__device__ __forceinline__ uint32_t block_exclusive_scan(uint32_t v, SelectScratch& sc,
                                                         uint32_t& total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  uint32_t incl = v;
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    const uint32_t t = __shfl_up_sync(0xffffffffu, incl, off);
    if (lane >= off) incl += t;
  }
  if (lane == 31) sc.warp_sums[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    uint32_t s = lane < nwarps ? sc.warp_sums[lane] : 0u;
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
      const uint32_t t = __shfl_up_sync(0xffffffffu, s, off);
      if (lane >= off) s += t;
    }
    if (lane < nwarps) sc.warp_sums[lane] = s;  // inclusive over warps
  }
  __syncthreads();
  const uint32_t before = warp > 0 ? sc.warp_sums[warp - 1] : 0u;
  total = sc.warp_sums[nwarps - 1];
  __syncthreads();  // warp_sums may be reused right after
  return before + incl - v;
}

// One 8-bit radix pass: among items i in [0, n) with filter(i) and (value(i) & mask) == prefix,
// histogram digit (value >> shift) & 255 and find the digit d holding the `remaining`-th largest
// item. Sets sc.digit = d, sc.greater = #items with a larger digit, sc.in_bin = #items with d.
template <class Value, class Filter>
__device__ __forceinline__ void radix_pass(int n, int shift, uint32_t prefix, uint32_t mask,
                                           uint32_t remaining, Value value, Filter filter,
                                           SelectScratch& sc) {
  for (int i = threadIdx.x; i < 256; i += blockDim.x) sc.hist[i] = 0u;
  __syncthreads();
  // Scores of one query cluster in a few top-byte bins, so plain atomics would serialise on
  // one address; lanes with the same digit are merged first (one atomic per distinct digit).
  const int lane = threadIdx.x & 31;
  for (int base = threadIdx.x - lane; base < n; base += blockDim.x) {  // warp-uniform bound
    const int i = base + lane;
    uint32_t digit = 0xFFFFFFFFu;  // no bin
    if (i < n && filter(i)) {
      const uint32_t v = value(i);
      if ((v & mask) == prefix) digit = (v >> shift) & 255u;
    }
    const uint32_t peers = __match_any_sync(0xffffffffu, digit);
    if (digit != 0xFFFFFFFFu && lane == __ffs(peers) - 1) atomicAdd(&sc.hist[digit], __popc(peers));
  }
  __syncthreads();
  if (threadIdx.x < 32) {
    uint32_t local[8];
    uint32_t s = 0;
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      local[e] = sc.hist[lane * 8 + e];
      s += local[e];
    }
    // Inclusive suffix sum over lanes: higher lanes hold higher digits.
    uint32_t suf = s;
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
      const uint32_t t = __shfl_down_sync(0xffffffffu, suf, off);
      if (lane + off < 32) suf += t;
    }
    uint32_t above = suf - s;  // items with a digit above this lane's 8 digits
    if (above < remaining && remaining <= suf) {
#pragma unroll
      for (int e = 7; e >= 0; --e) {
        if (above + local[e] >= remaining) {
          sc.digit = static_cast<uint32_t>(lane * 8 + e);
          sc.greater = above;
          sc.in_bin = local[e];
          break;
        }
        above += local[e];
      }
    }
  }
  __syncthreads();
}

// Threshold of a top-K selection over (key, index) pairs ranked key-major, index-minor (both
// descending): an item is selected iff key > key_thr, or key == key_thr and index >= idx_thr.
struct Threshold {
  uint32_t key_thr, idx_thr;
  __device__ __forceinline__ bool selects(uint32_t key, uint32_t idx) const {
    return key > key_thr || (key == key_thr && idx >= idx_thr);
  }
};

// Radix select of the top K (0 <= K; K >= n selects all) of items [0, n) by (key(i), index(i)),
// indices distinct. Four passes over the key bytes, early exit once a bin is taken whole; when
// the K-th key is tied, up to four more passes over the index bytes among the tied items.
template <class KeyAt, class IndexAt>
__device__ Threshold block_select_top(int n, int K, KeyAt key_at, IndexAt index_at,
                                      SelectScratch& sc) {
  if (K <= 0) return Threshold{0xFFFFFFFFu, 0xFFFFFFFFu};  // no score key reaches 2^32-1
  if (K >= n) return Threshold{0u, 0u};
  // Skip the key bits every item shares (scores of one query mostly share sign and exponent
  // bits, which would put nearly all items in one bin of the first pass): the passes start at
  // the highest bit where some keys differ (OR ^ AND over the items).
  uint32_t any = 0, every = 0xFFFFFFFFu;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const uint32_t k = key_at(i);
    any |= k;
    every &= k;
  }
  any = __reduce_or_sync(0xffffffffu, any);
  every = __reduce_and_sync(0xffffffffu, every);
  if ((threadIdx.x & 31) == 0) {
    sc.warp_sums[threadIdx.x >> 5] = any;
    sc.hist[threadIdx.x >> 5] = every;
  }
  __syncthreads();
  any = 0;
  every = 0xFFFFFFFFu;
  for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w) {
    any |= sc.warp_sums[w];
    every &= sc.hist[w];
  }
  __syncthreads();  // warp_sums and hist are reused
  const uint32_t diff = any ^ every;
  uint32_t prefix = every, mask = 0xFFFFFFFFu, remaining = static_cast<uint32_t>(K);
  if (diff != 0) {
    const int hb = 31 - __clz(static_cast<int>(diff));  // highest differing bit
    mask = hb == 31 ? 0u : ~((2u << hb) - 1u);          // bits above hb: shared by all items
    prefix = every & mask;
    // Passes of 8 bits from hb down; the last may overlap resolved bits (they are constant
    // among the filtered items, so the digit still separates the rest).
    auto all = [](int) { return true; };
    for (int top = hb;; top -= 8) {
      const int shift = top >= 7 ? top - 7 : 0;
      radix_pass(n, shift, prefix, mask, remaining, key_at, all, sc);
      prefix |= sc.digit << shift;
      mask |= 0xFFu << shift;
      remaining -= sc.greater;
      if (sc.in_bin == remaining) return Threshold{prefix, 0u};  // take the whole bin
      __syncthreads();  // sc is rewritten by the next pass
      if (shift == 0) break;
    }
  }
  // Key fully resolved (prefix == K-th key); take `remaining` of the tied items by index.
  const uint32_t key_thr = prefix;
  auto tied = [&](int i) { return key_at(i) == key_thr; };
  uint32_t iprefix = 0, imask = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    radix_pass(n, shift, iprefix, imask, remaining, index_at, tied, sc);
    iprefix |= sc.digit << shift;
    imask |= 0xFFu << shift;
    remaining -= sc.greater;
    if (sc.in_bin == remaining) break;
    __syncthreads();
  }
  return Threshold{key_thr, iprefix};
}

// Sorts s[0..N) descending (N a power of two) with a bitonic network; pairs per stage are
// spread over the CTA. Ends with __syncthreads.
__device__ __forceinline__ void block_bitonic_sort_desc(uint64_t* s, int N) {
  constexpr int kBatch = 4;  // pairs per thread loaded before any store: loads overlap
  __syncthreads();
  const int half = N >> 1;
  for (int k = 2; k <= N; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int p0 = threadIdx.x; p0 < half; p0 += kBatch * blockDim.x) {
        uint64_t a[kBatch], b[kBatch];
        int at[kBatch];
#pragma unroll
        for (int u = 0; u < kBatch; ++u) {
          const int p = p0 + u * blockDim.x;
          at[u] = p < half ? (((p & ~(j - 1)) << 1) | (p & (j - 1))) : -1;
          if (at[u] >= 0) {
            a[u] = s[at[u]];
            b[u] = s[at[u] + j];
          }
        }
#pragma unroll
        for (int u = 0; u < kBatch; ++u) {
          if (at[u] < 0) continue;
          const bool desc = (at[u] & k) == 0;
          if (desc ? (a[u] < b[u]) : (a[u] > b[u])) {
            s[at[u]] = b[u];
            s[at[u] + j] = a[u];
          }
        }
      }
      __syncthreads();
    }
  }
}

__host__ __device__ constexpr int next_pow2(int v) {
  int p = 1;
  while (p < v) p <<= 1;
  return p;
}

}  // namespace hisa::cuda::hisa_ops
