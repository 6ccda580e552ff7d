// The ranking rule of SPEC.md as one bit mapping, shared by the CPU and CUDA backends:
// an order-preserving map of an f32 score's bits to uint32 (larger score -> larger key).
// Every NaN maps to 0, below -inf; -0 is folded into +0 so the two zeros tie and the index
// decides (ties rank the larger index first: the index goes in the low bits of rank keys).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define HISA_HOST_DEVICE __host__ __device__
#else
#define HISA_HOST_DEVICE
#endif

namespace hisa {

HISA_HOST_DEVICE inline uint32_t score_key_bits(uint32_t u) {
  if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu) != 0u) return 0u;  // NaN
  if ((u & 0x7FFFFFFFu) == 0u) u = 0u;                                         // -0 -> +0
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

}  // namespace hisa
