// Bitonic sort of up to 2048 64-bit items held in the registers of one 128-thread CTA (one
// warpgroup): the sm_90a HISA kernels' final ranking. Thread t holds items i = t * IPT + r,
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

// Compare-exchange toward descending order when `desc` (larger first), ascending otherwise.
__device__ __forceinline__ void cx(uint64_t& a, uint64_t& b, bool desc) {
  const bool swap = desc ? (a < b) : (a > b);
  const uint64_t lo = swap ? b : a, hi = swap ? a : b;
  a = lo;
  b = hi;
}

// Sorts the 128 * IPT items v (thread t holds items t * IPT + r) descending. `xchg` is shared
// scratch of 128 * IPT entries (used only when IPT * 32 < 128 * IPT, i.e. always: the warp
// stages). Must be called by all 128 threads; blockDim.x must be 128. Ends with the items in
// place (item t * IPT + r is the (t * IPT + r)-th largest); contains __syncthreads.
template <int IPT>
__device__ __forceinline__ void warpgroup_sort_desc(uint64_t (&v)[IPT], uint64_t* xchg) {
  constexpr int kLogN = 7 + (IPT >= 2) + (IPT >= 4) + (IPT >= 8) + (IPT >= 16);
  static_assert(IPT == 1 || IPT == 2 || IPT == 4 || IPT == 8 || IPT == 16, "IPT: power of 2 <= 16");
  const int tid = static_cast<int>(threadIdx.x);
#pragma unroll
  for (int lk = 1; lk <= kLogN; ++lk) {
    const int k = 1 << lk;
#pragma unroll
    for (int lj = lk - 1; lj >= 0; --lj) {
      const int j = 1 << lj;
      if (j < IPT) {
#pragma unroll
        for (int r = 0; r < IPT; ++r) {
          if ((r & j) != 0) continue;
          const bool desc = ((tid * IPT + r) & k) == 0;
          cx(v[r], v[r + j], desc);
        }
      } else if (j < 32 * IPT) {
        const int lane_mask = j / IPT;
        const bool lower = (tid & lane_mask) == 0;  // this thread holds the smaller index
#pragma unroll
        for (int r = 0; r < IPT; ++r) {
          const uint64_t o = __shfl_xor_sync(0xffffffffu, v[r], lane_mask);
          const bool desc = ((tid * IPT + r) & k) == 0;
          const bool keep_max = lower == desc;
          v[r] = keep_max ? (v[r] > o ? v[r] : o) : (v[r] < o ? v[r] : o);
        }
      } else {
        const int partner = tid ^ (j / IPT);
        const bool lower = tid < partner;
#pragma unroll
        for (int r = 0; r < IPT; ++r) xchg[r * 128 + tid] = v[r];
        __syncthreads();
#pragma unroll
        for (int r = 0; r < IPT; ++r) {
          const uint64_t o = xchg[r * 128 + partner];
          const bool desc = ((tid * IPT + r) & k) == 0;
          const bool keep_max = lower == desc;
          v[r] = keep_max ? (v[r] > o ? v[r] : o) : (v[r] < o ? v[r] : o);
        }
        __syncthreads();  // xchg is rewritten by the next cross-warp stage
      }
    }
  }
}

}  // namespace hisa::cuda::hisa_ops
