// Portable HISA kernels (CUDA cores, sm_80+, any dtype, H, D): one CTA per query.
//
// Stage 1 (blocks): J(t, j) for the middle blocks 1..nb-2 against the f32 pooled table, kept in
// shared memory, then a radix select of the top m-2 and the kept list [0, ..., nb-1] ascending.
// Stage 2 (tokens): the scores of the kept blocks' tokens in shared memory, a radix select of the
// top K, a bitonic sort, the idx row. No candidate score ever goes to global memory.
//
// Arithmetic is the CPU contract of cpu/score.hpp step by step (exact decode, dot = sequential
// fma over d, relu, head sum = sequential fma over h ascending, one multiply by k_scale), so
// this path is BITWISE equal to the CPU backend: the tests demand identical idx rows. The dot
// of each (head, key) runs in one thread; the head sum of each key runs in one thread.
#include <string>

#include "cuda/common.cuh"
#include "cuda/hisa_block_ops.cuh"
#include "cuda/hisa_launch.cuh"
#include "cuda/hisa_rows.cuh"
#include "cuda/portable_tile.cuh"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

using hisa_ops::SelectScratch;
using portable::align16;
using portable::decode;
using portable::kTile;
using portable::kTilePitch;
using portable::relu;
using portable::tile_head_dots;

constexpr int kThreads = 256;
// Shared-memory carve shared by both kernels (byte offsets, 16-aligned).
struct Carve {
  size_t qf, wv, kt, rd, keys, blocks, sortbuf, scratch, total;
};
__host__ __device__ inline Carve carve(int H, int D, int nkeys, int nblocks, int kpad) {
  Carve c{};
  size_t o = 0;
  c.scratch = o; o = align16(o + sizeof(SelectScratch));
  c.sortbuf = o; o = align16(o + sizeof(uint64_t) * kpad);
  c.qf = o;      o = align16(o + sizeof(float) * H * D);
  c.wv = o;      o = align16(o + sizeof(float) * H);
  c.kt = o;      o = align16(o + sizeof(float) * D * kTilePitch);
  c.rd = o;      o = align16(o + sizeof(float) * H * kTile);
  c.keys = o;    o = align16(o + sizeof(uint32_t) * nkeys);
  c.blocks = o;  o = align16(o + sizeof(int32_t) * nblocks);
  c.total = o;
  return c;
}

// Decodes q[t] into qf [H][D] and w[t] into wv [H].
__device__ void load_query(const HisaParams& p, int64_t t, float* qf, float* wv) {
  const int64_t hd = static_cast<int64_t>(p.H) * p.D;
  for (int64_t i = threadIdx.x; i < hd; i += blockDim.x) qf[i] = decode(p.dtype, p.q, t * hd + i);
  for (int h = threadIdx.x; h < p.H; h += blockDim.x) wv[h] = p.w[t * p.H + h];
}

// Head-summed score of the kTile keys in kt (lane l = key l), returned in warp 0 (lane l).
// rd[h][l] holds relu(dot(q_h, key_l)). Contains __syncthreads.
__device__ float tile_scores(const float* qf, const float* wv, const float* kt, float* rd, int H,
                             int D) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  tile_head_dots(qf, kt, rd, H, D);
  __syncthreads();
  float sc = 0.0f;
  if (warp == 0)
    for (int h = 0; h < H; ++h) sc = __fmaf_rn(wv[h], rd[h * kTile + lane], sc);
  __syncthreads();  // rd and kt are rewritten by the next tile
  return sc;
}

// Stage 1: kept blocks of query t0 + blockIdx.x.
__global__ void __launch_bounds__(kThreads) portable_blocks_kernel(HisaParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int64_t t = p.t0 + blockIdx.x;
  const RowGeometry g = row_of(p, t);
  if (g.all_blocks) return;  // stage 2 keeps every block
  const Carve c = carve(p.H, p.D, p.nbmax, 0, 1);
  auto& sc = *reinterpret_cast<SelectScratch*>(smem + c.scratch);
  float* qf = reinterpret_cast<float*>(smem + c.qf);
  float* wv = reinterpret_cast<float*>(smem + c.wv);
  float* kt = reinterpret_cast<float*>(smem + c.kt);
  float* rd = reinterpret_cast<float*>(smem + c.rd);
  uint32_t* jkeys = reinterpret_cast<uint32_t*>(smem + c.keys);
  const float* pooled = static_cast<const float*>(p.pooled);

  load_query(p, t, qf, wv);
  const int nmid = g.nb - 2;  // middle blocks 1..nb-2 at positions 0..nmid-1
  for (int c0 = 0; c0 < nmid; c0 += kTile) {
    for (int i = threadIdx.x; i < kTile * p.D; i += blockDim.x) {
      const int r = i / p.D, d = i % p.D;
      const int pos = c0 + r;
      const int64_t row = static_cast<int64_t>(g.ks) + static_cast<int64_t>(pos + 1) * p.B;
      kt[d * kTilePitch + r] = pos < nmid ? pooled[row * p.D + d] : 0.0f;
    }
    __syncthreads();
    const float J = tile_scores(qf, wv, kt, rd, p.H, p.D);
    const int pos = c0 + (threadIdx.x & 31);
    if (threadIdx.x < 32 && pos < nmid) jkeys[pos] = hisa_ops::score_key(J);
  }
  __syncthreads();

  finish_blocks(g, p.m, jkeys, p.kept + static_cast<int64_t>(blockIdx.x) * p.m, sc);
}

