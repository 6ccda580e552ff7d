// Sampled window for the long rows of the radix top-k (topk_radix.cu, HISA_TOPK_SAMPLE=1).
//
// A long row (more columns than the shared-memory buffer) otherwise costs at least two reads of
// global memory: a 12-bit histogram of the whole row (again for the next 12 bits while the k-th
// key's bin holds more keys than the buffer), then the pass that copies the undecided bin into
// shared memory (bench/prefill/sample_window_emul.py: 2.00 reads per row on flat's rows at
// 32K-128K). Here one read does it:
//
// 1. Sample kSamples score keys spread over the row (kGroups groups of kGroup adjacent columns,
//    one 32-byte sector each) and sort them in registers (hisa_register_sort.cuh).
// 2. The k-th key of the row sits near sample rank ks = k * kSamples / n. Take the sample keys
//    at ranks ks - (kSigmasHi * sqrt(ks) + 2) and ks + (kSigmasLo * sqrt(ks) + 4) as hi and lo
//    (lo with the wider margin: a low bound too high costs a read, a wide window only a few
//    more shared-memory keys; bench/prefill/sample_window_emul.py: at 4 sigmas 1 of 48
//    structured rows at 32K and at 64K had too few keys >= lo, at 8 none, windows of <= 3747
//    keys).
// 3. One pass over the row: keys with score key > hi go to the output list (they are surely in
//    the top k), keys in [lo, hi] to the candidate buffer, the rest are dropped.
//    With `by_histogram` (HISA_TOPK_SAMPLE_HIST=1) step 1 sorts nothing: the two ranks are
//    found by a 12-bit histogram of the samples' score keys and an 8-bit one inside the two
//    bins that hold them (bounds_by_histogram), and rounded outward to their 20-bit prefix
//    (hi up, lo down: the window widens by < 2^-11 of a score's magnitude). About 8 barriers
//    and a few dozen instructions per thread instead of the 2048-key sort's 66 stages.
// 4. The window is right if fewer than k keys are above hi, at least k are >= lo, and the
//    candidates fit the buffer; then the remaining passes run in shared memory. Otherwise the
//    counters are reset and the row takes the exact passes from the start (only time is lost;
//    the answer never depends on the sample).
#pragma once

#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/hisa_register_sort.cuh"
#include "cuda/topk_ordered.cuh"
#include "cuda/topk_row_io.cuh"

