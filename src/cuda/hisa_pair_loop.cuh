// Building blocks of the sm_90a query-pair kernels (hisa_sm90_pair.cu): one CTA (one warpgroup)
// serves two neighbouring queries. Every tile of 64 key rows is loaded once and multiplied
// against the queries that need it: both (two m64n64 wgmmas in one group: a single m64n128 made
// ptxas serialize the wgmmas, C7511), or one (m64n64 against that query's tile). The accumulators
// are one m64n128 set: acc[0..31] is query 0's m64n64 layout, acc[32..63] query 1's, so the
// epilogue helpers of the one-query kernels (hisa_sm90_tile.cuh) apply to each half.
//
// The pair union (stage 2): the sorted union of the two queries' kept-block lists, and for each
// union block its position in each query's own list (-1 when the query did not keep it), so
// that a query's scores land exactly where the one-query kernel puts them and the selection
// that follows is unchanged. Device code is active only in the sm_90a pass (HISA_SM90).
#pragma once

#include <cstdint>

#include "cuda/hisa_block_ops.cuh"
#include "cuda/hisa_sm90_tile.cuh"
#include "cuda/hisa_union_walk.cuh"
#include "cuda/hisa_wgmma.cuh"

#pragma nv_diag_suppress 177

namespace hisa::cuda::sm90 {

// One tile of the pair schedule.
struct PairTile {
  const unsigned char* base;  // row 0 of the tile in global memory
  int64_t stride;             // bytes between rows
  int rows;                   // rows to load (zeros after)
  int active;                 // bit q: query q multiplies and scores this tile
  int pos[2];                 // query q's candidate position of row 0 (when active)
};

// Half q of a pair accumulator as an m64n64 accumulator.
__device__ __forceinline__ float (&acc_half(float (&acc)[64], int q))[32] {
  return *reinterpret_cast<float(*)[32]>(acc + 32 * q);
}

// Streams ntiles tiles (tile(i) says where each comes from and who uses it) against the two
// query tiles at `qtiles` (query 1's tile TileShape<E>::kTileBytes after query 0's), calling
// side(i, slot, tile) with each tile's loads and epi(acc, i, tile) when it is multiplied.
// Uniform control flow; contains barriers.
template <int E, class TileAt, class Side, class Epi>
__device__ __forceinline__ void pair_mma_loop(const unsigned char* qtiles, unsigned char* stages,
                                              int ntiles, TileAt tile_at, Side side, Epi epi) {
  using S = TileShape<E>;
  const uint32_t qa = smem_addr(qtiles);
  constexpr int kStep = kThreads / S::kChunks;  // rows between one thread's copies
  constexpr int kPer = kRows / kStep;
  const int c = static_cast<int>(threadIdx.x) % S::kChunks, r0 = static_cast<int>(threadIdx.x) / S::kChunks;
  const uint32_t dst0 = swizzled_offset(kRows, r0, c);
  auto load_tile = [&](int i) {
    const PairTile t = tile_at(i);
    const uint32_t base = smem_addr(stages + (i % S::kStages) * S::kTileBytes);
    const unsigned char* src = t.base + static_cast<int64_t>(r0) * t.stride + c * 16;
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
      const bool ok = r0 + j * kStep < t.rows;
      cp_async16(base + dst0 + j * kStep * 128, ok ? src + j * kStep * t.stride : t.base,
                 ok ? 16u : 0u);
    }
    side(i, i % S::kStages, t);
  };
#pragma unroll
  for (int i = 0; i < S::kAhead; ++i) {
    if (i < ntiles) load_tile(i);
    cp_async_commit();
  }
  float acc[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) acc[i] = 0.0f;
  for (int i = 0; i < ntiles; ++i) {
    cp_async_wait<S::kAhead - 1>();
    fence_proxy_async();
    __syncthreads();
    if (i + S::kAhead < ntiles) load_tile(i + S::kAhead);
    cp_async_commit();
    const PairTile t = tile_at(i);
    if (t.active == 0) continue;  // uniform: nobody needs this tile
    const uint32_t ba = smem_addr(stages + (i % S::kStages) * S::kTileBytes);
    // Each branch is a whole fence / MMAs / commit / wait sequence (a branch between the
    // wgmmas of one group made ptxas serialize them, C7520).
    auto off = [](int s) {
      return static_cast<uint32_t>(((s * 32) >> 7) * kRows * 128 + ((s * 32) & 127));
    };
    if (t.active == 3) {
      wgmma_fence();
#pragma unroll
      for (int s = 0; s < S::kSteps; ++s) {
        const uint64_t a = sw128_desc(ba + off(s));
        if constexpr (E == 1) {
          wgmma_m64n64k32_e4m3(acc_half(acc, 0), a, sw128_desc(qa + off(s)), s > 0);
          wgmma_m64n64k32_e4m3(acc_half(acc, 1), a, sw128_desc(qa + S::kTileBytes + off(s)), s > 0);
        } else {
          wgmma_m64n64k16_bf16(acc_half(acc, 0), a, sw128_desc(qa + off(s)), s > 0);
          wgmma_m64n64k16_bf16(acc_half(acc, 1), a, sw128_desc(qa + S::kTileBytes + off(s)), s > 0);
        }
      }
      wgmma_commit();
      wgmma_wait<0>();
    } else if (t.active == 1) {
      wgmma_fence();
#pragma unroll
      for (int s = 0; s < S::kSteps; ++s) {
        if constexpr (E == 1)
          wgmma_m64n64k32_e4m3(acc_half(acc, 0), sw128_desc(ba + off(s)), sw128_desc(qa + off(s)), s > 0);
        else
          wgmma_m64n64k16_bf16(acc_half(acc, 0), sw128_desc(ba + off(s)), sw128_desc(qa + off(s)), s > 0);
      }
      wgmma_commit();
      wgmma_wait<0>();
    } else {
      const uint32_t qb = qa + S::kTileBytes;
      wgmma_fence();
#pragma unroll
      for (int s = 0; s < S::kSteps; ++s) {
        if constexpr (E == 1)
          wgmma_m64n64k32_e4m3(acc_half(acc, 1), sw128_desc(ba + off(s)), sw128_desc(qb + off(s)), s > 0);
        else
          wgmma_m64n64k16_bf16(acc_half(acc, 1), sw128_desc(ba + off(s)), sw128_desc(qb + off(s)), s > 0);
      }
      wgmma_commit();
      wgmma_wait<0>();
    }
#pragma unroll
    for (int j = 0; j < 64; ++j) asm volatile("" : "+f"(acc[j])::"memory");
    epi(acc, i, t);
  }
  cp_async_wait<0>();
  __syncthreads();  // the ring may be reused (sort buffer)
}

