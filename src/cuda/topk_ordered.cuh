// Block-wide prefix sums for the radix top-k's index order (topk_radix.cu): once the k-th
// rank key is known, the kept columns are written in ascending column order from a
// column-ordered buffer or a bitmap of the row's columns, so index-order rows need no sort.
#pragma once

#include <cstdint>

#include "cuda/common.cuh"

namespace hisa::cuda::topk_ordered {

// Exclusive block-wide scan of one count per thread. `scratch` holds kThreads / 32 values in
// shared memory. Returns the thread's exclusive prefix, `total` the block's sum. Two barriers;
// every thread of the block must call it.
template <int kThreads>
__device__ __forceinline__ uint32_t block_exclusive_scan(uint32_t v, uint32_t* scratch,
                                                         uint32_t& total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const uint32_t inc = warp_inclusive_sum(v);
  if (lane == 31) scratch[warp] = inc;
  __syncthreads();
  uint32_t before = 0, all = 0;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) {
    const uint32_t s = scratch[w];
    before += w < warp ? s : 0u;
    all += s;
  }
  __syncthreads();  // scratch may be rewritten by the next call
  total = all;
  return before + inc - v;
}

// Column-order compaction over the keys get(0) .. get(count - 1) (shared memory, already in
// column order): emit(pos, key) for each key with keep(key), pos its rank among the kept ones.
// Returns the number kept. Every key of a round is read before the round's barriers, so emit
// may overwrite the source (compaction in place: pos never exceeds the key's own index).
template <int kThreads, typename Get, typename Keep, typename Emit>
__device__ uint32_t ordered_buffer_pass(uint32_t count, uint32_t* scratch, Get&& get, Keep&& keep,
                                        Emit&& emit) {
  constexpr int kPer = 4;
  const uint32_t tid = threadIdx.x;
  uint32_t done = 0;
  for (uint32_t base = 0; base < count; base += kPer * kThreads) {
    const uint32_t i0 = base + kPer * tid;
    uint32_t mask = 0;
    uint64_t key[kPer];
#pragma unroll
    for (int e = 0; e < kPer; ++e) {
      key[e] = i0 + e < count ? get(i0 + e) : 0;
      if (i0 + e < count && keep(key[e])) mask |= 1u << e;
    }
    uint32_t total;
    uint32_t pos = done + block_exclusive_scan<kThreads>(__popc(mask), scratch, total);
#pragma unroll
    for (int e = 0; e < kPer; ++e)
      if ((mask >> e) & 1u) emit(pos++, key[e]);
    done += total;
  }
  return done;
}

}  // namespace hisa::cuda::topk_ordered
