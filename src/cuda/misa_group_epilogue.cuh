// The epilogue of MISA's routed scorer (flat_score_wgmma.cu instantiated with kA < 64 heads per
// query): sums w * relu(acc) per (query, key row) of one m64n64 accumulator whose 64 columns are
// 64 / kA queries of kA routed heads, and stores the scores (x k_scale) as f32 or f16.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/common.cuh"

namespace hisa::cuda {

#if defined(__CUDACC__)
// MISA epilogue (kA < 64): the 64 columns of the accumulator hold kG = 64 / kA queries of kA
// gathered heads each, laid out by the router (misa_router_common.cuh, slot_row) so that a
// query's heads sit with as few lane quads as possible: column n = 8i + 2(lane % 4) + e, and
// kA = 8: lane quad c owns query c (column groups i < 4) and query c + 4 (i >= 4);
// kA = 16: lane quad c owns query c (all 8 groups);
// kA = 32: lanes quads 2j and 2j + 1 share query j (one shuffle).
// So w * relu(acc) is summed in-thread per (query, key row) and stored x k_scale. `w` points at
// the group's 64 weights in shared memory; rows at or past `rows` (chunk padding) and keys at
// or past S are not stored; columns outside a query's [ks, ke) are written but never read.
template <int kA, typename OutT>
__device__ __forceinline__ void store_group(const float (&acc)[32], const float* w, int quad,
                                            int64_t row_first, int64_t rows, OutT* logits,
                                            int64_t ld, int32_t s0, int32_t S, float scale0,
                                            float scale1) {
  static_assert(kA == 8 || kA == 16 || kA == 32, "MISA groups hold 8, 16 or 32 heads per query");
  constexpr int kQ = kA == 8 ? 2 : 1;  // queries per thread
  constexpr int kI = 8 / kQ;           // column groups per query and thread
  float sum[kQ][2];
#pragma unroll
  for (int q = 0; q < kQ; ++q) {
    float a0 = 0.0f, a1 = 0.0f, b0 = 0.0f, b1 = 0.0f;  // two chains per key row
#pragma unroll
    for (int ii = 0; ii < kI; ++ii) {
      const int i = q * kI + ii;
      const float2 wi = *reinterpret_cast<const float2*>(w + 8 * i + 2 * quad);
      a0 = fmaf(relu_keep_nan(acc[4 * i + 0]), wi.x, a0);
      a1 = fmaf(relu_keep_nan(acc[4 * i + 1]), wi.y, a1);
      b0 = fmaf(relu_keep_nan(acc[4 * i + 2]), wi.x, b0);
      b1 = fmaf(relu_keep_nan(acc[4 * i + 3]), wi.y, b1);
    }
    sum[q][0] = a0 + a1;
    sum[q][1] = b0 + b1;
  }
  auto store = [&](int64_t row, int32_t s, float v) {
    if (row < rows && s < S) {
      if constexpr (sizeof(OutT) == 2)
        logits[row * ld + s] = __float2half_rn(v);
      else
        logits[row * ld + s] = v;
    }
  };
  if constexpr (kA == 8) {
#pragma unroll
    for (int q = 0; q < 2; ++q) {
      store(row_first + quad + 4 * q, s0, sum[q][0] * scale0);
      store(row_first + quad + 4 * q, s0 + 8, sum[q][1] * scale1);
    }
  } else if constexpr (kA == 16) {
    store(row_first + quad, s0, sum[0][0] * scale0);
    store(row_first + quad, s0 + 8, sum[0][1] * scale1);
  } else {
    const float r0 = sum[0][0] + __shfl_xor_sync(0xFFFFFFFFu, sum[0][0], 1);
    const float r1 = sum[0][1] + __shfl_xor_sync(0xFFFFFFFFu, sum[0][1], 1);
    if ((quad & 1) == 0)
      store(row_first + (quad >> 1), s0, r0 * scale0);
    else
      store(row_first + (quad >> 1), s0 + 8, r1 * scale1);
  }
}
#endif  // __CUDACC__

}  // namespace hisa::cuda
