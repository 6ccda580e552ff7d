// Portable MISA router (CUDA cores, sm_80+, any dtype, H, D): one CTA per query row. The CPU
// contract step by step (cpu/score.hpp "MISA router"): exact decode, each dot a sequential fma
// over d against the f32 pooled keys (bitwise the CPU's kbar_j, pool_keys.cu), relu keeping
// NaN, the sum over blocks j ascending in plain f32 adds, one multiply by |w|. So the router
// values, and hence the active heads, are BITWISE the CPU backend's. Tiles of 32 pooled keys are
// staged transposed in shared memory; warps take 4 heads at a time, lane l = block c0 + l.
#include <string>

#include "cuda/common.cuh"
#include "cuda/misa_launch.cuh"
#include "cuda/misa_router_common.cuh"
#include "cuda/portable_tile.cuh"

namespace hisa::cuda {
namespace {

constexpr int kThreads = 256;
using portable::align16;
using portable::decode;
using portable::kTile;
using portable::relu;
using portable::tile_head_dots;
constexpr int kPitch = portable::kTilePitch;

struct Carve {
  size_t qf, kt, rd, rsum, keys, rank, heads, total;
};
__host__ __device__ inline Carve carve(int H, int D) {
  Carve c{};
  size_t o = 0;
  c.qf = o;    o = align16(o + sizeof(float) * H * D);
  c.kt = o;    o = align16(o + sizeof(float) * D * kPitch);
  c.rd = o;    o = align16(o + sizeof(float) * H * kTile);
  c.rsum = o;  o = align16(o + sizeof(float) * H);
  c.keys = o;  o = align16(o + sizeof(uint32_t) * H);
  c.rank = o;  o = align16(o + sizeof(int32_t) * H);
  c.heads = o; o = align16(o + sizeof(int32_t) * H);
  c.total = o;
  return c;
}

template <int E>
__global__ void __launch_bounds__(kThreads) misa_router_portable_kernel(MisaRouterParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  const Carve c = carve(p.H, p.D);
  int32_t* heads = reinterpret_cast<int32_t*>(smem + c.heads);
  const int r = blockIdx.x;
  const int64_t t = static_cast<int64_t>(p.t0) + r;
  if (r >= p.rows) {  // padding rows of the gathered layout (only when rows_pad > rows)
    misa::write_gathered<E>(p, r, p.t0, heads, 0, 0.0f, false, true);
    return;
  }
  int32_t lo, hi;
  clamped_range(p.ks, p.ke, t, p.S, lo, hi);
  const int n = hi - lo;
  if (!misa::routed(n, p.B, p.C)) {
    for (int h = threadIdx.x; h < p.a; h += blockDim.x) heads[h] = h;
    __syncthreads();
    misa::write_gathered<E>(p, r, t, heads, p.a, 0.0f, false, true);
    return;
  }
  float* qf = reinterpret_cast<float*>(smem + c.qf);
  float* kt = reinterpret_cast<float*>(smem + c.kt);
  float* rd = reinterpret_cast<float*>(smem + c.rd);
  float* rsum = reinterpret_cast<float*>(smem + c.rsum);
  const int H = p.H, D = p.D;
  const int64_t hd = static_cast<int64_t>(H) * D;
  for (int64_t i = threadIdx.x; i < hd; i += blockDim.x) qf[i] = decode(p.dtype, p.q, t * hd + i);
  for (int h = threadIdx.x; h < H; h += blockDim.x) rsum[h] = 0.0f;
  const int nfull = misa::full_blocks(n, p.B);
  const float* pooled = static_cast<const float*>(p.pooled);
  for (int c0 = 0; c0 < nfull; c0 += kTile) {
    const int cnt = min(kTile, nfull - c0);
    for (int i = threadIdx.x; i < kTile * D; i += blockDim.x) {
      const int l = i / D, d = i % D;
      const int64_t row = static_cast<int64_t>(lo) + static_cast<int64_t>(c0 + l) * p.B;
      kt[d * kPitch + l] = l < cnt ? pooled[row * D + d] : 0.0f;
    }
    __syncthreads();
    tile_head_dots(qf, kt, rd, H, D);
    __syncthreads();
    for (int h = threadIdx.x; h < H; h += blockDim.x) {
      float s = rsum[h];
      for (int l = 0; l < cnt; ++l) s = __fadd_rn(s, rd[h * kTile + l]);
      rsum[h] = s;
    }
    __syncthreads();  // kt and rd are rewritten by the next tile
  }
  uint32_t* keys = reinterpret_cast<uint32_t*>(smem + c.keys);
  for (int h = threadIdx.x; h < H; h += blockDim.x)
    keys[h] = score_key(__fmul_rn(fabsf(p.w[t * H + h]), rsum[h]));
  __syncthreads();
  misa::choose_heads(keys, H, p.a, reinterpret_cast<int32_t*>(smem + c.rank), heads);
  // The portable scorers write f32 logits: no row scale.
  misa::write_gathered<E>(p, r, t, heads, p.a, 1.0f, true, false);
}

template <int E>
void launch_for(const MisaRouterParams& p, size_t bytes, cudaStream_t st) {
  HISA_CUDA_CHECK(cudaFuncSetAttribute(misa_router_portable_kernel<E>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(bytes)));
  misa_router_portable_kernel<E><<<p.rows_pad, kThreads, bytes, st>>>(p);
}

}  // namespace

std::size_t misa_router_portable_smem(const MisaRouterParams& p) { return carve(p.H, p.D).total; }

void launch_misa_router_portable(const MisaRouterParams& p, cudaStream_t st) {
  if (p.rows_pad == 0) return;
  const size_t bytes = carve(p.H, p.D).total;
  switch (p.dtype) {
    case DType::f32: launch_for<4>(p, bytes, st); break;
    case DType::bf16: launch_for<2>(p, bytes, st); break;
    case DType::fp8_e4m3: launch_for<1>(p, bytes, st); break;
  }
  HISA_CUDA_CHECK_LAUNCH("misa_router_portable_kernel",
                         "rows=" + std::to_string(p.rows) + " H=" + std::to_string(p.H) +
                             " D=" + std::to_string(p.D) + " B=" + std::to_string(p.B));
}

}  // namespace hisa::cuda
