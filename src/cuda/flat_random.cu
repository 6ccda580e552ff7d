// Device-side random prefill data for the benchmark (flat_stages.hpp fill_random_fp8).
// Counter-based: element i of each array is a pure function of (seed, array, i), so the data
// does not depend on the launch shape.
#include <cuda_fp8.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "cuda/common.cuh"
#include "cuda/flat_stages.hpp"

namespace hisa::cuda {
namespace {

__device__ __forceinline__ uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Standard normal from two 24-bit uniforms (Box-Muller).
__device__ __forceinline__ float normal(uint64_t seed, uint64_t tag, uint64_t i) {
  const uint64_t r = mix(seed ^ mix(tag * 0x9E3779B97F4A7C15ull + i));
  const float u1 = (static_cast<float>(r >> 40) + 1.0f) * (1.0f / 16777217.0f);
  const float u2 = static_cast<float>((r >> 16) & 0xFFFFFF) * (1.0f / 16777216.0f);
  return sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
}

__global__ void fill_fp8_kernel(uint8_t* out, int64_t n, uint64_t seed, uint64_t tag) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = __nv_cvt_float_to_fp8(4.0f * normal(seed, tag, i), __NV_SATFINITE, __NV_E4M3);
}

__global__ void fill_f32_kernel(float* out, int64_t n, uint64_t seed, uint64_t tag, float scale,
                                float shift, bool uniform) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (uniform) {
      const uint64_t r = mix(seed ^ mix(tag * 0x9E3779B97F4A7C15ull + i));
      out[i] = shift + scale * static_cast<float>(r >> 40) * (1.0f / 16777216.0f);
    } else {
      out[i] = shift + scale * normal(seed, tag, i);
    }
  }
}

unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(ceil_div(n, 256), 1), 8192));
}

}  // namespace

void fill_random_fp8(uint8_t* q, int64_t q_count, uint8_t* k, int64_t k_count, float* k_scale,
                     int64_t S, float* w, int64_t w_count, int64_t H, uint64_t seed,
                     cudaStream_t st) {
  const std::string ctx = "fill_random_fp8 q=" + std::to_string(q_count);
  if (q_count > 0) fill_fp8_kernel<<<blocks_for(q_count), 256, 0, st>>>(q, q_count, seed, 1);
  if (k_count > 0) fill_fp8_kernel<<<blocks_for(k_count), 256, 0, st>>>(k, k_count, seed, 2);
  if (k_scale != nullptr && S > 0)
    fill_f32_kernel<<<blocks_for(S), 256, 0, st>>>(k_scale, S, seed, 3, 1.0f, 0.5f, true);
  if (w_count > 0)
    fill_f32_kernel<<<blocks_for(w_count), 256, 0, st>>>(
        w, w_count, seed, 4, 1.0f / std::sqrt(static_cast<float>(H)), 0.0f, false);
  HISA_CUDA_CHECK_LAUNCH("fill_random_fp8 kernels", ctx);
}

}  // namespace hisa::cuda
