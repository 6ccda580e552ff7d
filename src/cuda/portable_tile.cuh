// The CUDA-core (portable, sm_80+) scoring tile shared by HISA's and MISA's portable kernels:
// 32 keys transposed into shared memory ([D][33]: conflict-free both ways), every query head
// dotted with them in the CPU's arithmetic (sequential fma over d, relu keeping NaN), so the
// portable paths stay bitwise equal to the CPU reference.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/common.cuh"
#include "hisa/types.hpp"

namespace hisa::cuda::portable {

constexpr int kTile = 32;              // keys per tile: one per lane
constexpr int kTilePitch = kTile + 1;  // [D][33] transposed tile
constexpr int kHeadGroup = 4;          // heads per thread per pass (register blocking)

__device__ __forceinline__ float relu(float x) { return x < 0.0f ? 0.0f : x; }

__device__ __forceinline__ float decode(DType dt, const void* base, int64_t i) {
  switch (dt) {
    case DType::f32: return static_cast<const float*>(base)[i];
    case DType::bf16: return bf16_decode(static_cast<const uint16_t*>(base)[i]);
    case DType::fp8_e4m3: return fp8_e4m3_decode(static_cast<const uint8_t*>(base)[i]);
  }
  return 0.0f;
}

__host__ __device__ inline size_t align16(size_t v) { return (v + 15) & ~size_t(15); }

// rd[h][l] = relu(dot(q_h, key_l)) for the H heads of qf ([H][D] f32) and the kTile keys of kt
// (lane l = key l); each dot a sequential fma over d. The caller synchronises before reading rd.
__device__ __forceinline__ void tile_head_dots(const float* qf, const float* kt, float* rd, int H,
                                               int D) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  for (int h0 = warp * kHeadGroup; h0 < H; h0 += nwarps * kHeadGroup) {
    float acc[kHeadGroup];
    const float* qrow[kHeadGroup];
#pragma unroll
    for (int g = 0; g < kHeadGroup; ++g) {
      acc[g] = 0.0f;
      qrow[g] = qf + static_cast<int64_t>(h0 + g < H ? h0 + g : h0) * D;
    }
    for (int d = 0; d < D; ++d) {
      const float kv = kt[d * kTilePitch + lane];
#pragma unroll
      for (int g = 0; g < kHeadGroup; ++g) acc[g] = __fmaf_rn(qrow[g][d], kv, acc[g]);
    }
#pragma unroll
    for (int g = 0; g < kHeadGroup; ++g)
      if (h0 + g < H) rd[(h0 + g) * kTile + lane] = relu(acc[g]);
  }
}

}  // namespace hisa::cuda::portable
