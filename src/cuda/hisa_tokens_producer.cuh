// The producer warp of the TMA stage-2a kernels (hisa_tokens_tma.cu, hisa_tokens_wide.cu):
// streams one query's candidate keys, stage by stage (128 positions: two 64-row tiles), from its
// kept blocks into a ring slot, with their k_scale values. Device code only.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "cuda/hisa_launch.cuh"
#include "cuda/hisa_wgmma.cuh"
#include "cuda/sm90_tma.cuh"

namespace hisa::cuda::tokens {

constexpr int kTileKeys = 64;              // one wgmma M tile
constexpr int kStageKeys = 2 * kTileKeys;  // one stage: two tiles
constexpr int kTileBytes = kTileKeys * 128;
constexpr int kStageBytes = kStageKeys * 128;
// Arrivals that complete a stage: the producer's expect_tx, then each lane's cp.async arrival.
constexpr uint32_t kFullArrivals = 1 + 32;

// Rows whose stage 2a does nothing (no candidates, or index order takes every candidate).
__host__ __device__ inline bool skips_scoring(const RowGeometry& g, int order, int topk) {
  return g.cvalid <= 0 || (order != 0 && g.cvalid <= topk);
}

// Kept blocks [chunk0, chunk0 + 32) of the row, one per lane (chunk0 < 0: none loaded yet).
struct KeptWindow {
  int chunk0 = -1;
  int jreg = 0;
};

// Before stage l (whole warp; the slot wait may come between): the window of kept blocks
// holding the stage's blocks. A stage spans at most two blocks (B >= 64), the first even when
// B == 64, so both lie in one window of 32 that starts at a stage's first block.
__device__ __forceinline__ void advance_window(const HisaParams& p, const RowGeometry& g,
                                               const int32_t* kept, int l, KeptWindow& win,
                                               int lane) {
  const int i0 = l * kStageKeys / p.B;
  if (!g.all_blocks && (win.chunk0 < 0 || i0 + 1 >= win.chunk0 + 32)) {
    win.chunk0 = i0;
    win.jreg = win.chunk0 + lane < g.nk ? __ldg(kept + win.chunk0 + lane) : 0;
  }
}

// Stage l of the row (whole warp, after advance_window; lane 0 issues the TMA copies): the two
// 64-row tiles of positions [128 l, 128 l + 128) into `kv_dst` (the second only if it holds a
// candidate) and their 128 k_scale values (if has_scale; zeros past cvalid) into `scale_dst`
// by cp.async, one arrival per lane on `full` when they land. The caller waited for the slot.
__device__ __forceinline__ void produce_stage(const HisaParams& p, const RowGeometry& g, int l,
                                              const KeptWindow& win, const CUtensorMap* tmap_k,
                                              uint32_t kv_dst, uint32_t scale_dst, uint32_t full,
                                              bool has_scale, int lane) {
  const int pos0 = l * kStageKeys;
  auto block_row = [&](int pos) {  // key row of candidate position pos (warp-uniform use)
    const int i = pos / p.B;
    const int src = g.all_blocks ? 0 : i - win.chunk0;
    const int jj = __shfl_sync(0xFFFFFFFFu, win.jreg, src & 31);
    const int j = g.all_blocks ? i : jj;
    return g.ks + j * p.B + (pos - i * p.B);
  };
  const int row_a = block_row(pos0), row_b = block_row(pos0 + kTileKeys);
  const bool load_b = pos0 + kTileKeys < g.cvalid;
  if (lane == 0) {
    tma::mbar_arrive_expect_tx(full, load_b ? kStageBytes : kTileBytes);
    tma::tma_load_2d(kv_dst, tmap_k, 0, row_a, full);
    if (load_b) tma::tma_load_2d(kv_dst + kTileBytes, tmap_k, 0, row_b, full);
  }
  // k_scale of the stage's 128 rows: lane takes rows lane + 32c.
#pragma unroll
  for (int c = 0; c < kStageKeys / 32; ++c) {
    const int pos = pos0 + c * 32 + lane;
    const int row = block_row(pos);
    if (has_scale) {
      const bool ok = pos < g.cvalid;
      sm90::cp_async4(scale_dst + (c * 32 + lane) * 4, p.k_scale + (ok ? row : 0), ok ? 4u : 0u);
    }
  }
  tma::mbar_arrive_cp_async(full);
}

}  // namespace hisa::cuda::tokens
