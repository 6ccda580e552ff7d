// What the one-CTA-per-SM flat scorers (flat_score_wide.cu, flat_score_n128.cu) share beyond
// flat_score_sm90.cuh: the producer thread's loop over the chunk's pair items and the host
// launch (work plan, tensor maps, one persistent CTA per SM). Included by .cu files only.
#pragma once

#include <cuda.h>

#include <string>

#include "cuda/common.cuh"
#include "cuda/flat_score.cuh"
#include "cuda/flat_score_sm90.cuh"
#include "cuda/sm90_tma.cuh"
#include "cuda/tensor_map.hpp"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

constexpr int kPairHeads = 64;
constexpr int kPairDim = 128;
constexpr int kPairQBytes = 2 * kPairHeads * kPairDim;  // two queries x 64 heads x 128 B
constexpr int kPairWBytes = 2 * kPairHeads * 4;         // their head weights (f32)

// The producer (one thread): per item (of `total`) the pair's q rows + weights into Q stage
// q_iter % QS, then its key blocks of kBlockKV keys into ring slots kv_iter % KV, on the rings'
// barriers.
template <int kBlockKV, int QS, int KV, int E>
__device__ __forceinline__ void produce_pair_items(const WgArgs& a, int32_t total,
                                                   const CUtensorMap* tmap_q,
                                                   const CUtensorMap* tmap_k, uint32_t q_smem,
                                                   uint32_t w_smem, uint32_t kv_smem,
                                                   const tma::MbarRings<QS, KV, E>& rings) {
  constexpr int kKVBytes = kBlockKV * kPairDim;
  tma::prefetch_map(tmap_q);
  tma::prefetch_map(tmap_k);
  uint32_t q_iter = 0, kv_iter = 0;
  for (int64_t item = blockIdx.x; item < total; item += gridDim.x, ++q_iter) {
    const int st = q_iter % QS;
    tma::mbar_wait(rings.q_empty(st), ((q_iter / QS) & 1) ^ 1);
    const ItemInfo it = locate_item<kBlockKV>(a, item);
    const int64_t t = a.t0 + 2 * static_cast<int64_t>(it.pair);
    const int64_t left = (a.T - t) * kPairHeads;  // odd T: the second query has no weights
    const uint32_t w_bytes =
        left >= 2 * kPairHeads ? kPairWBytes : static_cast<uint32_t>(left * 4);
    tma::mbar_arrive_expect_tx(rings.q_full(st), kPairQBytes + w_bytes);
    tma::tma_load_2d(q_smem + st * kPairQBytes, tmap_q, 0, static_cast<int32_t>(t * kPairHeads),
                     rings.q_full(st));
    tma::bulk_load(w_smem + st * kPairWBytes, a.w + t * kPairHeads, w_bytes, rings.q_full(st));
    for (int32_t b = 0; b < it.kv_blocks; ++b, ++kv_iter) {
      const int ks = kv_iter % KV;
      tma::mbar_wait(rings.kv_empty(ks), ((kv_iter / KV) & 1) ^ 1);
      tma::mbar_arrive_expect_tx(rings.kv_full(ks), kKVBytes);
      tma::tma_load_2d(kv_smem + ks * kKVBytes, tmap_k, 0, it.kv_start + b * kBlockKV,
                       rings.kv_full(ks));
    }
  }
}

// The pair's head weights a math thread needs (the accumulator columns it holds: heads
// 8 j + 2 quad + {0, 1} of each query) from the Q stage's weights into registers.
__device__ __forceinline__ void load_pair_weights(const float* w_stage, int quad, float (&w_a)[16],
                                                  float (&w_b)[16]) {
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const float2 x = *reinterpret_cast<const float2*>(w_stage + 8 * j + 2 * quad);
    const float2 y = *reinterpret_cast<const float2*>(w_stage + kPairHeads + 8 * j + 2 * quad);
    w_a[2 * j] = x.x;
    w_a[2 * j + 1] = x.y;
    w_b[2 * j] = y.x;
    w_b[2 * j + 1] = y.y;
  }
}

// Host: plans the chunk's pair items, then launches `kernel(map_q, map_k, WgArgs)` on one CTA
// per SM with `threads` threads and `smem` bytes. `name` goes into errors.
template <int kBlockKV>
void launch_pair_scorer(const ScoreRowsArgs& a, cudaStream_t st, const void* kernel, int threads,
                        int smem, bool supported, const char* name) {
  const Problem& p = *a.p;
  if (!supported)
    throw BackendError(std::string("flat (") + name + " scorer): needs an sm_90 GPU, FP8 e4m3, "
                       "H=64, D=128 and 16-byte aligned q/k (" + shape_string(p) + ")");
  if (a.rows <= 0 || p.S <= 0) return;
  const int64_t npairs = ceil_div(a.rows, 2);
  if (npairs * ceil_div(p.S, kSegKeys) >= INT32_MAX)
    throw BackendError(std::string("flat (") + name + " scorer): chunk too large (" +
                       std::to_string(a.rows) + " rows x S=" + std::to_string(p.S) + ")");
  const std::string ctx = std::string("flat ") + name + " scorer " + shape_string(p) +
                          " t0=" + std::to_string(a.t0) + " rows=" + std::to_string(a.rows);
  WorkspaceCarver c(a.scratch);  // the layout of wgmma_scratch_bytes
  int32_t* offsets = c.take<int32_t>(npairs + 1);
  int2* ranges = c.take<int2>(npairs);
  WgArgs k{p.k_scale, p.w,     p.T,  a.ks,   a.ke,  offsets, ranges, a.t0, a.rows, p.S,
           static_cast<int32_t>(npairs), a.logits, a.ld, 2};
  plan_kernel<<<1, kPlanThreads, 0, st>>>(k, offsets, ranges);
  HISA_CUDA_CHECK_LAUNCH("flat pair-scorer plan_kernel", ctx);

  const CUtensorMap map_q = rows_map(p.q, p.T * kPairHeads, 128, ctx);
  const CUtensorMap map_k = rows_map(p.k, p.S, kBlockKV, ctx);
  HISA_CUDA_CHECK_CTX(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem), ctx);
  const int sms = current_device_properties().multiProcessorCount;
  void* args[] = {const_cast<CUtensorMap*>(&map_q), const_cast<CUtensorMap*>(&map_k), &k};
  HISA_CUDA_CHECK_CTX(cudaLaunchKernel(kernel, dim3(sms), dim3(threads), args, smem, st), ctx);
  HISA_CUDA_CHECK_LAUNCH(name, ctx);
}

}  // namespace
}  // namespace hisa::cuda
