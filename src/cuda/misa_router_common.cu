// The key side of MISA's f16 routed-logit scale: kmax = max over keys of k_scale[s] * |k[s]|_2,
// so that |I_A(t, s)| <= kmax * sum_{h in A} |w[t,h]| |q[t,h]|_2 (Cauchy-Schwarz) bounds every
// routed score of row t (misa_router_common.cuh, f16_row_scale). Keys whose norm is not finite
// are skipped: their scores are NaN or infinite whatever the scale.
#include <string>

#include "cuda/common.cuh"
#include "cuda/misa_launch.cuh"

namespace hisa::cuda {
namespace {

__device__ __forceinline__ float decode(DType dt, const void* base, int64_t i) {
  switch (dt) {
    case DType::f32: return static_cast<const float*>(base)[i];
    case DType::bf16: return bf16_decode(static_cast<const uint16_t*>(base)[i]);
    case DType::fp8_e4m3: return fp8_e4m3_decode(static_cast<const uint8_t*>(base)[i]);
  }
  return 0.0f;
}

// One warp per key (grid-stride), lanes over d; the max as int bits (non-negative floats order
// as their bit patterns).
__global__ void key_norm_max_kernel(DType dtype, const void* k, const float* k_scale, int64_t S,
                                    int64_t D, float* kmax) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  float best = 0.0f;
  for (int64_t s = blockIdx.x * static_cast<int64_t>(blockDim.x / 32) + threadIdx.x / 32; s < S;
       s += warps) {
    float acc = 0.0f;
    for (int64_t d = lane; d < D; d += 32) {
      const float v = decode(dtype, k, s * D + d);
      acc = fmaf(v, v, acc);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xFFFFFFFFu, acc, o);
    const float norm = sqrtf(acc) * (k_scale != nullptr ? fabsf(k_scale[s]) : 1.0f);
    if (isfinite(norm)) best = fmaxf(best, norm);
  }
  if (lane == 0 && best > 0.0f) atomicMax(reinterpret_cast<int*>(kmax), __float_as_int(best));
}

}  // namespace

void launch_key_norm_max(DType dtype, const void* k, const float* k_scale, int64_t S, int64_t D,
                         float* kmax, cudaStream_t st) {
  HISA_CUDA_CHECK(cudaMemsetAsync(kmax, 0, sizeof(float), st));
  if (S <= 0) return;
  const int64_t blocks = std::min<int64_t>(ceil_div(S, 8), 1024);
  key_norm_max_kernel<<<static_cast<unsigned>(blocks), 256, 0, st>>>(dtype, k, k_scale, S, D,
                                                                      kmax);
  HISA_CUDA_CHECK_LAUNCH("key_norm_max_kernel", "S=" + std::to_string(S));
}

}  // namespace hisa::cuda
