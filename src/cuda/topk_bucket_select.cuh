// Score-order top-k of a short row in one counting sort (the radix top-k's short-row path,
// topk_radix.cu, HISA_TOPK_SELECT=1): selection and ranking at once, no threshold passes.
//
// The row's n 32-bit score keys are in shared memory by column (sk[i]: column begin + i), k < n.
// Every key goes into one of kBins buckets whose index ascends as the key descends, by the two
// monotone maps of topk_bucket_rank.cuh over the whole row's key range (by key distance below
// the largest key; by value for finite rows of both signs). One histogram, one block scan of
// the bucket sizes: the bucket b* that holds rank k - 1 and its start. The keys of buckets
// above b* (start(b*) < k of them) are all selected: scattered into bucket order, each ranked
// by its bucket's start plus the larger keys of its bucket. The keys of b* are ranked among
// themselves and the best k - start(b*) follow. Exact: the columns of the k largest rank keys
// (score key << 32 | column), in descending key order, as a sort would give them. Keys below
// b* are counted once and never moved. A row whose buckets at or above b* hold more than
// kLimit keys (kBucketMax = 32 unless the caller's SelectShared asks for more; equal scores, an
// outlier that squeezes the rest into a few buckets) is
// refused: nothing written, false returned, the caller takes the radix path. Except b* itself
// when all its keys share one score (the exact zeros of ReLU sums): they rank by column.
//
// Index order needs only the k-th largest key T: the keys of b* (<= kLimit of them, or of
// one score, else refused) are ranked among themselves and the one of rank k - 1 - start(b*) is T; the caller
// then writes the columns of the keys >= T in column order.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/topk_bucket_rank.cuh"
#include "cuda/topk_ordered.cuh"

