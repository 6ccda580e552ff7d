// Portable tensor-core flat scorer (sm_80+, mma.sync m16n8k16 with f32 accumulation).
// FP8 e4m3 is decoded exactly to f16 while staging into shared memory (every e4m3 value is an
// f16 value), bf16 is used as is. Any H and D (zero-padded to multiples of 16).
//
// A CTA holds `qb` consecutive queries (one warp each) and walks key tiles of 64 over the union
// of their visible ranges; blockIdx.y strides the tiles so that long rows spread over CTAs.
// Warp layout: M = 16 heads of its query, N = 8 keys, K = 16 of D. For each head tile the
// accumulators go through ReLU * w and are summed into per-key partials, which a butterfly
// over the 8 row groups finishes. Summation order differs from the CPU (tensor-core dot
// products, heads in tiles): results agree within rounding, not bitwise.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <string>

#include "cuda/common.cuh"
#include "cuda/flat_score.cuh"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

constexpr int kTileKeys = 64;
constexpr int kPad = 8;  // halves of padding per shared row: rows shift by 4 banks
constexpr std::size_t kMaxSmem = 160 * 1024;

struct MmaArgs {
  const void* q;
  const void* k;
  const float* k_scale;
  const float* w;
  const int32_t* ks;
  const int32_t* ke;
  int64_t t0, rows, S;
  int H, D, Hp, Dp, qb;
  float* logits;
  int64_t ld;
};

// Raw 16-bit value (f16 or bf16 bits) of element i of q/k.
template <bool kFp8>
__device__ __forceinline__ uint16_t stage_bits(const void* base, int64_t i) {
  if constexpr (kFp8) {
    return __half_as_ushort(__float2half_rn(fp8_e4m3_decode(static_cast<const uint8_t*>(base)[i])));
  } else {
    return static_cast<const uint16_t*>(base)[i];
  }
}

template <bool kFp8>
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1) {
  if constexpr (kFp8) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

template <bool kFp8>
__global__ void __launch_bounds__(128) flat_score_mma_kernel(MmaArgs a) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int stride = a.Dp + kPad;  // halves per shared row
  uint16_t* qs = reinterpret_cast<uint16_t*>(smem);            // [qb][Hp][stride]
  uint16_t* kt = qs + static_cast<int64_t>(a.qb) * a.Hp * stride;  // [64][stride]
  float* wsm = reinterpret_cast<float*>(kt + kTileKeys * stride);  // [qb][Hp]
  float* scl = wsm + a.qb * a.Hp;                                  // [64]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const int64_t r0 = static_cast<int64_t>(blockIdx.x) * a.qb;

  // Union of the CTA's visible ranges, and this warp's own range.
  int32_t lo = INT32_MAX, hi = 0, my_lo = 0, my_hi = 0;
  for (int i = 0; i < a.qb; ++i) {
    if (r0 + i >= a.rows) break;
    int32_t l, h;
    clamped_range(a.ks, a.ke, a.t0 + r0 + i, a.S, l, h);
    if (l < h) {
      lo = min(lo, l);
      hi = max(hi, h);
    }
    if (i == warp) {
      my_lo = l;
      my_hi = h;
    }
  }
  if (lo >= hi) return;

  // Stage q (zero-padded) and w; zero the key tile so its padding columns stay 0.
  const int64_t qn = static_cast<int64_t>(a.qb) * a.Hp * stride;
  for (int64_t i = tid; i < qn; i += blockDim.x) {
    const int d = static_cast<int>(i % stride);
    const int64_t row = i / stride;
    const int h = static_cast<int>(row % a.Hp), qi = static_cast<int>(row / a.Hp);
    uint16_t v = 0;
    if (d < a.D && h < a.H && r0 + qi < a.rows)
      v = stage_bits<kFp8>(a.q, ((a.t0 + r0 + qi) * a.H + h) * a.D + d);
    qs[i] = v;
  }
  for (int i = tid; i < a.qb * a.Hp; i += blockDim.x) {
    const int h = i % a.Hp, qi = i / a.Hp;
    wsm[i] = (h < a.H && r0 + qi < a.rows) ? a.w[(a.t0 + r0 + qi) * a.H + h] : 0.0f;
  }
  for (int i = tid; i < kTileKeys * stride; i += blockDim.x) kt[i] = 0;
  __syncthreads();

  const bool active = r0 + warp < a.rows && warp < a.qb;
  const uint16_t* qw = qs + static_cast<int64_t>(warp) * a.Hp * stride;
  const float* ww = wsm + warp * a.Hp;

  for (int64_t s0 = lo + static_cast<int64_t>(blockIdx.y) * kTileKeys; s0 < hi;
       s0 += static_cast<int64_t>(gridDim.y) * kTileKeys) {
    for (int i = tid; i < kTileKeys * a.D; i += blockDim.x) {
      const int key = i / a.D, d = i % a.D;
      const int64_t s = s0 + key;
      kt[key * stride + d] = s < hi ? stage_bits<kFp8>(a.k, s * a.D + d) : uint16_t(0);
    }
    for (int key = tid; key < kTileKeys; key += blockDim.x) {
      const int64_t s = s0 + key;
      scl[key] = s < hi ? (a.k_scale != nullptr ? a.k_scale[s] : 1.0f) : 0.0f;
    }
    __syncthreads();

    if (active && s0 < my_hi && s0 + kTileKeys > my_lo) {
      float part[8][2];
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) part[nt][0] = part[nt][1] = 0.0f;
      for (int mt = 0; mt < a.Hp / 16; ++mt) {
        float acc[8][4];
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.0f;
        const uint16_t* qa = qw + (mt * 16 + g) * stride + 2 * t4;
        for (int kk = 0; kk < a.Dp; kk += 16) {
          uint32_t af[4];
          af[0] = *reinterpret_cast<const uint32_t*>(qa + kk);
          af[1] = *reinterpret_cast<const uint32_t*>(qa + 8 * stride + kk);
          af[2] = *reinterpret_cast<const uint32_t*>(qa + kk + 8);
          af[3] = *reinterpret_cast<const uint32_t*>(qa + 8 * stride + kk + 8);
#pragma unroll
          for (int nt = 0; nt < 8; ++nt) {
            const uint16_t* kb = kt + (nt * 8 + g) * stride + kk + 2 * t4;
            mma_16816<kFp8>(acc[nt], af, *reinterpret_cast<const uint32_t*>(kb),
                            *reinterpret_cast<const uint32_t*>(kb + 8));
          }
        }
        const float w0 = ww[mt * 16 + g], w1 = ww[mt * 16 + g + 8];
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
          part[nt][0] = fmaf(relu_keep_nan(acc[nt][0]), w0, part[nt][0]);
          part[nt][0] = fmaf(relu_keep_nan(acc[nt][2]), w1, part[nt][0]);
          part[nt][1] = fmaf(relu_keep_nan(acc[nt][1]), w0, part[nt][1]);
          part[nt][1] = fmaf(relu_keep_nan(acc[nt][3]), w1, part[nt][1]);
        }
      }
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          float v = part[nt][c];
          v += __shfl_xor_sync(0xFFFFFFFFu, v, 4);
          v += __shfl_xor_sync(0xFFFFFFFFu, v, 8);
          v += __shfl_xor_sync(0xFFFFFFFFu, v, 16);
          part[nt][c] = v;
        }
      }
      if (g == 0) {
        float* out = a.logits + (r0 + warp) * a.ld;
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
          for (int c = 0; c < 2; ++c) {
            const int key = nt * 8 + 2 * t4 + c;
            const int64_t s = s0 + key;
            if (s >= my_lo && s < my_hi) out[s] = part[nt][c] * scl[key];
          }
        }
      }
    }
    __syncthreads();
  }
}

