// Shared device helpers for the CUDA backend: error checking, element decode, ranking keys.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "hisa/error.hpp"
#include "hisa/types.hpp"

namespace hisa::cuda {

// Throws BackendError naming the failing call, the file:line and `context` (e.g. shapes).
void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line,
                      const std::string& context = {});

#define HISA_CUDA_CHECK(call)                                                       \
  do {                                                                              \
    cudaError_t hisa_err_ = (call);                                                 \
    if (hisa_err_ != cudaSuccess)                                                   \
      ::hisa::cuda::throw_cuda_error(hisa_err_, #call, __FILE__, __LINE__);         \
  } while (0)

// After a kernel launch: reports launch-configuration errors (no sync).
#define HISA_CUDA_CHECK_LAUNCH(name, context)                                       \
  do {                                                                              \
    cudaError_t hisa_err_ = cudaGetLastError();                                     \
    if (hisa_err_ != cudaSuccess)                                                   \
      ::hisa::cuda::throw_cuda_error(hisa_err_, name, __FILE__, __LINE__, context); \
  } while (0)

// Exact FP8 e4m3fn decode on the device (matches hisa::fp8_e4m3_to_float).
__device__ __forceinline__ float fp8_e4m3_decode(uint8_t code) {
  const uint32_t sign = (code & 0x80u) << 24;
  const uint32_t exp = (code >> 3) & 0xFu;
  const uint32_t man = code & 0x7u;
  if (exp == 0xF && man == 0x7) return __int_as_float(0x7FC00000u);
  if (exp == 0) return __int_as_float(sign) + (sign ? -1.f : 1.f) * man * 0.001953125f;  // 2^-9
  return __int_as_float(sign | ((exp + 120u) << 23) | (man << 20));
}

__device__ __forceinline__ float bf16_decode(uint16_t bits) {
  return __int_as_float(static_cast<uint32_t>(bits) << 16);
}

// Order-preserving map of a score to uint32: larger score -> larger key; every NaN -> 0
// (ranks below every finite score and -inf). Ties in key are broken by the larger index.
__device__ __forceinline__ uint32_t score_key(float s) {
  if (s != s) return 0u;
  const uint32_t u = __float_as_uint(s);
  const uint32_t k = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return k == 0u ? 1u : k;  // keep 0 reserved for NaN (only -NaN-like patterns map to 0)
}

// 64-bit ranking key: (score key, index); larger key = ranked first. Sort descending.
__device__ __forceinline__ uint64_t rank_key(float s, int32_t idx) {
  return (static_cast<uint64_t>(score_key(s)) << 32) | static_cast<uint32_t>(idx);
}

}  // namespace hisa::cuda
