// Bitonic sort of up to 2048 64-bit items held in the registers of one 128-thread CTA (one
// warpgroup): the sm_90a HISA kernels' final ranking (and, with 512 threads x 4 items, the
// radix top-k's, topk_radix.cu). Thread t holds items i = t * IPT + r,
// r < IPT, so the network's partner i ^ j is
//   j < IPT        in the same thread's registers (no communication),
//   j < 32 * IPT   in lane (t ^ j / IPT) of the same warp (shuffles, no barrier),
//   otherwise      in another warp (one exchange through shared memory, two barriers),
// which for 2048 items is 38 register stages, 25 shuffle stages and 3 shared-memory stages
// instead of 66 barrier-separated shared-memory stages. Every loop is unrolled at compile time
// so the items stay in registers.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace hisa::cuda::hisa_ops {

// Larger of two items into a, smaller into b.
__device__ __forceinline__ void cx_desc(uint64_t& a, uint64_t& b) {
  const bool swap = a < b;
  const uint64_t hi = swap ? b : a, lo = swap ? a : b;
  a = hi;
  b = lo;
}
__device__ __forceinline__ uint64_t keep(uint64_t mine, uint64_t other, bool keep_max) {
  return ((mine < other) == keep_max) ? other : mine;
}

// Sorts the kThreads * IPT items v (thread t holds items t * IPT + r) descending, with the
// "flip" form of the bitonic network: merge step k first compares i with its mirror
// i ^ (k - 1), then runs half-cleaners i ^ j, j = k/4 .. 1; every compare-exchange puts the
// larger item at the smaller index, so no direction is computed per element. `xchg` is
// shared scratch of kThreads * IPT entries for the cross-warp steps. Must be called by all
// threads; blockDim.x must be kThreads (128: the HISA kernels; 512: the radix top-k).
// Contains __syncthreads.
template <int IPT, int kThreads = 128>
__device__ __forceinline__ void warpgroup_sort_desc(uint64_t (&v)[IPT], uint64_t* xchg) {
  static_assert(kThreads == 128 || kThreads == 256 || kThreads == 512, "kThreads: 128, 256, 512");
  constexpr int kLogN = (kThreads == 128 ? 7 : kThreads == 256 ? 8 : 9) + (IPT >= 2) + (IPT >= 4) +
                        (IPT >= 8) + (IPT >= 16);
  static_assert(IPT == 1 || IPT == 2 || IPT == 4 || IPT == 8 || IPT == 16, "IPT: power of 2 <= 16");
  const int tid = static_cast<int>(threadIdx.x);
  // One step: partner of item i = t*IPT + r is i ^ mask (mask = k - 1 for the flip, j for a
  // half-cleaner); the item at the smaller index keeps the larger.
  auto step = [&](int mask) {
    const int rmask = mask & (IPT - 1), tmask = mask / IPT;  // register and thread bits
    if (tmask == 0) {
#pragma unroll
      for (int r = 0; r < IPT; ++r)
        if ((r ^ rmask) > r) cx_desc(v[r], v[r ^ rmask]);
      return;
    }
    const bool lower = (tid & (tmask & ~(tmask >> 1))) == 0;  // highest differing bit is 0
    uint64_t o[IPT];
    if (tmask < 32) {
#pragma unroll
      for (int r = 0; r < IPT; ++r) o[r] = __shfl_xor_sync(0xffffffffu, v[r ^ rmask], tmask);
    } else {
#pragma unroll
      for (int r = 0; r < IPT; ++r) xchg[r * kThreads + tid] = v[r];
      __syncthreads();
#pragma unroll
      for (int r = 0; r < IPT; ++r) o[r] = xchg[(r ^ rmask) * kThreads + (tid ^ tmask)];
      __syncthreads();  // xchg is rewritten by the next cross-warp step
    }
#pragma unroll
    for (int r = 0; r < IPT; ++r) v[r] = keep(v[r], o[r], lower);
  };
#pragma unroll
  for (int lk = 1; lk <= kLogN; ++lk) {
    step((1 << lk) - 1);
#pragma unroll
    for (int lj = lk - 2; lj >= 0; --lj) step(1 << lj);
  }
}

}  // namespace hisa::cuda::hisa_ops
