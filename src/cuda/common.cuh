// Shared device helpers for the CUDA backend: error checking, element decode, ranking keys.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/score_key.hpp"
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

#if defined(__CUDACC__)  // device helpers: nvcc only (host .cpp files include the rest)
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

__device__ __forceinline__ uint32_t score_key(float s) {
  return score_key_bits(__float_as_uint(s));
}

// 64-bit ranking key: (score key, index); larger key = ranked first. Sort descending.
// Inclusive prefix sum of v over the lanes of a full warp (lane i gets lanes 0..i).
__device__ __forceinline__ uint32_t warp_inclusive_sum(uint32_t v) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const uint32_t y = __shfl_up_sync(0xFFFFFFFFu, v, o);
    if (lane >= o) v += y;
  }
  return v;
}

__device__ __forceinline__ uint64_t rank_key(float s, int32_t idx) {
  return (static_cast<uint64_t>(score_key(s)) << 32) | static_cast<uint32_t>(idx);
}

#endif  // __CUDACC__

// ---- helpers shared by the backend files (additions) --------------------------------------

// Like HISA_CUDA_CHECK, with a context string (shapes, sizes) in the message.
#define HISA_CUDA_CHECK_CTX(call, context)                                          \
  do {                                                                              \
    cudaError_t hisa_err_ = (call);                                                 \
    if (hisa_err_ != cudaSuccess)                                                   \
      ::hisa::cuda::throw_cuda_error(hisa_err_, #call, __FILE__, __LINE__, context); \
  } while (0)

__host__ __device__ constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
__host__ __device__ constexpr int64_t align_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Every sub-buffer carved out of a workspace starts on this boundary (TMA and float4 loads).
constexpr std::size_t kWorkspaceAlign = 256;

// Carves consecutive aligned sub-buffers out of one workspace. With base == nullptr it only
// counts, so one function can both size and lay out a workspace.
class WorkspaceCarver {
 public:
  explicit WorkspaceCarver(void* base) : base_(static_cast<char*>(base)) {}
  template <typename T>
  T* take(std::size_t count) {
    const std::size_t at = used_;
    used_ += (count * sizeof(T) + kWorkspaceAlign - 1) / kWorkspaceAlign * kWorkspaceAlign;
    return base_ == nullptr ? nullptr : reinterpret_cast<T*>(base_ + at);
  }
  std::size_t used() const { return used_; }

 private:
  char* base_;
  std::size_t used_ = 0;
};

// Properties of the current device, cached per device id (backend.cu). Throws BackendError.
const cudaDeviceProp& current_device_properties();

// Whether the current device is sm_90 and the driver loaded the sm_90a image of `kernel` (an
// sm_80 image of an sm_90a-only kernel has no body); the image check is cached per kernel.
bool sm90a_kernel_ready(const void* kernel);
inline bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

// An A/B switch read from the environment (backend.cu): unset or empty = -1 (automatic), "0" or
// "1"; anything else is an ArgumentError naming the variable.
int env_switch(const char* name);
// A numeric choice read from the environment (backend.cu): unset or empty = `fallback`, else one
// of `allowed` written as a decimal; anything else is an ArgumentError naming the variable.
int env_choice(const char* name, std::initializer_list<int> allowed, int fallback);

// "T=.. S=.. H=.. D=.. dtype=.." for error messages.
std::string shape_string(const Problem& p);

#if defined(__CUDACC__)
// The score of the contract's ReLU: x < 0 ? 0 : x, which keeps NaN (src/cpu/score.hpp).
// max.NaN is one instruction and propagates NaN the same way (sm_80+).
__device__ __forceinline__ float relu_keep_nan(float x) {
  float r;
  asm("max.NaN.f32 %0, %1, 0f00000000;" : "=f"(r) : "f"(x));
  return r;
}

// Visible range of row t clamped into [0, S] with ks <= ke: kernels never index outside the
// key array even when the caller skipped value checks and passed a bad range.
__device__ __forceinline__ void clamped_range(const int32_t* ks, const int32_t* ke, int64_t t,
                                              int64_t S, int32_t& lo, int32_t& hi) {
  int64_t a = ks[t], b = ke[t];
  a = a < 0 ? 0 : (a > S ? S : a);
  b = b < a ? a : (b > S ? S : b);
  lo = static_cast<int32_t>(a);
  hi = static_cast<int32_t>(b);
}
#endif  // __CUDACC__

}  // namespace hisa::cuda
