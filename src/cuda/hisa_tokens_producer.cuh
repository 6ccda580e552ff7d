// The producer warp of the TMA stage-2a kernels (hisa_tokens_tma.cu, hisa_tokens_wide.cu):
// streams one query's candidate keys, stage by stage (128 positions: two 64-row tiles), from its
// kept blocks into a ring slot, with their k_scale values. Also their launchers' common host
// preamble (launch_inputs).
#pragma once

#include <cuda.h>

#include <cstdint>
#include <string>

#include "cuda/hisa_launch.cuh"
#include "cuda/hisa_wgmma.cuh"
#include "cuda/sm90_tma.cuh"

namespace hisa::cuda::tokens {

// A stage-2a launch's error context and tensor maps: the chunk's q as T x 64 head rows (boxes of
// one query's 64 heads), the key rows (boxes of one 64-row tile) and k_scale (boxes of one
// tile's 64 values; a copy of map_k, never read, without k_scale). Throws BackendError if the
// kernel does not take the problem (`supported`, scores) or the chunk has too many head rows.
struct LaunchInputs {
  std::string ctx;
  CUtensorMap map_q, map_k, map_s;
};
LaunchInputs launch_inputs(const HisaParams& p, const char* what, bool supported);

constexpr int kHeads = 64;
constexpr int kDim = 128;
constexpr int kQBytes = kHeads * kDim;  // one query's q (FP8)
constexpr int kWBytes = kHeads * 4;     // its weights
constexpr int kTileKeys = 64;              // one wgmma M tile
constexpr int kStageKeys = 2 * kTileKeys;  // one stage: two tiles
// k_scale of a tile: a box of 68 floats from the 16-byte-aligned row at or below the tile's first
// key row, into a 384-byte slot (TMA needs a 16-byte-aligned global box start and a 128-byte-
// aligned shared destination; on the H100 an unaligned start was an illegal instruction, e.g. a
// packed sequence starting at row 2501, and slots 272 bytes apart a misaligned address). The
// tile's 64 values start at scale_shift(ks) in its slot: every tile of a row starts at
// ks + j * B + 64 i, so at the same offset mod 4.
constexpr int kScaleBoxFloats = kTileKeys + 4;
constexpr int kScaleTileFloats = 96;  // kScaleBoxFloats rounded up to 128 bytes
constexpr int kScaleStageFloats = 2 * kScaleTileFloats;
static_assert(kScaleTileFloats >= kScaleBoxFloats && kScaleTileFloats * 4 % 128 == 0,
              "a 128-byte-aligned slot holds the box");
// First row of the box of the tile starting at key row `row`, and where the tile's values start
// in it for a row whose key range starts at `ks`.
__device__ __forceinline__ int scale_box_row(int row) { return row & ~3; }
__device__ __forceinline__ int scale_shift(int64_t ks) { return static_cast<int>(ks & 3); }
constexpr int kTileBytes = kTileKeys * 128;
constexpr int kStageBytes = kStageKeys * 128;
// Arrivals that complete a stage: the producer's expect_tx (keys and k_scale come by TMA).
constexpr uint32_t kFullArrivals = 1;

// The first of a row's stages l that math warpgroup wg of nwg takes when stages go to the
// warpgroups by global index gs + l (mod nwg), gs = the stages of the CTA's earlier rows.
__device__ __forceinline__ int first_own_stage(int wg, uint32_t gs, int nwg) {
  return static_cast<int>((wg + nwg - gs % nwg) % nwg);
}

// Rows whose stage 2a does nothing (no candidates, or index order takes every candidate).
__host__ __device__ inline bool skips_scoring(const RowGeometry& g, int order, int topk) {
  return g.cvalid <= 0 || (order != 0 && g.cvalid <= topk);
}

// The row's kept blocks [chunk0, chunk0 + 32), one per lane, with the next 32 already on their
// way (a window moves once per 32 blocks, and its load was issued 32 blocks before it is read).
struct KeptWindow {
  int chunk0 = 0;
  int jreg = 0, jnext = 0;
};

__device__ __forceinline__ void window_start(const RowGeometry& g, const int32_t* kept,
                                             KeptWindow& win, int lane) {
  win.chunk0 = 0;
  if (g.all_blocks) return;
  win.jreg = lane < g.nk ? __ldg(kept + lane) : 0;
  win.jnext = 32 + lane < g.nk ? __ldg(kept + 32 + lane) : 0;
}

// The row's 64-position tiles in order (whole warp, warp-uniform results). A tile lies in one
// kept block (B % 64 == 0): block `i`, offset `off`, advanced by addition (the blocks of
// consecutive tiles ascend by at most one), never by a division. The window moves when a tile
// is read in the next 32 blocks (i == chunk0 + 32: the prefetched window becomes current and
// the one after it is loaded), or when skip() enters them.
struct TileWalk {
  int i = 0, off = 0;
  __device__ __forceinline__ static void shift(const RowGeometry& g, const int32_t* kept,
                                               KeptWindow& win, int lane) {
    win.chunk0 += 32;
    win.jreg = win.jnext;
    const int nxt = win.chunk0 + 32 + lane;
    win.jnext = nxt < g.nk ? __ldg(kept + nxt) : 0;
  }
  // Key row of the next tile's first position, and past that tile.
  __device__ __forceinline__ int next_row(const HisaParams& p, const RowGeometry& g,
                                          const int32_t* kept, KeptWindow& win, int lane) {
    int j = i;
    if (!g.all_blocks) {
      if (i >= win.chunk0 + 32) shift(g, kept, win, lane);
      j = __shfl_sync(0xFFFFFFFFu, win.jreg, i - win.chunk0);
    }
    const int row = g.ks + j * p.B + off;
    off += kTileKeys;
    if (off == p.B) {
      off = 0;
      ++i;
    }
    return row;
  }
  // Past the next tile without reading it (another producer's tile).
  __device__ __forceinline__ void skip(const HisaParams& p, const RowGeometry& g,
                                       const int32_t* kept, KeptWindow& win, int lane) {
    off += kTileKeys;
    if (off != p.B) return;
    off = 0;
    ++i;
    if (!g.all_blocks && i >= win.chunk0 + 32) shift(g, kept, win, lane);
  }
};

// One stage (lane 0): the 64-row tile starting at key row row_a and, if load_b, the one at
// row_b into `kv_dst` (the second kTileBytes after the first) and, if has_scale, their k_scale
// values (per tile a box of kScaleBoxFloats from the aligned row at or below it, into a slot of
// kScaleTileFloats at `scale_dst`), all by TMA on `full`. The caller waited for the slot.
__device__ __forceinline__ void produce_tiles(int row_a, bool load_b, int row_b,
                                              const CUtensorMap* tmap_k,
                                              const CUtensorMap* tmap_s, uint32_t kv_dst,
                                              uint32_t scale_dst, uint32_t full, bool has_scale) {
  constexpr uint32_t kScaleBytes = kScaleBoxFloats * 4;  // bytes the box delivers
  const uint32_t tile_bytes = kTileBytes + (has_scale ? kScaleBytes : 0u);
  tma::mbar_arrive_expect_tx(full, load_b ? 2 * tile_bytes : tile_bytes);
  tma::tma_load_2d(kv_dst, tmap_k, 0, row_a, full);
  if (has_scale) tma::tma_load_2d(scale_dst, tmap_s, scale_box_row(row_a), 0, full);
  if (load_b) {
    tma::tma_load_2d(kv_dst + kTileBytes, tmap_k, 0, row_b, full);
    if (has_scale)
      tma::tma_load_2d(scale_dst + kScaleTileFloats * 4, tmap_s, scale_box_row(row_b), 0, full);
  }
}

// Stage l of the row (lane 0): the two 64-row tiles of positions [128 l, 128 l + 128), starting
// at key rows row_a and row_b (the second only if it holds a candidate), by produce_tiles.
// Scores of positions past cvalid are never stored, so what lands there is unused.
__device__ __forceinline__ void produce_stage(const RowGeometry& g, int l, int row_a, int row_b,
                                              const CUtensorMap* tmap_k,
                                              const CUtensorMap* tmap_s, uint32_t kv_dst,
                                              uint32_t scale_dst, uint32_t full, bool has_scale) {
  const bool load_b = l * kStageKeys + kTileKeys < g.cvalid;
  produce_tiles(row_a, load_b, row_b, tmap_k, tmap_s, kv_dst, scale_dst, full, has_scale);
}

// A producer warp's loop over the CTA's rows (blockIdx.x + i * gridDim.x; whole warp): per
// scored row the query (TMA, 64 rows of 128 B) and its weights (bulk copy) into Q stage
// q_iter % QS, then its stages into ring slots gs % S, on the rings' q_* and kv_* barriers
// (lane 0 waits and issues; the whole warp walks the kept blocks). With P producer warps,
// warp `producer` issues the stages gs with gs % P == producer (and producer 0 the queries);
// each walks every tile, passing the others' by addition alone.
template <int P = 1, int S, int QS, int E>
__device__ __forceinline__ void produce_rows(const HisaParams& p, const CUtensorMap* tmap_q,
                                             const CUtensorMap* tmap_k,
                                             const CUtensorMap* tmap_s, uint32_t q_smem,
                                             uint32_t w_smem, uint32_t kv_smem,
                                             uint32_t scale_smem,
                                             const tma::MbarRings<QS, S, E>& rings, int lane,
                                             int producer = 0) {
  const bool has_scale = p.k_scale != nullptr;
  if (lane == 0) {
    tma::prefetch_map(tmap_q);
    tma::prefetch_map(tmap_k);
    if (has_scale) tma::prefetch_map(tmap_s);
  }
  uint32_t q_iter = 0, gs = 0;
  for (int r = blockIdx.x; r < p.T; r += gridDim.x) {
    const int64_t t = static_cast<int64_t>(p.t0) + r;
    const RowGeometry g = row_of(p, t);
    if (skips_scoring(g, p.order, p.topk)) continue;
    const int qs = q_iter % QS;
    if (lane == 0 && (P == 1 || producer == 0)) {
      tma::mbar_wait(rings.q_empty(qs), ((q_iter / QS) & 1) ^ 1);
      tma::mbar_arrive_expect_tx(rings.q_full(qs), kQBytes + kWBytes);
      tma::tma_load_2d(q_smem + qs * kQBytes, tmap_q, 0, r * kHeads, rings.q_full(qs));
      tma::bulk_load(w_smem + qs * kWBytes, p.w + t * kHeads, kWBytes, rings.q_full(qs));
    }
    ++q_iter;
    const int32_t* kept = p.kept + static_cast<int64_t>(r) * p.m;
    const int nstages = (g.cvalid + kStageKeys - 1) / kStageKeys;
    KeptWindow win;
    window_start(g, kept, win, lane);
    TileWalk walk;
    for (int l = 0; l < nstages; ++l, ++gs) {
      if (P > 1 && static_cast<int>(gs % P) != producer) {  // another producer's stage
        walk.skip(p, g, kept, win, lane);
        walk.skip(p, g, kept, win, lane);
        continue;
      }
      const int row_a = walk.next_row(p, g, kept, win, lane);
      const int row_b = walk.next_row(p, g, kept, win, lane);
      if (lane == 0) {
        const int slot = gs % S;
        tma::mbar_wait(rings.kv_empty(slot), ((gs / S) & 1) ^ 1);
        produce_stage(g, l, row_a, row_b, tmap_k, tmap_s, kv_smem + slot * kStageBytes,
                      scale_smem + slot * kScaleStageFloats * 4, rings.kv_full(slot), has_scale);
      }
    }
  }
}

}  // namespace hisa::cuda::tokens
