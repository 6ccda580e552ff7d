// CUDA-core flat scorer in the CPU backend's exact arithmetic (src/cpu/score.hpp): decode to
// f32, dot = sequential fma over d, relu = x < 0 ? 0 : x, head sum = fma over h ascending,
// times k_scale. Every logit is bitwise identical to hisa::cpu::token_score, so this path is
// the reference the tensor-core scorers are tested against on the device, and the path for
// f32 inputs and shapes the tensor-core kernels do not take. Slow (no data reuse across keys
// beyond L1); correctness first.
#include <string>

#include "cuda/common.cuh"
#include "cuda/flat_score.cuh"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

constexpr int kKeysPerCta = 128;
constexpr std::size_t kMaxSmem = 200 * 1024;

template <typename TIn>
__device__ __forceinline__ float decode(TIn v);
template <>
__device__ __forceinline__ float decode<float>(float v) { return v; }
template <>
__device__ __forceinline__ float decode<uint16_t>(uint16_t v) { return bf16_decode(v); }
template <>
__device__ __forceinline__ float decode<uint8_t>(uint8_t v) { return fp8_e4m3_decode(v); }

struct SimtArgs {
  const void* q;
  const void* k;
  const float* k_scale;
  const float* w;
  const int32_t* ks;
  const int32_t* ke;
  int64_t t0, S;
  int H, D;
  float* logits;
  int64_t ld;
};

// grid (key tiles, rows); block kKeysPerCta threads, one key each.
template <typename TIn>
__global__ void __launch_bounds__(kKeysPerCta) flat_score_simt_kernel(SimtArgs a) {
  extern __shared__ float smem[];  // q of this query decoded [H * D], then w [H]
  const int64_t r = blockIdx.y;
  const int64_t t = a.t0 + r;
  int32_t lo, hi;
  clamped_range(a.ks, a.ke, t, a.S, lo, hi);
  const int64_t s0 = static_cast<int64_t>(blockIdx.x) * kKeysPerCta;
  if (s0 >= hi || s0 + kKeysPerCta <= lo) return;

  const int HD = a.H * a.D;
  float* qs = smem;
  float* ws = smem + HD;
  const TIn* q = static_cast<const TIn*>(a.q) + t * HD;
  for (int i = threadIdx.x; i < HD; i += blockDim.x) qs[i] = decode<TIn>(q[i]);
  for (int h = threadIdx.x; h < a.H; h += blockDim.x) ws[h] = a.w[t * a.H + h];
  __syncthreads();

  const int64_t s = s0 + threadIdx.x;
  if (s < lo || s >= hi) return;
  const TIn* krow = static_cast<const TIn*>(a.k) + s * a.D;
  float sc = 0.0f;
  for (int h = 0; h < a.H; ++h) {
    const float* qh = qs + h * a.D;
    float acc = 0.0f;
    for (int d = 0; d < a.D; ++d) acc = __fmaf_rn(qh[d], decode<TIn>(krow[d]), acc);
    const float relu = acc < 0.0f ? 0.0f : acc;
    sc = __fmaf_rn(ws[h], relu, sc);
  }
  a.logits[r * a.ld + s] = a.k_scale != nullptr ? __fmul_rn(a.k_scale[s], sc) : sc;
}

std::size_t simt_smem(const Problem& p) { return (p.H * p.D + p.H) * sizeof(float); }

}  // namespace

bool simt_scorer_supports(const Problem& p) {
  return simt_smem(p) <= kMaxSmem && p.S <= static_cast<int64_t>(kKeysPerCta) * INT32_MAX;
}

void simt_score_rows(const ScoreRowsArgs& a, cudaStream_t st) {
  const Problem& p = *a.p;
  if (!simt_scorer_supports(p))
    throw BackendError("flat (simt scorer): H*D=" + std::to_string(p.H * p.D) +
                       " is too large for the CUDA backend's shared memory (" + shape_string(p) +
                       ")");
  if (a.rows <= 0 || p.S <= 0) return;
  if (a.rows > 65535) throw BackendError("flat (simt scorer): chunk of more than 65535 rows");
  SimtArgs k{p.q,     p.k,   p.k_scale, p.w, a.ks, a.ke, a.t0, p.S, static_cast<int>(p.H),
             static_cast<int>(p.D), a.logits, a.ld};
  const dim3 grid(static_cast<unsigned>(ceil_div(p.S, kKeysPerCta)), static_cast<unsigned>(a.rows));
  const std::size_t smem = simt_smem(p);
  const std::string ctx = "flat simt scorer " + shape_string(p) + " rows=" + std::to_string(a.rows);
  auto launch = [&](auto kernel) {
    HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(smem)),
                        ctx);
    kernel<<<grid, kKeysPerCta, smem, st>>>(k);
    HISA_CUDA_CHECK_LAUNCH("flat_score_simt_kernel", ctx);
  };
  switch (p.dtype) {
    case DType::f32: launch(flat_score_simt_kernel<float>); break;
    case DType::bf16: launch(flat_score_simt_kernel<uint16_t>); break;
    case DType::fp8_e4m3: launch(flat_score_simt_kernel<uint8_t>); break;
  }
}

}  // namespace hisa::cuda