namespace hisa::cuda::topk_sample {

constexpr int kSamples = 2048;
constexpr int kGroup = 8;  // adjacent columns per sample group (one sector of f32)
constexpr int kGroups = kSamples / kGroup;
constexpr float kSigmasHi = 4.0f;
constexpr float kSigmasLo = 8.0f;
// The sort's exchange buffer (warpgroup_sort_desc): this many 8-byte entries of scratch.
constexpr int kScratchKeys = kSamples + kSamples / 2;

struct Shared {
  uint32_t hi, lo;
  uint32_t bin[2], rest[2];  // bounds_by_histogram: the 12-bit bin of each rank, rank inside it
  uint32_t scan[32];         // its block scan (kThreads / 32 <= 32 warps)
};

// Bounds from the samples (thread t holds kPer score keys, any order) without sorting them:
// sh.hi >= the sample key of rank r_hi (0 = largest; 0xFFFFFFFF if r_hi < 0), sh.lo <= the
// key of rank r_lo (r_lo < kSamples), each the rank's key with its low 12 bits set (hi) or
// cleared (lo). `hist`: kBins >= 512 words of shared memory, free. Every thread must call it;
// starts after a barrier, ends with one.
template <int kThreads, int kPer, int kBins>
__device__ void bounds_by_histogram(const uint32_t (&v)[kPer], int r_hi, int r_lo, uint32_t* hist,
                                    Shared& sh) {
  static_assert(kBins % kThreads == 0 && kBins == 4096 && kThreads >= 512 && kThreads <= 1024,
                "12-bit first digit, 2 x 256 second-digit bins, one scan slot per warp");
  constexpr int kPerThread = kBins / kThreads;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  // 1. Top 12 bits.
  for (int i = tid; i < kBins; i += kThreads) hist[i] = 0;
  __syncthreads();
#pragma unroll
  for (int r = 0; r < kPer; ++r) atomicAdd(&hist[v[r] >> 20], 1u);
  __syncthreads();
  uint32_t c[kPerThread], total = 0;
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {  // thread t: bins from the top, kPerThread each
    c[j] = hist[kBins - 1 - (kPerThread * tid + j)];
    total += c[j];
  }
  uint32_t all;
  const uint32_t excl = topk_ordered::block_exclusive_scan<kThreads>(total, sh.scan, all);
  const int want[2] = {r_hi, r_lo};
#pragma unroll
  for (int w = 0; w < 2; ++w) {
    const int x = want[w];
    if (x < 0 || static_cast<uint32_t>(x) < excl || static_cast<uint32_t>(x) >= excl + total) continue;
    uint32_t above = excl;
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      if (static_cast<uint32_t>(x) < above + c[j]) {
        sh.bin[w] = static_cast<uint32_t>(kBins - 1 - (kPerThread * tid + j));
        sh.rest[w] = static_cast<uint32_t>(x) - above;
        break;
      }
      above += c[j];
    }
  }
  for (int i = tid; i < 512; i += kThreads) hist[i] = 0;
  __syncthreads();
  // 2. The next 8 bits inside each rank's bin (hist[0, 256) for r_hi, [256, 512) for r_lo).
  const uint32_t bin_hi = r_hi < 0 ? 0xFFFFFFFFu : sh.bin[0], bin_lo = sh.bin[1];
#pragma unroll
  for (int r = 0; r < kPer; ++r) {
    const uint32_t top = v[r] >> 20, d = (v[r] >> 12) & 255u;
    if (top == bin_hi) atomicAdd(&hist[d], 1u);
    if (top == bin_lo) atomicAdd(&hist[256 + d], 1u);
  }
  __syncthreads();
  if (warp < 2 && (warp == 1 || r_hi >= 0)) {  // warp 0: r_hi, warp 1: r_lo
    const uint32_t* h = hist + 256 * warp;
    uint32_t d8[8], sum = 0;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      d8[j] = h[255 - (8 * lane + j)];
      sum += d8[j];
    }
    const uint32_t inc = warp_inclusive_sum(sum);
    const uint32_t x = sh.rest[warp];
    uint32_t above = inc - sum;
    if (above <= x && x < inc) {
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        if (x < above + d8[j]) {
          const uint32_t prefix = (sh.bin[warp] << 20) | (static_cast<uint32_t>(255 - (8 * lane + j)) << 12);
          if (warp == 0) sh.hi = prefix | 0xFFFu;
          else sh.lo = prefix;
          break;
        }
        above += d8[j];
      }
    }
  }
  if (tid == 0 && r_hi < 0) sh.hi = 0xFFFFFFFFu;
  __syncthreads();
}

// Column of sample j (0 <= j < kSamples) in a row [begin, begin + n), n >= kGroup: groups are
// spread evenly from the first column to the last.
__device__ __forceinline__ int sample_column(int begin, int n, int j) {
  const int g = j / kGroup;
  const int64_t first = static_cast<int64_t>(g) * (n - kGroup) / (kGroups - 1);
  return begin + static_cast<int>(first) + j % kGroup;
}

// Sample ranks (0 = largest) of the window's bounds for the k-th key of n: r_hi < 0 means no
// key is surely above, r_lo >= kSamples that the sample gives no useful lower bound.
__device__ __forceinline__ void sample_ranks(int n, int k, int& r_hi, int& r_lo) {
  const float ks = static_cast<float>(k) * static_cast<float>(kSamples) / static_cast<float>(n);
  const float sd = sqrtf(ks);
  r_hi = static_cast<int>(floorf(ks - (kSigmasHi * sd + 2.0f)));
  r_lo = static_cast<int>(ceilf(ks + (kSigmasLo * sd + 4.0f)));
}

