// Device-side random decode inputs for the benchmark (decode_bench.hpp).
#include <cuda_fp8.h>

#include <string>

#include "cuda/common.cuh"
#include "cuda/decode_bench.hpp"

namespace hisa::cuda {
namespace {

__device__ __forceinline__ uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// ~N(0, 1): the sum of four uniforms, centred and scaled (good enough for timing data).
__device__ __forceinline__ float normalish(uint64_t h) {
  float s = 0.0f;
  for (int i = 0; i < 4; ++i) s += static_cast<float>((h >> (16 * i)) & 0xFFFF) * (1.0f / 65536.0f);
  return (s - 2.0f) * 1.7320508f;
}
__device__ __forceinline__ uint8_t fp8_of(float v) {
  return static_cast<uint8_t>(__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3));
}

__global__ void fill_cache_kernel(uint8_t* cache, int64_t num_pages, int64_t P, int64_t D, uint64_t seed) {
  const int64_t page_bytes = P * (D + 4);
  const int64_t total = num_pages * page_bytes;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t in_page = i % page_bytes;
    if (in_page < P * D) {
      cache[i] = fp8_of(2.0f * normalish(mix(seed * 3 + 1 + mix(i))));
    } else if ((in_page - P * D) % 4 == 0) {
      const float u = static_cast<float>(mix(seed * 5 + 2 + mix(i)) >> 40) * (1.0f / 16777216.0f);
      *reinterpret_cast<float*>(cache + i) = 0.5f + u;
    }
  }
}

__global__ void fill_q_w_kernel(uint8_t* q, int64_t q_count, float* w, int64_t w_count, uint64_t seed) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < q_count; i += stride)
    q[i] = fp8_of(2.0f * normalish(mix(seed * 7 + 3 + mix(i))));
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < w_count; i += stride)
    w[i] = 0.35f * normalish(mix(seed * 11 + 4 + mix(i)));
}

}  // namespace

void fill_decode_random(uint8_t* cache, int64_t num_pages, int64_t P, int64_t D, uint8_t* q,
                        int64_t q_count, float* w, int64_t w_count, uint64_t seed,
                        cudaStream_t stream) {
  fill_cache_kernel<<<4096, 256, 0, stream>>>(cache, num_pages, P, D, seed);
  fill_q_w_kernel<<<1024, 256, 0, stream>>>(q, q_count, w, w_count, seed);
  HISA_CUDA_CHECK_LAUNCH("fill_decode_random", "pages=" + std::to_string(num_pages));
}

}  // namespace hisa::cuda