// Stage 2: idx row of query t0 + blockIdx.x. kList: MISA's re-scoring of candidate lists
// (hisa_launch.cuh, misa_row_geometry) instead of kept blocks.
template <bool kList>
__global__ void __launch_bounds__(kThreads) portable_tokens_kernel(HisaParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int64_t t = p.t0 + blockIdx.x;
  const RowGeometry g = kList ? misa_row_of(p, t) : row_of(p, t);
  const Carve c = carve(p.H, p.D, p.cmax, p.m, p.kpad);
  auto& sc = *reinterpret_cast<SelectScratch*>(smem + c.scratch);
  uint64_t* sortbuf = reinterpret_cast<uint64_t*>(smem + c.sortbuf);
  float* qf = reinterpret_cast<float*>(smem + c.qf);
  float* wv = reinterpret_cast<float*>(smem + c.wv);
  float* kt = reinterpret_cast<float*>(smem + c.kt);
  float* rd = reinterpret_cast<float*>(smem + c.rd);
  uint32_t* keys = reinterpret_cast<uint32_t*>(smem + c.keys);
  int32_t* blocks = reinterpret_cast<int32_t*>(smem + c.blocks);
  int32_t* out = p.out + t * p.topk;

  if (!g.all_blocks)
    for (int i = threadIdx.x; i < p.m; i += blockDim.x)
      blocks[i] = p.kept[static_cast<int64_t>(blockIdx.x) * p.m + i];
  load_query(p, t, qf, wv);
  __syncthreads();
  auto token = [&](int pos) -> int32_t {
    if constexpr (kList) {
      return g.all_blocks ? g.ks + pos : blocks[pos];
    } else {
      const int i = pos / p.B;
      const int j = g.all_blocks ? i : blocks[i];
      return g.ks + j * p.B + pos % p.B;
    }
  };

  for (int c0 = 0; c0 < g.cvalid; c0 += kTile) {
    for (int i = threadIdx.x; i < kTile * p.D; i += blockDim.x) {
      const int r = i / p.D, d = i % p.D;
      const int pos = c0 + r;
      kt[d * kTilePitch + r] =
          pos < g.cvalid ? decode(p.dtype, p.k, static_cast<int64_t>(token(pos)) * p.D + d) : 0.0f;
    }
    __syncthreads();
    const float s = tile_scores(qf, wv, kt, rd, p.H, p.D);
    const int pos = c0 + (threadIdx.x & 31);
    if (threadIdx.x < 32 && pos < g.cvalid) {
      const int32_t tok = token(pos);
      keys[pos] = hisa_ops::score_key(p.k_scale != nullptr ? p.k_scale[tok] * s : s);
    }
  }
  finish_tokens(g, p.topk, keys, token, sortbuf, sc, out, row_order(p.order, !kList));
}

void set_smem(const void* kernel, size_t bytes) {
  HISA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(bytes)));
}

std::string shape_context(const HisaParams& p) {
  return "T=" + std::to_string(p.T) + " H=" + std::to_string(p.H) + " D=" + std::to_string(p.D) +
         " S=" + std::to_string(p.S) + " B=" + std::to_string(p.B) + " m=" + std::to_string(p.m) +
         " topk=" + std::to_string(p.topk);
}

}  // namespace

std::size_t portable_blocks_smem(const HisaParams& p) {
  return carve(p.H, p.D, p.nbmax, 0, 1).total;
}
std::size_t portable_tokens_smem(const HisaParams& p) {
  return carve(p.H, p.D, p.cmax, p.m, p.kpad).total;
}

void launch_portable_blocks(const HisaParams& p, cudaStream_t st) {
  if (p.T == 0) return;
  const size_t bytes = portable_blocks_smem(p);
  set_smem(reinterpret_cast<const void*>(&portable_blocks_kernel), bytes);
  portable_blocks_kernel<<<p.T, kThreads, bytes, st>>>(p);
  HISA_CUDA_CHECK_LAUNCH("portable_blocks_kernel", shape_context(p));
}

void launch_portable_tokens(const HisaParams& p, cudaStream_t st) {
  if (p.T == 0) return;
  const size_t bytes = portable_tokens_smem(p);
  if (p.lists) {
    set_smem(reinterpret_cast<const void*>(&portable_tokens_kernel<true>), bytes);
    portable_tokens_kernel<true><<<p.T, kThreads, bytes, st>>>(p);
  } else {
    set_smem(reinterpret_cast<const void*>(&portable_tokens_kernel<false>), bytes);
    portable_tokens_kernel<false><<<p.T, kThreads, bytes, st>>>(p);
  }
  HISA_CUDA_CHECK_LAUNCH("portable_tokens_kernel", shape_context(p));
}

}  // namespace hisa::cuda
