// MISA router on Hopper tensor cores (sm_90a, H = 64, D = 128, FP8 or bf16 q): one CTA = one
// warpgroup = one query row, as HISA's stage 1 (hisa_sm90_tile.cuh). Tiles of 64 pooled keys
// (bf16, the full blocks j < nb - 1 of the row) are the M side of an m64n64k16 bf16 wgmma, the
// query's 64 heads (FP8 decoded exactly to bf16) the N side. The epilogue keeps, per head,
// sum_j relu(dot(q_h, kbar_j)) in registers (a thread's accumulators hold 16 heads x 2 blocks;
// zero-filled rows past the last block add relu(0) = 0); a shuffle reduction over the 8 lane
// groups and a shared sum over the 4 warps finish r(t, h) = |w[t, h]| * sum. Then the a active
// heads (misa_router_common.cuh) and the gathered q rows / weights of the routed scorer.
//
// Arithmetic: bf16 pooled keys (<= 2^-9 relative per element) and tensor-core sums in their own
// order: r matches the CPU's up to rounding, so heads whose r nearly ties the a-th largest can
// differ from the CPU's choice (tests/gpu/test_misa_fast.cpp states the tolerance).
#include <string>

#include "cuda/common.cuh"
#include "cuda/hisa_sm90_tile.cuh"
#include "cuda/misa_launch.cuh"
#include "cuda/misa_router_common.cuh"

namespace hisa::cuda {
namespace {

using namespace sm90;

struct RouterCarve {
  size_t qtile, stages, part, keys, rank, heads, total;
};
__host__ __device__ inline RouterCarve router_carve() {
  using S2 = TileShape<2>;
  RouterCarve c{};
  size_t o = 0;
  c.qtile = o;  o += S2::kTileBytes;
  c.stages = o; o += static_cast<size_t>(S2::kStages) * S2::kTileBytes;
  c.part = o;   o += sizeof(float) * 4 * kRows;     // per-warp head sums
  c.keys = o;   o += sizeof(uint32_t) * kRows;
  c.rank = o;   o += sizeof(int32_t) * kRows;
  c.heads = o;  o += sizeof(int32_t) * kRows + sizeof(float) * 8;  // + scale reduction
  c.total = o + 1024;
  return c;
}

template <int E>
__global__ void __launch_bounds__(kThreads) misa_router_sm90_kernel(MisaRouterParams p) {
#ifdef HISA_SM90
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  unsigned char* smem = aligned_base(smem_raw);
  const RouterCarve c = router_carve();
  int32_t* heads = reinterpret_cast<int32_t*>(smem + c.heads);
  float* red = reinterpret_cast<float*>(heads + kRows);
  const int r = blockIdx.x;
  const int64_t t = static_cast<int64_t>(p.t0) + r;
  if (r >= p.rows) {  // padding of the gathered layout: zero rows and weights
    if (threadIdx.x < kRows) heads[threadIdx.x] = 0;
    __syncthreads();
    misa::write_gathered<E>(p, r, p.t0, heads, 0, 0.0f, false, true);
    return;
  }
  int32_t lo, hi;
  clamped_range(p.ks, p.ke, t, p.S, lo, hi);
  const int n = hi - lo;
  if (!misa::routed(n, p.B, p.C)) {  // every token is a candidate or every head is active
    if (threadIdx.x < kRows) heads[threadIdx.x] = threadIdx.x;
    __syncthreads();
    misa::write_gathered<E>(p, r, t, heads, p.a, 0.0f, false, true);
    return;
  }

  const int64_t qrow = t * kRows * kD;
  if constexpr (E == 1) {
    load_q_fp8_as_bf16(static_cast<const uint8_t*>(p.q) + qrow, smem + c.qtile);
  } else {
    load_q_async<2>(static_cast<const uint8_t*>(p.q) + qrow * 2, smem + c.qtile);
    cp_async_commit();
  }
  // Thread columns: heads 8i + 2(lane % 4) + e; hs[2i + e] sums relu over its two key rows.
  float hs[16];
#pragma unroll
  for (int i = 0; i < 16; ++i) hs[i] = 0.0f;
  const int nfull = misa::full_blocks(n, p.B);
  const unsigned char* pooled = static_cast<const unsigned char*>(p.pooled);
  const int64_t row_bytes = kD * 2, stride = static_cast<int64_t>(p.B) * row_bytes;
  auto row_ptr = [&](int j) { return pooled + (static_cast<int64_t>(lo) + static_cast<int64_t>(j) * p.B) * row_bytes; };
  auto affine = [&](int tile) { return AffineRows{row_ptr(tile * kRows), stride}; };
  auto epi = [&](float(&acc)[32], int) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      hs[2 * i] += relu(acc[4 * i]) + relu(acc[4 * i + 2]);
      hs[2 * i + 1] += relu(acc[4 * i + 1]) + relu(acc[4 * i + 3]);
    }
  };
  mma_loop<2, true>(smem + c.qtile, smem + c.stages, (nfull + kRows - 1) / kRows, nfull, true,
                    affine, row_ptr, [](int, int) {}, epi);

