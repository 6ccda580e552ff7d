// Score-order ranking of a top-k set without a sort network (the radix top-k's final step,
// topk_radix.cu): a counting sort on the rank keys' distance below the largest key.
//
// The selected keys (unique 64-bit rank keys: score key << 32 | column) go into kBins buckets
// whose index ascends as the key descends, so a key's rank is its bucket's start plus the
// number of larger keys in the same bucket: one shared-memory histogram (its atomics also
// number each key's arrival in its bucket), one block scan for the bucket starts, one scatter,
// then at most a bucket's worth of comparisons per key. Two bucket maps, both monotone:
//   * by key: b = (max - key) >> s, s the smallest shift that fits the set's key range into
//     kBins buckets. The score key is a float's bits made monotone (common.cuh), so these
//     buckets are nearly logarithmic in the score: good for sets of one sign, even with a few
//     huge outliers (an attention sink), poor where the set reaches down to scores near 0,
//     whose keys span many binades;
//   * by value, for finite sets whose scores take both signs: b = (max - score) * (kBins - 1)
//     / (max - min), rounded down (f32 subtraction and scaling by a positive factor round
//     monotonically).
// A set whose largest bucket holds more than kBucketMax keys (many equal scores, a few huge
// outliers in a set of both signs) is left to the caller's sort, so the ranking costs at most
// kBucketMax comparisons per key. Exact: the same order as sorting the rank keys descending.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/topk_ordered.cuh"

namespace hisa::cuda::topk_bucket {

constexpr uint32_t kBucketMax = 32;

// The score of a rank key's upper half (the inverse of score_key; NaN for the NaN key 0).
__device__ __forceinline__ float key_score(uint64_t key) {
  const uint32_t k = static_cast<uint32_t>(key >> 32);
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k);
}

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
  const float s_max = key_score(hi), s_min = key_score(lo);
  const bool by_value = isfinite(s_max) && isfinite(s_min) && s_min < 0.0f && s_max > 0.0f;
  const float scale = static_cast<float>(kBins - 1) / (s_max - s_min);  // by_value only
  auto bucket_of = [&](uint64_t key) -> uint32_t {
    if (!by_value) return static_cast<uint32_t>((hi - key) >> shift);
    const float x = (s_max - key_score(key)) * scale;  // >= 0; 0 or NaN if max - min overflows
    return min(__float2uint_rz(x), static_cast<uint32_t>(kBins - 1));  // NaN -> 0
  };

  // 2. Bucket sizes; the histogram's atomics number the keys inside each bucket.
  uint32_t bucket[kItems], slot[kItems];
#pragma unroll
  for (int r = 0; r < kItems; ++r)
    if (valid(r)) {
      bucket[r] = bucket_of(v[r]);
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