// Sorted union of the ascending, duplicate-free lists a[0, na) and b[0, nb) into u, with
// slot0[x] = index of u[x] in a (or -1) and slot1[x] = index in b (or -1); fpre needs nb + 1
// entries. Returns |u| (every thread). Contains barriers: call from every thread.
__device__ inline int pair_union(const int32_t* a, int na, const int32_t* b, int nb, int32_t* u,
                                 int32_t* slot0, int32_t* slot1, int32_t* fpre,
                                 hisa_ops::SelectScratch& sc) {
  // fpre[j] = #{b[i] not in a : i < j}: a contiguous run of b per thread, then a CTA scan.
  const int per = (nb + kThreads - 1) / kThreads;
  const int lo = min(nb, static_cast<int>(threadIdx.x) * per), hi = min(nb, lo + per);
  uint32_t mine = 0;
  for (int j = lo; j < hi; ++j) {
    const int at = tokens::lower_bound_of(a, na, b[j]);
    mine += (at < na && a[at] == b[j]) ? 0u : 1u;
  }
  uint32_t total = 0;
  uint32_t run = hisa_ops::block_exclusive_scan(mine, sc, total);
  for (int j = lo; j < hi; ++j) {
    fpre[j] = static_cast<int32_t>(run);
    const int at = tokens::lower_bound_of(a, na, b[j]);
    run += (at < na && a[at] == b[j]) ? 0u : 1u;
  }
  if (threadIdx.x == 0) fpre[nb] = static_cast<int32_t>(total);
  __syncthreads();
  for (int i = threadIdx.x; i < na; i += kThreads) {
    const int lb = tokens::lower_bound_of(b, nb, a[i]);
    const int x = i + fpre[lb];
    u[x] = a[i];
    slot0[x] = i;
    slot1[x] = (lb < nb && b[lb] == a[i]) ? lb : -1;
  }
  for (int j = threadIdx.x; j < nb; j += kThreads) {
    if (fpre[j + 1] == fpre[j]) continue;  // b[j] is in a: written above
    const int x = fpre[j] + tokens::lower_bound_of(a, na, b[j]);
    u[x] = b[j];
    slot0[x] = -1;
    slot1[x] = j;
  }
  __syncthreads();
  return na + static_cast<int>(total);
}

}  // namespace hisa::cuda::sm90
