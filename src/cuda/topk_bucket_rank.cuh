// Score-order ranking of a top-k set without a sort network (the radix top-k's final step,
// topk_radix.cu): a counting sort on the rank keys' distance below the largest key.
//
// The selected keys (unique 64-bit rank keys: score key << 32 | column) go into kBins buckets
// b = (max - key) >> s, s the smallest shift that fits the set's key range into kBins buckets,
// so b ascends as the key descends. One shared-memory histogram (its atomics also number each
// key's arrival in its bucket), one block scan for the bucket starts, one scatter; a key's rank
// is then its bucket's start plus the number of larger keys in the same bucket. The score key
// is a float's bits made monotone (common.cuh), so the buckets are nearly logarithmic in the
// score: a top-k set's scores fill many buckets, one or a few keys each. A set whose largest
// bucket holds more than kBucketMax keys (many equal scores, a few huge outliers) is left to
// the caller's sort: the ranking costs at most kBucketMax comparisons per key, never more.
// Exact: the same order as sorting the rank keys descending.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/topk_ordered.cuh"

namespace hisa::cuda::topk_bucket {

constexpr uint32_t kBucketMax = 32;

template <int kThreads>
struct Shared {
  unsigned long long key_max, key_min;
  uint32_t max_bucket;
  uint32_t scan[kThreads / 32];
};

// Thread t holds items t * kItems + r (r < kItems) in v; those below `count` are the keys
// (count <= kThreads * kItems <= k). On success writes out[0, k): the columns (low 32 bits) of
// the keys in descending key order, then -1, and returns true. Returns false having written
// nothing to `out` or `buf` when a bucket is too crowded. `hist`: kBins words of shared memory;
// `buf`: shared memory for kThreads * kItems 8-byte keys followed by as many 4-byte columns.
// Every thread of the block must call it; contains __syncthreads.
template <int kThreads, int kItems, int kBins>
__device__ bool rank_by_buckets(const uint64_t (&v)[kItems], uint32_t count, int k, uint64_t* buf,
                                uint32_t* hist, Shared<kThreads>& sh, int32_t* out) {
  static_assert(kBins % kThreads == 0, "each thread scans the same number of buckets");
  constexpr int kBinsPerThread = kBins / kThreads;
  constexpr int kDigitBits = __builtin_ctz(kBins);
  const int tid = static_cast<int>(threadIdx.x);
  auto valid = [&](int r) { return static_cast<uint32_t>(tid * kItems + r) < count; };

  // 1. The key range.
  unsigned long long hi = 0, lo = ~0ull;
#pragma unroll
  for (int r = 0; r < kItems; ++r)
    if (valid(r)) {
      hi = hi > v[r] ? hi : v[r];
      lo = lo < v[r] ? lo : v[r];
    }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const unsigned long long h = __shfl_xor_sync(0xFFFFFFFFu, hi, o);
    const unsigned long long l = __shfl_xor_sync(0xFFFFFFFFu, lo, o);
    hi = hi > h ? hi : h;
    lo = lo < l ? lo : l;
  }
  if (tid == 0) {
    sh.key_max = 0;
    sh.key_min = ~0ull;
    sh.max_bucket = 0;
  }
  for (int i = tid; i < kBins; i += kThreads) hist[i] = 0;
  __syncthreads();
  if ((tid & 31) == 0) {
    atomicMax(&sh.key_max, hi);
    atomicMin(&sh.key_min, lo);
  }
  __syncthreads();
  hi = sh.key_max;
  lo = sh.key_min;
  const int bits = 64 - __clzll(static_cast<long long>(hi - lo));
  const int shift = bits > kDigitBits ? bits - kDigitBits : 0;

  // 2. Bucket sizes; the histogram's atomics number the keys inside each bucket.
  uint32_t bucket[kItems], slot[kItems];
#pragma unroll
  for (int r = 0; r < kItems; ++r)
    if (valid(r)) {
      bucket[r] = static_cast<uint32_t>((hi - v[r]) >> shift);
      slot[r] = atomicAdd(&hist[bucket[r]], 1u);
    }
  __syncthreads();

  // 3. Bucket starts (exclusive scan, in place) and the largest bucket.
  uint32_t c[kBinsPerThread], sum = 0, widest = 0;
#pragma unroll
  for (int j = 0; j < kBinsPerThread; ++j) {
    c[j] = hist[kBinsPerThread * tid + j];
    sum += c[j];
    widest = widest > c[j] ? widest : c[j];
  }
  widest = __reduce_max_sync(0xFFFFFFFFu, widest);
  if ((tid & 31) == 0) atomicMax(&sh.max_bucket, widest);
  uint32_t total;
  uint32_t start = topk_ordered::block_exclusive_scan<kThreads>(sum, sh.scan, total);
  if (sh.max_bucket > kBucketMax) return false;  // the same value in every thread
#pragma unroll
  for (int j = 0; j < kBinsPerThread; ++j) {
    hist[kBinsPerThread * tid + j] = start;
    start += c[j];
  }
  __syncthreads();

  // 4. Scatter into bucket order.
#pragma unroll
  for (int r = 0; r < kItems; ++r)
    if (valid(r)) buf[hist[bucket[r]] + slot[r]] = v[r];
  __syncthreads();

  // 5. Rank = bucket start + larger keys of the same bucket; columns staged for one
  // coalesced write.
  uint32_t* cols = reinterpret_cast<uint32_t*>(buf + kThreads * kItems);
#pragma unroll
  for (int r = 0; r < kItems; ++r)
    if (valid(r)) {
      const uint32_t b = bucket[r];
      const uint32_t first = hist[b];
      const uint32_t last = b + 1 < static_cast<uint32_t>(kBins) ? hist[b + 1] : count;
      uint32_t rank = first;
      for (uint32_t j = first; j < last; ++j) rank += buf[j] > v[r] ? 1u : 0u;
      cols[rank] = static_cast<uint32_t>(v[r] & 0xFFFFFFFFu);
    }
  __syncthreads();
  for (int j = tid; j < k; j += kThreads)
    out[j] = static_cast<uint32_t>(j) < count ? static_cast<int32_t>(cols[j]) : -1;
  return true;
}

}  // namespace hisa::cuda::topk_bucket
