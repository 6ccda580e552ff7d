// Pooled block keys (SPEC.md HISA step 2) for every sequence start in the batch.
//
// Blocks align to ks[t], so the pooled key a query needs depends only on where its block
// starts: row p of the pooled table is the mean of the B keys [p, p + B). Queries with
// ks = r (mod B) read rows r, r + B, r + 2B, ... . We compute only the rows of residues that
// some query needs (one residue for one causal sequence; at most one per distinct ks in a
// packed batch), in one pass over k, so the table costs S/B * D work per residue and never
// depends on how queries are grouped. The arithmetic is the CPU contract (cpu/score.hpp):
// each product k_scale[s] * k[s,d] rounded to f32, summed in ascending s without fma, one f32
// division by B — bitwise equal to the CPU's kbar_j. The bf16 variant rounds that f32 mean
// to nearest even (relative error <= 2^-9 per element) for the tensor-core stage 1.
#include <cuda_bf16.h>

#include <string>

#include "cuda/common.cuh"
#include "cuda/hisa_launch.cuh"

namespace hisa::cuda {
namespace {

__global__ void mark_residues_kernel(HisaParams p, int T, uint32_t* used) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= T) return;
  const RowGeometry g = row_of(p, t);
  if (!g.all_blocks) used[g.ks % p.B] = 1u;  // benign race: every writer stores 1
}

template <DType kType>
__device__ __forceinline__ float load_key(const void* k, int64_t i) {
  if constexpr (kType == DType::f32) return static_cast<const float*>(k)[i];
  if constexpr (kType == DType::bf16) return bf16_decode(static_cast<const uint16_t*>(k)[i]);
  if constexpr (kType == DType::fp8_e4m3) return fp8_e4m3_decode(static_cast<const uint8_t*>(k)[i]);
  return 0.0f;
}

// Grid: one CTA per B-row band [j*B, (j+1)*B) of start positions; threads over d. A CTA walks
// the residues in use and writes row p = j*B + r for each.
template <DType kType, bool kBf16Out>
__global__ void pool_keys_kernel(const void* k, const float* k_scale, int S, int D, int B,
                                 const uint32_t* used, void* pooled) {
  const int64_t band = blockIdx.x;
  for (int r = 0; r < B; ++r) {
    if (used[r] == 0u) continue;
    const int64_t p = band * B + r;
    if (p + B > S) break;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
      float sum = 0.0f;
      for (int i = 0; i < B; ++i) {
        const int64_t s = p + i;
        float v = load_key<kType>(k, s * D + d);
        if (k_scale != nullptr) v = __fmul_rn(k_scale[s], v);
        sum = __fadd_rn(sum, v);
      }
      const float mean = __fdiv_rn(sum, static_cast<float>(B));
      if constexpr (kBf16Out)
        static_cast<__nv_bfloat16*>(pooled)[p * D + d] = __float2bfloat16_rn(mean);
      else
        static_cast<float*>(pooled)[p * D + d] = mean;
    }
  }
}

template <bool kBf16Out>
void pool_for(const HisaParams& p, const uint32_t* used, void* pooled, cudaStream_t st) {
  const int bands = (p.S + p.B - 1) / p.B;
  const int threads = p.D < 128 ? 32 * ((p.D + 31) / 32) : 128;
  switch (p.dtype) {
    case DType::f32:
      pool_keys_kernel<DType::f32, kBf16Out>
          <<<bands, threads, 0, st>>>(p.k, p.k_scale, p.S, p.D, p.B, used, pooled);
      break;
    case DType::bf16:
      pool_keys_kernel<DType::bf16, kBf16Out>
          <<<bands, threads, 0, st>>>(p.k, p.k_scale, p.S, p.D, p.B, used, pooled);
      break;
    case DType::fp8_e4m3:
      pool_keys_kernel<DType::fp8_e4m3, kBf16Out>
          <<<bands, threads, 0, st>>>(p.k, p.k_scale, p.S, p.D, p.B, used, pooled);
      break;
  }
  HISA_CUDA_CHECK_LAUNCH("pool_keys_kernel", "S=" + std::to_string(p.S) + " B=" + std::to_string(p.B));
}

}  // namespace

void launch_mark_residues(const HisaParams& p, int T_total, uint32_t* used, cudaStream_t st) {
  HISA_CUDA_CHECK(cudaMemsetAsync(used, 0, sizeof(uint32_t) * p.B, st));
  if (T_total == 0) return;
  mark_residues_kernel<<<(T_total + 255) / 256, 256, 0, st>>>(p, T_total, used);
  HISA_CUDA_CHECK_LAUNCH("mark_residues_kernel", "T=" + std::to_string(T_total));
}

void launch_pool_keys(const HisaParams& p, const uint32_t* used, void* pooled, bool bf16_out,
                      cudaStream_t st) {
  if (p.S < p.B) return;  // no full block anywhere
  if (bf16_out)
    pool_for<true>(p, used, pooled, st);
  else
    pool_for<false>(p, used, pooled, st);
}

}  // namespace hisa::cuda