namespace hisa::cuda::topk_bucket {

// kLimit: the most keys a bucket at or above b* may hold (kBucketMax unless a caller asks for
// more: each of a bucket's keys is ranked by comparing it with the bucket's others).
template <int kThreads, int kLimit = kBucketMax>
struct SelectShared {
  uint32_t key_max, key_min;
  uint32_t max_bucket, star_count;  // the largest bucket above b*; b*'s size
  uint32_t b_star, start_star, tie_count;
  uint32_t star_lo, star_hi;  // the score keys of b* (when it is crowded)
  uint32_t scan[kThreads / 32];
  unsigned long long threshold;
  unsigned long long tie[kLimit];  // the rank keys of bucket b*
};

// The bucket map over a row's key range [lo, hi] (both monotone: a larger key never gets a
// larger bucket): by key distance below hi, or by value for finite rows whose range holds 0.
template <int kBins>
struct BucketMap {
  uint32_t hi;
  int shift;
  bool by_value;
  float s_max, scale;
  __device__ BucketMap(uint32_t hi_, uint32_t lo) : hi(hi_) {
    constexpr int kDigitBits = __builtin_ctz(kBins);
    const uint32_t range = hi - lo;
    const int bits = range == 0 ? 0 : 32 - __clz(static_cast<int>(range));
    shift = bits > kDigitBits ? bits - kDigitBits : 0;
    s_max = key_score(static_cast<uint64_t>(hi) << 32);
    const float s_min = key_score(static_cast<uint64_t>(lo) << 32);
    // By value when the range holds 0 (a row of ReLU sums often has exact zeros: by key, the
    // range from +0 up spans 2^30 keys, 16 buckets per binade).
    by_value = isfinite(s_max) && isfinite(s_min) && s_min <= 0.0f && s_max >= 0.0f && s_max > s_min;
    scale = static_cast<float>(kBins - 1) / (s_max - s_min);  // by_value only
  }
  __device__ uint32_t operator()(uint32_t key) const {
    if (!by_value) return (hi - key) >> shift;
    const float x = (s_max - key_score(static_cast<uint64_t>(key) << 32)) * scale;
    return min(__float2uint_rz(x), static_cast<uint32_t>(kBins - 1));  // NaN -> 0
  }
};

// Rows of at most kSelectMaxCols columns: a column's offset in the row fits kColumnBits.
constexpr int kColumnBits = 14;
constexpr uint32_t kColumnMask = (1u << kColumnBits) - 1;
constexpr uint32_t kSelectMaxCols = 1u << kColumnBits;

__device__ __forceinline__ uint64_t rank_key_at(const uint32_t* sk, int begin, uint32_t i) {
  return (static_cast<uint64_t>(sk[i]) << 32) | static_cast<uint32_t>(begin + static_cast<int>(i));
}

// Steps shared by both orders: the key range, the bucket sizes, their starts (left in hist),
// b* and start(b*) (sh.b_star, sh.start_star), b*'s size (sh.star_count) and the largest bucket
// above b* (sh.max_bucket). Call after a barrier that makes sk visible; ends with one.
template <int kThreads, int kBins, int kLimit>
__device__ BucketMap<kBins> split_at_rank(const uint32_t* sk, uint32_t n, int k, uint32_t* hist,
                                          SelectShared<kThreads, kLimit>& sh) {
  static_assert(kBins % kThreads == 0, "each thread scans the same number of buckets");
  constexpr int kBinsPerThread = kBins / kThreads;
  const int tid = static_cast<int>(threadIdx.x), lane = tid & 31;

  // 1. The row's key range.
  uint32_t hi = 0, lo = 0xFFFFFFFFu;
  for (uint32_t i = tid; i < n; i += kThreads) {
    hi = max(hi, sk[i]);
    lo = min(lo, sk[i]);
  }
  hi = __reduce_max_sync(0xFFFFFFFFu, hi);
  lo = __reduce_min_sync(0xFFFFFFFFu, lo);
  if (tid == 0) {
    sh.key_max = 0;
    sh.key_min = 0xFFFFFFFFu;
    sh.max_bucket = 0;
    sh.tie_count = 0;
    sh.star_lo = 0xFFFFFFFFu;
    sh.star_hi = 0;
  }
  for (int i = tid; i < kBins; i += kThreads) hist[i] = 0;
  __syncthreads();
  if (lane == 0) {
    atomicMax(&sh.key_max, hi);
    atomicMin(&sh.key_min, lo);
  }
  __syncthreads();
  const BucketMap<kBins> bucket_of(sh.key_max, sh.key_min);

  // 2. Bucket sizes.
  for (uint32_t i = tid; i < n; i += kThreads) atomicAdd(&hist[bucket_of(sk[i])], 1u);
  __syncthreads();

  // 3. Bucket starts (in place), b* (the bucket of rank k - 1), its start and size.
  const int bin0 = kBinsPerThread * tid;
  uint32_t c[kBinsPerThread], sum = 0;
#pragma unroll
  for (int j = 0; j < kBinsPerThread; ++j) {
    c[j] = hist[bin0 + j];
    sum += c[j];
  }
  uint32_t total;
  uint32_t start = topk_ordered::block_exclusive_scan<kThreads>(sum, sh.scan, total);
  const uint32_t last_rank = static_cast<uint32_t>(k - 1);
#pragma unroll
  for (int j = 0; j < kBinsPerThread; ++j) {
    if (start <= last_rank && last_rank < start + c[j]) {  // exactly one bucket in the block
      sh.b_star = static_cast<uint32_t>(bin0 + j);
      sh.start_star = start;
      sh.star_count = c[j];
    }
    hist[bin0 + j] = start;
    start += c[j];
  }
  __syncthreads();
  const uint32_t b_star = sh.b_star;
  uint32_t widest = 0;
#pragma unroll
  for (int j = 0; j < kBinsPerThread; ++j)
    if (static_cast<uint32_t>(bin0 + j) < b_star) widest = max(widest, c[j]);
  widest = __reduce_max_sync(0xFFFFFFFFu, widest);
  if (lane == 0 && widest > 0) atomicMax(&sh.max_bucket, widest);
  __syncthreads();
  return bucket_of;
}

// A crowded b* (more than kLimit keys) is accepted only when all its keys share one score
// (exact zeros of ReLU sums, often most of a row): then they rank by column, largest first.
// Returns whether b* is usable; uniform; contains barriers.
template <int kThreads, int kBins, int kLimit>
__device__ bool star_is_usable(const uint32_t* sk, uint32_t n, const BucketMap<kBins>& bucket_of,
                               SelectShared<kThreads, kLimit>& sh) {
  if (sh.star_count <= kLimit) return true;
  const uint32_t b_star = sh.b_star;
  uint32_t lo = 0xFFFFFFFFu, hi = 0;
  for (uint32_t i = threadIdx.x; i < n; i += kThreads)
    if (bucket_of(sk[i]) == b_star) {
      lo = min(lo, sk[i]);
      hi = max(hi, sk[i]);
    }
  lo = __reduce_min_sync(0xFFFFFFFFu, lo);
  hi = __reduce_max_sync(0xFFFFFFFFu, hi);
  if ((threadIdx.x & 31) == 0) {
    atomicMin(&sh.star_lo, lo);
    atomicMax(&sh.star_hi, hi);
  }
  __syncthreads();
  return sh.star_lo == sh.star_hi;
}

// The keys of a single-score b* by descending column: emit(pos, rank key) for each, pos = 0 for
// the largest column. A block-wide ordered pass over the row backwards; contains barriers.
template <int kThreads, int kBins, int kLimit, typename Emit>
__device__ void star_by_column(const uint32_t* sk, int begin, uint32_t n,
                               const BucketMap<kBins>& bucket_of,
                               SelectShared<kThreads, kLimit>& sh,
                               Emit&& emit) {
  const uint32_t b_star = sh.b_star;
  topk_ordered::ordered_buffer_pass<kThreads>(
      n, sh.scan, [&](uint32_t i) { return rank_key_at(sk, begin, n - 1 - i); },
      [&](uint64_t key) { return bucket_of(static_cast<uint32_t>(key >> 32)) == b_star; }, emit);
}

// Score order: writes out[0, k) (through to_out) and returns true, or returns false having
// written nothing (also for rows of more than kSelectMaxCols columns).
// `buf`: shared memory for k 8-byte keys; `cols`: for k 4-byte columns, may alias sk (read no
// more once the keys are placed); `hist`: kBins words. Every thread of the block must call it
// after a barrier that makes sk visible; contains __syncthreads; the result is uniform.
// `to_out` maps a column to what out holds (the identity, or topk_io::TokenMap).
struct SameColumn {
  __device__ int32_t operator()(int32_t c) const { return c; }
};
template <int kThreads, int kBins, typename ToOut = SameColumn, int kLimit = kBucketMax>
__device__ bool select_by_buckets(const uint32_t* sk, int begin, uint32_t n, int k, uint64_t* buf,
                                  uint32_t* cols, uint32_t* hist,
                                  SelectShared<kThreads, kLimit>& sh,
                                  int32_t* out, ToOut to_out = ToOut{}) {
  static_assert(kBins <= (1 << 18), "bucket << 14 | i fits the rank key's low word");
  const int tid = static_cast<int>(threadIdx.x);
  if (n > kSelectMaxCols) return false;  // uniform; the callers' short rows never are
  const BucketMap<kBins> bucket_of = split_at_rank<kThreads, kBins>(sk, n, k, hist, sh);
  if (sh.max_bucket > kLimit) return false;  // the same value in every thread
  if (!star_is_usable<kThreads, kBins>(sk, n, bucket_of, sh)) return false;
  const uint32_t b_star = sh.b_star, start_star = sh.start_star;
  const bool star_by_columns = sh.star_count > kLimit;

  // 4. Keys above b* into bucket order (buf[0, start_star)); the keys of b* aside. Afterwards
  // hist[b] is the end of bucket b < b*, so bucket b spans [b ? hist[b - 1] : 0, hist[b]).
  // Their keys are score key << 32 | b << 14 | i: within a bucket, ordered as the rank keys
  // (score, then column), and b and the column are read back without the bucket map.
  for (uint32_t i = tid; i < n; i += kThreads) {
    const uint32_t b = bucket_of(sk[i]);
    if (b > b_star) continue;
    const uint64_t rk = (static_cast<uint64_t>(sk[i]) << 32) | (b << kColumnBits) | i;
    if (b < b_star)
      buf[atomicAdd(&hist[b], 1u)] = rk;
    else if (!star_by_columns)
      sh.tie[atomicAdd(&sh.tie_count, 1u)] = rk;
  }
  __syncthreads();
  const uint32_t need = static_cast<uint32_t>(k) - start_star;
  if (star_by_columns)  // straight to out: cols may alias sk, which this pass reads
    star_by_column<kThreads, kBins>(sk, begin, n, bucket_of, sh, [&](uint32_t pos, uint64_t key) {
      if (pos < need) out[start_star + pos] = to_out(static_cast<int32_t>(key & 0xFFFFFFFFu));
    });
  const auto column = [&](uint64_t key) {
    return static_cast<uint32_t>(begin) + (static_cast<uint32_t>(key) & kColumnMask);
  };

  // 5. Ranks: bucket start + larger keys of the same bucket; b*'s best k - start_star after.
  for (uint32_t j = tid; j < start_star; j += kThreads) {
    const uint64_t key = buf[j];
    const uint32_t b = static_cast<uint32_t>(key) >> kColumnBits;
    const uint32_t first = b == 0 ? 0u : hist[b - 1];
    const uint32_t last = hist[b];
    uint32_t rank = first;
    for (uint32_t x = first; x < last; ++x) rank += buf[x] > key ? 1u : 0u;
    cols[rank] = column(key);
  }
  const uint32_t ties = sh.tie_count;
  for (uint32_t j = tid; j < ties; j += kThreads) {
    const uint64_t key = sh.tie[j];
    uint32_t rank = 0;
    for (uint32_t x = 0; x < ties; ++x) rank += sh.tie[x] > key ? 1u : 0u;
    if (rank < need) cols[start_star + rank] = column(key);
  }
  __syncthreads();
  const int staged = star_by_columns ? static_cast<int>(start_star) : k;
  for (int j = tid; j < staged; j += kThreads) out[j] = to_out(static_cast<int32_t>(cols[j]));
  return true;
}

// Index order: the k-th largest rank key of the row into *threshold and true, or false when b*
// holds more than kLimit keys. Same calling rules as select_by_buckets; sk is left intact.
template <int kThreads, int kBins, int kLimit = kBucketMax>
__device__ bool kth_key_by_buckets(const uint32_t* sk, int begin, uint32_t n, int k, uint32_t* hist,
                                   SelectShared<kThreads, kLimit>& sh, uint64_t* threshold) {
  const int tid = static_cast<int>(threadIdx.x);
  const BucketMap<kBins> bucket_of = split_at_rank<kThreads, kBins>(sk, n, k, hist, sh);
  if (!star_is_usable<kThreads, kBins>(sk, n, bucket_of, sh)) return false;
  const uint32_t b_star = sh.b_star, want = static_cast<uint32_t>(k - 1) - sh.start_star;
  if (sh.star_count > kLimit) {  // one score: the key of the want-th largest column
    star_by_column<kThreads, kBins>(sk, begin, n, bucket_of, sh, [&](uint32_t pos, uint64_t key) {
      if (pos == want) sh.threshold = key;
    });
    __syncthreads();
    *threshold = sh.threshold;
    return true;
  }
  for (uint32_t i = tid; i < n; i += kThreads)
    if (bucket_of(sk[i]) == b_star) sh.tie[atomicAdd(&sh.tie_count, 1u)] = rank_key_at(sk, begin, i);
  __syncthreads();
  const uint32_t ties = sh.tie_count;
  for (uint32_t j = tid; j < ties; j += kThreads) {
    const uint64_t key = sh.tie[j];
    uint32_t rank = 0;
    for (uint32_t x = 0; x < ties; ++x) rank += sh.tie[x] > key ? 1u : 0u;
    if (rank == want) sh.threshold = key;
  }
  __syncthreads();
  *threshold = sh.threshold;
  return true;
}

}  // namespace hisa::cuda::topk_bucket