std::size_t mma_smem(const Problem& p, int qb) {
  const int64_t Hp = align_up(p.H, 16), stride = align_up(p.D, 16) + kPad;
  return (qb * Hp * stride + kTileKeys * stride) * sizeof(uint16_t) +
         (qb * Hp + kTileKeys) * sizeof(float);
}

int mma_queries_per_cta(const Problem& p) {
  for (int qb : {4, 2, 1})
    if (mma_smem(p, qb) <= kMaxSmem) return qb;
  return 0;
}

}  // namespace

bool mma_scorer_supports(const Problem& p) {
  if (p.dtype != DType::fp8_e4m3 && p.dtype != DType::bf16) return false;
  if (mma_queries_per_cta(p) == 0) return false;
  return current_device_properties().major >= 8;
}

void mma_score_rows(const ScoreRowsArgs& a, cudaStream_t st) {
  const Problem& p = *a.p;
  if (!mma_scorer_supports(p))
    throw BackendError("flat (mma scorer): needs FP8 or bf16, an sm_80+ GPU and H*D that fits "
                       "shared memory (" + shape_string(p) + ")");
  if (a.rows <= 0 || p.S <= 0) return;
  const int qb = mma_queries_per_cta(p);
  MmaArgs k{p.q, p.k, p.k_scale, p.w, a.ks, a.ke, a.t0, a.rows, p.S,
            static_cast<int>(p.H), static_cast<int>(p.D), static_cast<int>(align_up(p.H, 16)),
            static_cast<int>(align_up(p.D, 16)), qb, a.logits, a.ld};
  const int64_t ctas_x = ceil_div(a.rows, qb);
  const int sms = current_device_properties().multiProcessorCount;
  // Enough CTAs to fill the GPU several times over; each strides over the key tiles.
  const int64_t splits = std::clamp<int64_t>(ceil_div(8 * sms, ctas_x), 1,
                                             std::min<int64_t>(ceil_div(p.S, kTileKeys), 65535));
  const dim3 grid(static_cast<unsigned>(ctas_x), static_cast<unsigned>(splits));
  const std::size_t smem = mma_smem(p, qb);
  const std::string ctx = "flat mma scorer " + shape_string(p) + " rows=" + std::to_string(a.rows);
  auto launch = [&](auto kernel) {
    HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(smem)),
                        ctx);
    kernel<<<grid, 32 * qb, smem, st>>>(k);
    HISA_CUDA_CHECK_LAUNCH("flat_score_mma_kernel", ctx);
  };
  if (p.dtype == DType::fp8_e4m3)
    launch(flat_score_mma_kernel<true>);
  else
    launch(flat_score_mma_kernel<false>);
}

}  // namespace hisa::cuda