// Steps 1-4 above for the row [begin, end) of n = end - begin > cap columns (k < n). On
// success (true, uniform) out_count < k keys are in outbuf and cand_count <= cap in cand,
// and the top k are exactly outbuf's keys plus the best k - out_count of cand. On failure both
// counters are 0 again. `outbuf` must hold max(k, kScratchKeys) entries (the sort's scratch).
// Starts after and ends with a barrier.
template <int kThreads, bool kVec, typename TE, int kBins>
__device__ bool window_pass(const TE* row, int begin, int end, int k, int cap, uint64_t* outbuf,
                            uint64_t* cand, uint32_t& out_count, uint32_t& cand_count,
                            Shared& sh, bool by_histogram, uint32_t* hist) {
  static_assert(kSamples % kThreads == 0, "each thread sorts the same number of samples");
  constexpr int kPer = kSamples / kThreads;
  const int tid = threadIdx.x;
  const int n = end - begin;
  int r_hi, r_lo;
  sample_ranks(n, k, r_hi, r_lo);
  if (r_lo >= kSamples || n < kSamples) return false;  // uniform: no pass is spent
  if (by_histogram) {
    uint32_t v[kPer];
#pragma unroll
    for (int r = 0; r < kPer; ++r)  // 8 adjacent lanes read one group's sector
      v[r] = score_key(topk_io::score_of(row[sample_column(begin, n, r * kThreads + tid)]));
    bounds_by_histogram<kThreads, kPer, kBins>(v, r_hi, r_lo, hist, sh);
  } else {
    uint64_t v[kPer];
#pragma unroll
    for (int r = 0; r < kPer; ++r) {
      const int j = r * kThreads + tid;  // 8 adjacent lanes read one group's sector
      const float x = topk_io::score_of(row[sample_column(begin, n, j)]);
      v[r] = static_cast<uint64_t>(score_key(x)) << 32;
    }
    hisa_ops::warpgroup_sort_desc<kPer, kThreads>(v, outbuf);
    if (tid == 0 && r_hi < 0) sh.hi = 0xFFFFFFFFu;
#pragma unroll
    for (int r = 0; r < kPer; ++r) {  // thread t holds sorted positions t * kPer + r
      const int p = tid * kPer + r;
      if (p == r_hi) sh.hi = static_cast<uint32_t>(v[r] >> 32);
      if (p == r_lo) sh.lo = static_cast<uint32_t>(v[r] >> 32);
    }
    __syncthreads();  // also ends every thread's use of the sort's scratch
  }
  const uint32_t hi = sh.hi, lo = sh.lo;
  const uint32_t ku = static_cast<uint32_t>(k), capu = static_cast<uint32_t>(cap);
  topk_io::for_each_score<kThreads, kVec, TE>(row, begin, end, [&](float x, int i) {
    const uint32_t s = score_key(x);
    if (s < lo) return;
    if (s > hi) {
      const uint32_t p = atomicAdd(&out_count, 1u);
      if (p < ku) outbuf[p] = rank_key(x, i);
    } else {
      const uint32_t p = atomicAdd(&cand_count, 1u);
      if (p < capu) cand[p] = rank_key(x, i);
    }
  });
  __syncthreads();
  const uint32_t above = out_count, inside = cand_count;
  const bool ok = above < ku && above + inside >= ku && inside <= capu;
  if (!ok) {
    __syncthreads();  // every thread has read the counters
    if (tid == 0) out_count = cand_count = 0;
    __syncthreads();
  }
  return ok;
}

}  // namespace hisa::cuda::topk_sample
