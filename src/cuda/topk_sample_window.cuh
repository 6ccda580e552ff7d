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
// 4. The window is right if fewer than k keys are above hi, at least k are >= lo, and the
//    candidates fit the buffer; then the remaining passes run in shared memory. Otherwise the
//    counters are reset and the row takes the exact passes from the start (only time is lost;
//    the answer never depends on the sample).
#pragma once

#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/hisa_register_sort.cuh"
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
};

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
template <int kThreads, bool kVec, typename TE>
__device__ bool window_pass(const TE* row, int begin, int end, int k, int cap, uint64_t* outbuf,
                            uint64_t* cand, uint32_t& out_count, uint32_t& cand_count,
                            Shared& sh) {
  static_assert(kSamples % kThreads == 0, "each thread sorts the same number of samples");
  constexpr int kPer = kSamples / kThreads;
  const int tid = threadIdx.x;
  const int n = end - begin;
  int r_hi, r_lo;
  sample_ranks(n, k, r_hi, r_lo);
  if (r_lo >= kSamples || n < kSamples) return false;  // uniform: no pass is spent
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