  // Sum over the 8 lane groups of a warp (same lane % 4 = same heads), then over the 4 warps.
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    hs[i] += __shfl_xor_sync(0xFFFFFFFFu, hs[i], 4);
    hs[i] += __shfl_xor_sync(0xFFFFFFFFu, hs[i], 8);
    hs[i] += __shfl_xor_sync(0xFFFFFFFFu, hs[i], 16);
  }
  float* part = reinterpret_cast<float*>(smem + c.part);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane < 4) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      part[warp * kRows + 8 * i + 2 * lane] = hs[2 * i];
      part[warp * kRows + 8 * i + 2 * lane + 1] = hs[2 * i + 1];
    }
  }
  __syncthreads();
  uint32_t* keys = reinterpret_cast<uint32_t*>(smem + c.keys);
  if (threadIdx.x < kRows) {
    const int h = threadIdx.x;
    const float sum = (part[h] + part[kRows + h]) + (part[2 * kRows + h] + part[3 * kRows + h]);
    keys[h] = score_key(fabsf(p.w[t * kRows + h]) * sum);
  }
  __syncthreads();
  misa::choose_heads(keys, kRows, p.a, reinterpret_cast<int32_t*>(smem + c.rank), heads);

  // f16 logits: the row's power-of-two scale from the Cauchy-Schwarz bound of its routed scores.
  float scale = 1.0f;
  if (p.kmax != nullptr) {
    // One warp per active head (lanes over d): sum_{h in A} |w_h| |q_h| and max |w_h|.
    float bound = 0.0f, wmax = 0.0f;
    for (int i = warp; i < p.a; i += kThreads / 32) {
      const int h = heads[i];
      const uint8_t* qh = static_cast<const uint8_t*>(p.q) + (t * kRows + h) * kD * E;
      float s2 = 0.0f;
      for (int d = lane; d < kD; d += 32) {
        const float v = E == 1 ? fp8_e4m3_decode(qh[d])
                               : bf16_decode(reinterpret_cast<const uint16_t*>(qh)[d]);
        s2 = fmaf(v, v, s2);
      }
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) s2 += __shfl_xor_sync(0xFFFFFFFFu, s2, o);
      const float wh = fabsf(p.w[t * kRows + h]);
      bound += wh * sqrtf(s2);
      wmax = fmaxf(wmax, wh);
    }
    if (lane == 0) {
      red[warp] = bound;
      red[4 + warp] = wmax;
    }
    __syncthreads();
    bound = (red[0] + red[1]) + (red[2] + red[3]);
    wmax = fmaxf(fmaxf(red[4], red[5]), fmaxf(red[6], red[7]));
    scale = misa::f16_row_scale(bound * *p.kmax, wmax);
  }
  misa::write_gathered<E>(p, r, t, heads, p.a, scale, true, false);
#elif defined(__CUDA_ARCH__)
  __trap();  // never launched off sm_90a (misa_select.cu checks the device)
#endif
}

}  // namespace

bool misa_router_sm90_supported(const MisaRouterParams& p) {
  return p.H == kRows && p.D == kD && p.a <= kRows &&
         (p.dtype == DType::fp8_e4m3 || p.dtype == DType::bf16);
}

void launch_misa_router_sm90(const MisaRouterParams& p, cudaStream_t st) {
  if (p.rows_pad == 0) return;
  const size_t bytes = router_carve().total;
  const std::string ctx = "misa_router_sm90 rows=" + std::to_string(p.rows) +
                          " S=" + std::to_string(p.S) + " B=" + std::to_string(p.B);
  if (p.dtype == DType::fp8_e4m3) {
    HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(misa_router_sm90_kernel<1>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(bytes)), ctx);
    misa_router_sm90_kernel<1><<<p.rows_pad, kThreads, bytes, st>>>(p);
  } else {
    HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(misa_router_sm90_kernel<2>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(bytes)), ctx);
    misa_router_sm90_kernel<2><<<p.rows_pad, kThreads, bytes, st>>>(p);
  }
  HISA_CUDA_CHECK_LAUNCH("misa_router_sm90_kernel", ctx);
}

}  // namespace hisa::cuda
