// What the sm_90a flat scorers (flat_score_wgmma.cu, flat_score_wide.cu) share: the work plan
// and the head-sum chain. The plan: a work item is one query pair (or MISA's pair of query
// groups) and a span of <= kSegKeys keys of the pair's visible range. plan_kernel lists the items of a chunk (a prefix sum of segments per
// pair); the persistent grid walks them round-robin and every role of a CTA finds its item
// with locate_item. Device code only (included by .cu files).
// The head sum: flat_partial_heads gives a thread's partial over its 16 heads in one fma chain
// per key; the quad's 4 partials are then summed as (lane 0 + lane 1) + (lane 2 + lane 3) up to
// commutation (a butterfly in the two-CTA kernel, the epilogue warpgroup in the wide one), so
// both scorers give the same bits.
#pragma once

#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/hisa_wgmma.cuh"

namespace hisa::cuda {
namespace {

constexpr int kSegKeys = 4096;  // keys per work item (a multiple of each kernel's key block)

struct ItemInfo {
  int32_t pair, kv_start, kv_blocks, unused;
};

struct WgArgs {
  const float* k_scale;
  const float* w;
  int64_t T;               // rows of q / w (flat: the problem's T; MISA: the padded chunk)
  const int32_t* ks;
  const int32_t* ke;
  const int32_t* offsets;  // [npairs + 1] exclusive prefix of items per pair
  const int2* ranges;      // [npairs] union range of the pair
  int64_t t0, rows, S;
  int32_t npairs;
  void* logits;            // float (flat, MISA f32) or __half (MISA f16) rows
  int64_t ld;
  int32_t pair_rows;       // queries per work item: 2 (flat) or 2 * 64 / kA (MISA)
};

// ---- plan: items per query pair ------------------------------------------------------------

constexpr int kPlanThreads = 1024;

__global__ void __launch_bounds__(kPlanThreads) plan_kernel(WgArgs a, int32_t* offsets,
                                                            int2* ranges) {
  __shared__ int32_t warp_sums[32];
  __shared__ int32_t carry_s;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  if (tid == 0) carry_s = 0;
  __syncthreads();
  for (int32_t base = 0; base < a.npairs; base += kPlanThreads) {
    const int32_t p = base + tid;
    int32_t nseg = 0;
    if (p < a.npairs) {
      int32_t lo = INT32_MAX, hi = 0;
      for (int i = 0; i < a.pair_rows; ++i) {
        const int64_t r = static_cast<int64_t>(a.pair_rows) * p + i;
        if (r >= a.rows) break;
        int32_t l, h;
        clamped_range(a.ks, a.ke, a.t0 + r, a.S, l, h);
        if (l < h) {
          lo = min(lo, l);
          hi = max(hi, h);
        }
      }
      if (lo < hi) nseg = static_cast<int32_t>(ceil_div(hi - lo, kSegKeys));
      ranges[p] = make_int2(lo < hi ? lo : 0, lo < hi ? hi : 0);
    }
    int32_t inc = nseg;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int32_t y = __shfl_up_sync(0xFFFFFFFFu, inc, o);
      if (lane >= o) inc += y;
    }
    if (lane == 31) warp_sums[warp] = inc;
    __syncthreads();
    if (warp == 0) {
      int32_t ws = warp_sums[lane];
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const int32_t y = __shfl_up_sync(0xFFFFFFFFu, ws, o);
        if (lane >= o) ws += y;
      }
      warp_sums[lane] = ws;
    }
    __syncthreads();
    const int32_t carry = carry_s;
    const int32_t excl = carry + inc - nseg + (warp > 0 ? warp_sums[warp - 1] : 0);
    if (p < a.npairs) offsets[p] = excl;
    __syncthreads();
    if (tid == kPlanThreads - 1) carry_s = excl + nseg;
    __syncthreads();
  }
  if (tid == 0) offsets[a.npairs] = carry_s;
}

// Work item `item` of the chunk: its query pair (the last pair whose first item is <= item)
// and its key segment, in blocks of kBlockKV keys. Every role of the kernel computes it from the read-only
// plan tables, so no descriptor has to cross shared memory between them.
template <int kBlockKV>
__device__ __forceinline__ ItemInfo locate_item(const WgArgs& a, int64_t item) {
  int32_t lo = 0, hi = a.npairs - 1;
  while (lo < hi) {
    const int32_t mid = (lo + hi + 1) >> 1;
    if (a.offsets[mid] <= item) lo = mid; else hi = mid - 1;
  }
  const int2 range = a.ranges[lo];
  const int32_t kv_start = range.x + static_cast<int32_t>(item - a.offsets[lo]) * kSegKeys;
  const int32_t kv_end = min(range.y, kv_start + kSegKeys);
  return ItemInfo{lo, kv_start, (kv_end - kv_start + kBlockKV - 1) / kBlockKV, 0};
}

// relu(acc) * w summed over the thread's 16 heads for its two key rows: .x row r0, .y r0 + 8.
// wpair(j) gives the weights of heads 8 j + 2 (lane % 4) and the next.
template <typename WeightPair>
__device__ __forceinline__ float2 flat_partial_heads(const float (&acc)[32],
                                                     WeightPair&& wpair) {
  float s0 = 0.0f, s1 = 0.0f;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const float2 wj = wpair(j);
    s0 = fmaf(relu_keep_nan(acc[4 * j + 0]), wj.x, s0);
    s0 = fmaf(relu_keep_nan(acc[4 * j + 1]), wj.y, s0);
    s1 = fmaf(relu_keep_nan(acc[4 * j + 2]), wj.x, s1);
    s1 = fmaf(relu_keep_nan(acc[4 * j + 3]), wj.y, s1);
  }
  return make_float2(s0, s1);
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// I / k_scale for the thread's two key rows (.x row r0, .y r0 + 8): flat_partial_heads, then the
// quad's 4 partials by a butterfly (every lane of the quad ends with the sums).
template <typename WeightPair>
__device__ __forceinline__ float2 quad_head_sums(const float (&acc)[32], WeightPair&& wpair) {
  const float2 part = flat_partial_heads(acc, wpair);
  float s0 = part.x, s1 = part.y;
  s0 += __shfl_xor_sync(0xFFFFFFFFu, s0, 1);
  s0 += __shfl_xor_sync(0xFFFFFFFFu, s0, 2);
  s1 += __shfl_xor_sync(0xFFFFFFFFu, s1, 1);
  s1 += __shfl_xor_sync(0xFFFFFFFFu, s1, 2);
  return make_float2(s0, s1);
}
#endif  // __CUDA_ARCH_FEAT_SM90_ALL

}  // namespace
}  // namespace hisa::cuda
