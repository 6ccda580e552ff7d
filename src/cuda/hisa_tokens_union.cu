// Two-pass HISA stage 2a over groups of Q neighbouring rows (opt-in until timed:
// HISA_TOKENS_UNION=1 pairs, HISA_TOKENS_UNION4=1 quads): rows Qi .. Qi + Q - 1 of the chunk,
// when all are scored and lie in one sequence, are one item whose key tiles are the union of
// their kept blocks, each loaded once. Every (tile, row) product is the m64n64k32 of
// hisa_tokens_tma.cu against that row's query, with its epilogue (key_head_sums_smem x
// k_scale), so the scores are bitwise that kernel's: row r gets cand_begin[r] = 0,
// cand_end[r] = cvalid and scores[r * scores_ld + pos] for every candidate position
// pos < cvalid.
//
// Why: stage 2a at 32K m=64 reads ~16 GB of key tiles from L2 per call (every query its own 64
// blocks of 8 KB), ~6 TB/s at its 2.68 ms on the H100 (bda9736), while neighbouring queries of
// real and structured text keep nearly the same blocks (the union of two is ~1.05x one).
// Loading the union once per item divides those bytes by up to Q there and adds none on random
// data (the union is never larger than the lists together).
//
//   * Persistent grid (2 CTAs per SM); CTA c takes the groups c, c + grid, ...; an item is a
//     group, or one row (a group across sequences or with a row that needs no scoring, and
//     every row when grouping is off: HISA_TOKENS_UNION_SINGLE=1, the pair kernel's machinery
//     without sharing).
//   * Producer warp: has the item's kept lists in shared memory (copied by cp.async while lane
//     0 walked the previous item: two list buffers for pairs; quads copy after the walk) and
//     counts the union's tiles (the whole warp: the math warpgroups learn the item's stage
//     count with its queries), then lane 0 walks the union (hisa_union_walk.cuh) and issues
//     it. Per item the Q queries (TMA, 8 KB apart) and weights into a Q stage; per stage two
//     tiles, their k_scale boxes and 2 x Q tile_refs (where each tile's keys sit in each row's
//     candidates, 0: none) into a 4-slot ring.
//   * Math warpgroup g takes the stages of global index parity g and runs each stage's
//     products (tile, row with a nonzero tile_ref) two at a time, the second's MMA under the
//     first's epilogue, as hisa_tokens_tma.cu runs a stage's two tiles. With kRowWg (pairs,
//     HISA_TOKENS_UNION_ROWWG=1) warpgroup g instead takes every stage and runs only row g's
//     products, with row g's weights in registers; the producer then pairs tiles kept by the
//     same rows into a stage (stage_union_by_rows).
// Tried and dropped: one m64n128k32 for a tile both rows of a pair keep (its A operand read once
// from shared memory) beside m64n64 for the others: ptxas serialized the wgmmas (C7520 for the
// divergent branch, C7511 with 64- and 32-register accumulators on the same registers) and
// wanted ~120 registers where 2 CTAs per SM allow 96.
// Supported: what hisa_tokens_tma.cu supports, with at most kMaxList kept blocks per row.
#include <cuda.h>

#include <algorithm>
#include <string>

#include "cuda/common.cuh"
#include "cuda/hisa_launch.cuh"
#include "cuda/hisa_sm90_tile.cuh"
#include "cuda/hisa_tokens_producer.cuh"
#include "cuda/hisa_union_walk.cuh"
#include "cuda/sm90_tma.cuh"
#include "cuda/tensor_map.hpp"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

using namespace tma;

using tokens::kFullArrivals;
using tokens::kHeads;
using tokens::kQBytes;
using tokens::kScaleStageFloats;
using tokens::kScaleTileFloats;
using tokens::kStageBytes;
using tokens::kTileBytes;
using tokens::kTileKeys;
using tokens::kWBytes;
using tokens::skips_scoring;
using tokens::walk_union;

static_assert(tokens::kUnionTileKeys == kTileKeys, "the walk's tiles are the kernel's");

constexpr int kMathWarpgroups = 2, kMathWarps = 4 * kMathWarpgroups;
constexpr int kThreads = 32 * kMathWarps + 32;  // + the producer warp
constexpr int kCtasPerSm = 2;
constexpr int kStages = 4;
constexpr int kMaxList = 512;  // kept blocks of one row the list buffers hold

// Shared memory of the kernel for Q rows per item: Q stages (2 for pairs; 1 for quads, whose
// 32 KB of queries would not leave room for two CTAs per SM otherwise), the key ring, k_scale
// slots, weights, Q list buffers, 2 x Q tile_refs per ring slot, the stage count per Q stage,
// barriers.
template <int Q>
struct UnionShape {
  static constexpr int kQStages = Q == 2 ? 2 : 1;
  static constexpr int kItemQBytes = Q * kQBytes, kItemWBytes = Q * kWBytes;
  static constexpr int kRefs = 2 * Q;  // per ring slot
  static constexpr int kSmemQ = 0;
  static constexpr int kSmemKV = kSmemQ + kQStages * kItemQBytes;
  static constexpr int kSmemScale = kSmemKV + kStages * kStageBytes;
  static constexpr int kSmemW = kSmemScale + kStages * kScaleStageFloats * 4;
  static constexpr int kSmemList = kSmemW + kQStages * kItemWBytes;
  // Two list buffers (the next item's lists copied during the current walk) where they fit.
  static constexpr int kListBufs = Q == 2 ? 2 : 1;
  static constexpr int kSmemRefs = kSmemList + kListBufs * Q * kMaxList * 4;
  static constexpr int kSmemItem = kSmemRefs + kStages * kRefs * 4;
  static constexpr int kSmemBar = kSmemItem + 8 * kQStages;
  static constexpr int kNumBars = 2 * kQStages + 2 * kStages;
  static constexpr int kSmemAlloc = kSmemBar + kNumBars * 8 + 1024;  // + slack to align
  static_assert(kSmemScale % 128 == 0, "TMA writes k_scale slots at 128-byte-aligned offsets");
  static_assert(kSmemKV % 1024 == 0 && kItemQBytes % 1024 == 0, "swizzle atoms");
  static_assert(kSmemRefs % 16 == 0 && kSmemBar % 8 == 0, "alignment");
  static_assert(kCtasPerSm * (kSmemAlloc + 1024) <= 228 * 1024, "kCtasPerSm CTAs per SM");
};
static_assert(kStages % kMathWarpgroups == 0, "parity mode: a slot is consumed by one warpgroup");

// The CTA's items in order: rows r0 .. r0 + nrows - 1 (nrows = Q: a group; 1: a row alone).
// The producer and the math warpgroups walk the same sequence; callers take the rows'
// geometry themselves (row_of), so that no geometry stays live across items.
template <int Q>
struct ItemCursor {
  int gi = static_cast<int>(blockIdx.x) - static_cast<int>(gridDim.x);  // the current group
  unsigned left = 0;  // its items not yet returned: rows (one bit each), or bit 0 for the group
  bool group = false;
  __device__ bool next(const HisaParams& p, bool group_rows, int& r0, int& nrows) {
    while (left == 0) {
      gi += gridDim.x;
      if (static_cast<int64_t>(Q) * gi >= p.T) return false;
      unsigned scored = 0;
      bool one_range = true;
      int ks0 = 0;
#pragma unroll
      for (int q = 0; q < Q; ++q) {
        if (Q * gi + q >= p.T) continue;
        const RowGeometry g = row_of(p, static_cast<int64_t>(p.t0) + Q * gi + q);
        if (!skips_scoring(g, p.order, p.topk)) scored |= 1u << q;
        if (q == 0) ks0 = g.ks;
        one_range = one_range && g.ks == ks0;
      }
      group = group_rows && scored == (1u << Q) - 1 && one_range;
      left = group ? 1u : scored;
    }
    const int q = __ffs(static_cast<int>(left)) - 1;
    left &= left - 1;
    r0 = Q * gi + q;
    nrows = group ? Q : 1;
    return true;
  }
};

// Calls f(r0, nrows) for the CTA's items in order (ItemCursor).
template <int Q, class F>
__device__ __forceinline__ void for_each_item(const HisaParams& p, bool group_rows, F&& f) {
  ItemCursor<Q> items;
  int r0 = 0, nrows = 0;
  while (items.next(p, group_rows, r0, nrows)) f(r0, nrows);
}

template <int Q, bool kRowWg>
__global__ void __launch_bounds__(kThreads, kCtasPerSm)
    hisa_tokens_union_kernel(const __grid_constant__ CUtensorMap tmap_q,
                             const __grid_constant__ CUtensorMap tmap_k,
                             const __grid_constant__ CUtensorMap tmap_s, const HisaParams p,
                             bool group_rows) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using R = UnionShape<Q>;
  constexpr int kQStages = R::kQStages, kRefs = R::kRefs;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = sm90::aligned_base(smem_raw);
  const uint32_t base = sm90::smem_addr(smem);
  const uint32_t q_smem = base + R::kSmemQ, kv_smem = base + R::kSmemKV;
  const uint32_t w_smem = base + R::kSmemW, scale_smem = base + R::kSmemScale;
  int* refs = reinterpret_cast<int*>(smem + R::kSmemRefs);  // kRefs per ring slot
  int* item_stages = reinterpret_cast<int*>(smem + R::kSmemItem);
  const MbarRings<kQStages, kStages> rings{base + R::kSmemBar};

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  static_assert(!kRowWg || Q == kMathWarpgroups, "a warpgroup per row of the item");
  // kv_empty: the warpgroup that took the slot, or both (kRowWg: each takes every slot).
  if (threadIdx.x == 0) rings.init(1, kMathWarps, kFullArrivals, kRowWg ? kMathWarps : 4);
  __syncthreads();
  const bool has_scale = p.k_scale != nullptr;

  if (warp == kMathWarps) {  // ---- producer warp ----
    if (lane == 0) {
      prefetch_map(&tmap_q);
      prefetch_map(&tmap_k);
      if (has_scale) prefetch_map(&tmap_s);
    }
    // List buffer b holds row q's kept blocks at (b * Q + q) * kMaxList.
    int* lists = reinterpret_cast<int*>(smem + R::kSmemList);
    uint32_t q_iter = 0, gs = 0;
    struct ItemRows {
      int r0 = 0, nrows = 0, ks = 0;
      int n[Q], cv[Q];  // row q's kept blocks and candidates (0: no row q)
    };
    // The item's geometry, and its kept lists into buffer `buf` by cp.async (whole warp; each
    // lane waits for its copies in ready()).
    auto fetch = [&](ItemRows& it, int buf) {
#pragma unroll
      for (int q = 0; q < Q; ++q) {
        it.n[q] = it.cv[q] = 0;
        if (q >= it.nrows) continue;
        const RowGeometry g = row_of(p, static_cast<int64_t>(p.t0) + it.r0 + q);
        it.n[q] = g.nk;
        it.cv[q] = g.cvalid;
        it.ks = g.ks;
        const int32_t* kept = p.kept + static_cast<int64_t>(it.r0 + q) * p.m;
        int* dst = lists + (buf * Q + q) * kMaxList;
        for (int i = lane; i < g.nk; i += 32) {
          if (g.all_blocks) dst[i] = i;
          else sm90::cp_async4(sm90::smem_addr(dst + i), kept + i, 4);
        }
      }
      sm90::cp_async_commit();
    };
    // Once its lists have landed: the item's tile count (warp-parallel binary searches; the
    // math warpgroups need it with the queries), then lane 0 issues its queries and weights.
    auto ready = [&](const ItemRows& it, int buf) {
      sm90::cp_async_wait<0>();
      __syncwarp();
      const int ntiles = __reduce_add_sync(
          0xFFFFFFFFu, tokens::count_union_tiles<Q>(lists + buf * Q * kMaxList, kMaxList, it.n,
                                                    it.cv, p.B, lane, 32));
      if (lane == 0) {
        const int qs = q_iter % kQStages;
        mbar_wait(rings.q_empty(qs), ((q_iter / kQStages) & 1) ^ 1);
        item_stages[qs] = (ntiles + 1) / 2;  // published by q_full's arrival (release)
        const uint32_t qd = q_smem + qs * R::kItemQBytes, wd = w_smem + qs * R::kItemWBytes;
        mbar_arrive_expect_tx(rings.q_full(qs), it.nrows * (kQBytes + kWBytes));
        for (int q = 0; q < it.nrows; ++q) {
          tma_load_2d(qd + q * kQBytes, &tmap_q, 0, (it.r0 + q) * kHeads, rings.q_full(qs));
          bulk_load(wd + q * kWBytes, p.w + (static_cast<int64_t>(p.t0) + it.r0 + q) * kHeads,
                    kWBytes, rings.q_full(qs));
        }
      }
      ++q_iter;
    };
    // The union's tiles two by two into ring slots (lane 0; stage_union_*:
    // hisa_union_walk.cuh).
    using Tile = tokens::UnionTile<Q>;
    auto emit = [&](const Tile& a, const Tile& b, bool load_b) {
      const int slot = gs % kStages;
      mbar_wait(rings.kv_empty(slot), ((gs / kStages) & 1) ^ 1);
      int* slot_refs = refs + slot * kRefs;  // published by kv_full's arrival
#pragma unroll
      for (int q = 0; q < Q; ++q) {
        slot_refs[q] = a.ref[q];
        slot_refs[Q + q] = load_b ? b.ref[q] : 0;
      }
      tokens::produce_tiles(a.row, load_b, b.row, &tmap_k, &tmap_s,
                            kv_smem + slot * kStageBytes,
                            scale_smem + slot * kScaleStageFloats * 4, rings.kv_full(slot),
                            has_scale);
      ++gs;
    };
    // Pipelined over items: the next item's lists are copied (two buffers) while lane 0 walks
    // the current one's tiles, so that their global latency does not stall the ring at the
    // item's boundary; with one buffer (quads) they are copied after the walk.
    ItemCursor<Q> items;
    ItemRows cur;
    if (!items.next(p, group_rows, cur.r0, cur.nrows)) return;
    int buf = 0;
    fetch(cur, buf);
    ready(cur, buf);
    for (;;) {
      ItemRows nxt;
      const bool more = items.next(p, group_rows, nxt.r0, nxt.nrows);
      const int nbuf = R::kListBufs == 2 ? buf ^ 1 : buf;
      if (more && R::kListBufs == 2) fetch(nxt, nbuf);
      if (lane == 0) {
        const int* cl = lists + buf * Q * kMaxList;
        if constexpr (kRowWg)
          tokens::stage_union_by_rows<Q>(cl, kMaxList, cur.n, cur.cv, p.B, cur.ks, emit);
        else
          tokens::stage_union_in_order<Q>(cl, kMaxList, cur.n, cur.cv, p.B, cur.ks, emit);
      }
      __syncwarp();  // lane 0 is done with buffer buf before it is refilled
      if (!more) break;
      if (R::kListBufs == 1) fetch(nxt, nbuf);
      ready(nxt, nbuf);
      cur = nxt;
      buf = nbuf;
    }
    return;
  }

  // ---- math warpgroups ----
  const int wg = warp / 4;
  const int quad = lane % 4;
  const int row = 16 * (warp % 4) + lane / 4 + 8 * (quad & 1);  // row stored by quads 0 and 1
  if (threadIdx.x == 0) {  // every row's candidate range, scored or not
    for (int gi = blockIdx.x; Q * gi < p.T; gi += gridDim.x) {
      for (int r = Q * gi; r < Q * gi + Q && r < p.T; ++r) {
        p.cand_begin[r] = 0;
        p.cand_end[r] = row_of(p, static_cast<int64_t>(p.t0) + r).cvalid;
      }
    }
  }
  const float* scales = reinterpret_cast<const float*>(smem + R::kSmemScale);
  float acc0[32], acc1[32];
  uint32_t q_iter = 0, gs = 0;
  if constexpr (kRowWg) {  // warpgroup wg: row r0 + wg of each item, every stage
    for_each_item<Q>(p, group_rows, [&](int r0, int nrows) {
      const int qs = q_iter % kQStages;
      mbar_wait(rings.q_full(qs), (q_iter / kQStages) & 1);
      ++q_iter;
      const int nstages = item_stages[qs];
      const bool mine = wg < nrows;  // a lone row: warpgroup 1 only releases the slots
      const int row_q = mine ? wg : 0;  // the item's row this warpgroup reads
      // This row's weights in registers (as the TMA kernel's kWRegs shape: the same bits).
      float wv[16];
      sm90::load_head_weights(
          reinterpret_cast<const float*>(smem + R::kSmemW + qs * R::kItemWBytes) + row_q * kHeads,
          wv);
      const uint32_t q_tile = q_smem + qs * R::kItemQBytes + row_q * kQBytes;
      float* s_row = p.scores + static_cast<int64_t>(r0 + row_q) * p.scores_ld;
      const int scale_row =
          tokens::scale_shift(row_of(p, static_cast<int64_t>(p.t0) + r0).ks) + row;
      for (int l = 0; l < nstages; ++l) {
        const uint32_t gl = gs + l;
        const int slot = gl % kStages;
        mbar_wait(rings.kv_full(slot), (gl / kStages) & 1);
        const int* slot_refs = refs + slot * kRefs;  // read before the slot's release
        const int ref_a = mine ? slot_refs[wg] : 0, ref_b = mine ? slot_refs[Q + wg] : 0;
        const float* stage_scales = scales + slot * kScaleStageFloats + scale_row;
        const float scale_a = has_scale ? stage_scales[0] : 1.0f;
        const float scale_b = has_scale ? stage_scales[kScaleTileFloats] : 1.0f;
        // Uniform over the warpgroup (one record per slot), broadcast so that the compiler
        // sees the branches around the wgmmas as uniform.
        const int own = __shfl_sync(0xFFFFFFFFu, (ref_a != 0) | (ref_b != 0) << 1, 0);
        const uint32_t keys = kv_smem + slot * kStageBytes;
        auto finish = [&](const float(&acc)[32], int ref, float scale) {
          const float2 sum = sm90::key_head_sums(acc, wv);
          const float s = (quad & 1) ? sum.y : sum.x;
          if (quad < 2 && row < tokens::tile_ref_count(ref))
            s_row[tokens::tile_ref_pos(ref) + row] = has_scale ? scale * s : s;
        };
        if (own == 3) {  // both tiles: the second's MMA under the first's epilogue
          sm90::fence_operand(acc0);
          sm90::fence_operand(acc1);
          sm90::wgmma_fence();
          sm90::wgmma_k128_e4m3(acc0, keys, q_tile);
          sm90::wgmma_k128_e4m3(acc1, keys + kTileBytes, q_tile);
          sm90::wgmma_wait<1>();
          sm90::fence_operand(acc0);
          finish(acc0, ref_a, scale_a);
          sm90::wgmma_wait<0>();
          sm90::fence_operand(acc1);
          __syncwarp();
          if (lane == 0) mbar_arrive(rings.kv_empty(slot));
          finish(acc1, ref_b, scale_b);
        } else if (own != 0) {  // one tile
          const int t = own >> 1;
          sm90::fence_operand(acc0);
          sm90::wgmma_fence();
          sm90::wgmma_k128_e4m3(acc0, keys + t * kTileBytes, q_tile);
          sm90::wgmma_wait<0>();
          sm90::fence_operand(acc0);
          __syncwarp();
          if (lane == 0) mbar_arrive(rings.kv_empty(slot));
          finish(acc0, t ? ref_b : ref_a, t ? scale_b : scale_a);
        } else {
          __syncwarp();
          if (lane == 0) mbar_arrive(rings.kv_empty(slot));
        }
      }
      gs += nstages;
      __syncwarp();
      if (lane == 0) mbar_arrive(rings.q_empty(qs));
    });
    return;
  }
  for_each_item<Q>(p, group_rows, [&](int r0, int) {
    const int qs = q_iter % kQStages;
    mbar_wait(rings.q_full(qs), (q_iter / kQStages) & 1);
    ++q_iter;
    const int nstages = item_stages[qs];
    const uint32_t w0_off = R::kSmemW + qs * R::kItemWBytes + 8 * quad;  // row 0's + 2 quad
    const uint32_t q0 = q_smem + qs * R::kItemQBytes;  // row q's query: q * kQBytes after
    // Row r0 + q's scores lie q rows below row r0's; a lone row's tiles have tile_ref 0 in
    // every other row.
    float* s0 = p.scores + static_cast<int64_t>(r0) * p.scores_ld;
    const int scale_row =  // this thread's key in a scale slot (ks as clamped by row_of)
        tokens::scale_shift(row_of(p, static_cast<int64_t>(p.t0) + r0).ks) + row;
    auto release = [&](int slot) {
      __syncwarp();
      if (lane == 0) mbar_arrive(rings.kv_empty(slot));
    };
    const int first = tokens::first_own_stage(wg, gs, kMathWarpgroups);
    for (int l = first; l < nstages; l += kMathWarpgroups) {
      const uint32_t gl = gs + l;
      const int slot = gl % kStages;
      mbar_wait(rings.kv_full(slot), (gl / kStages) & 1);
      const int* slot_refs = refs + slot * kRefs;  // read after the wait (its asm clobbers
                                                   // memory), each before the slot's release
      // The weights are read from shared memory per product: laundered per stage so that
      // the compiler does not hoist the loads out of the loop into registers.
      uint32_t w_off = w0_off;
      asm volatile("" : "+r"(w_off));
      const float* w0 = reinterpret_cast<const float*>(smem + w_off);
      const uint32_t keys = kv_smem + slot * kStageBytes;
      // Read before the slot is released (the producer's next TMA overwrites it).
      const float* stage_scales = scales + slot * kScaleStageFloats + scale_row;
      const float scale_a = has_scale ? stage_scales[0] : 1.0f;
      const float scale_b = has_scale ? stage_scales[kScaleTileFloats] : 1.0f;
      // The stage's products i = Q * tile + row with a nonzero tile_ref; uniform over the
      // warpgroup (one record per slot), broadcast so that the compiler sees the loop around
      // the wgmmas as uniform. Two at a time (a lone last product is paired with a repeat,
      // i + 2Q, whose results are not stored).
      int mask = 0;
#pragma unroll
      for (int i = 0; i < kRefs; ++i) mask |= (slot_refs[i] != 0) << i;
      int rest = __shfl_sync(0xFFFFFFFFu, mask, 0);
      const int ngroups = (__popc(rest) + 1) / 2;
      // Row i % Q's score of this thread's key of product i's tile (acc: that row's heads).
      auto finish = [&](const float(&acc)[32], int i, int ref) {
        const int r = i % Q;
        const float2 sum = sm90::key_head_sums_smem(acc, w0 + r * kHeads);
        const float s = (quad & 1) ? sum.y : sum.x;
        const float scale = (i / Q & 1) ? scale_b : scale_a;
        if (quad < 2 && row < tokens::tile_ref_count(ref))
          s0[static_cast<int64_t>(r) * p.scores_ld + tokens::tile_ref_pos(ref) + row] =
              has_scale ? scale * s : s;
      };
      for (int g = 0; g < ngroups; ++g) {
        const int ia = __ffs(rest) - 1;
        rest &= rest - 1;
        const int ib = rest != 0 ? __ffs(rest) - 1 : 2 * Q + ia;
        rest &= rest - 1;
        const int ref_a = slot_refs[ia], ref_b = ib < kRefs ? slot_refs[ib] : 0;
        sm90::fence_operand(acc0);
        sm90::fence_operand(acc1);
        sm90::wgmma_fence();
        sm90::wgmma_k128_e4m3(acc0, keys + (ia / Q) * kTileBytes, q0 + (ia % Q) * kQBytes);
        sm90::wgmma_k128_e4m3(acc1, keys + (ib / Q & 1) * kTileBytes, q0 + (ib % Q) * kQBytes);
        sm90::wgmma_wait<1>();
        sm90::fence_operand(acc0);
        finish(acc0, ia, ref_a);
        sm90::wgmma_wait<0>();
        sm90::fence_operand(acc1);
        if (g + 1 == ngroups) release(slot);
        finish(acc1, ib, ref_b);
      }
    }
    gs += nstages;
    __syncwarp();
    if (lane == 0) mbar_arrive(rings.q_empty(qs));
  });
#endif  // __CUDA_ARCH_FEAT_SM90_ALL
}

// Most kept blocks of any row: m, or every block of a row of at most topk tokens.
int most_kept_blocks(const HisaParams& p) { return std::max(p.m, (p.topk + p.B - 1) / p.B); }

template <int Q, bool kRowWg = false>
void launch_union(const HisaParams& p, cudaStream_t st, bool group_rows,
                  const tokens::LaunchInputs& in) {
  const std::string& ctx = in.ctx;
  const void* fn = reinterpret_cast<const void*>(hisa_tokens_union_kernel<Q, kRowWg>);
  constexpr int kSmem = UnionShape<Q>::kSmemAlloc;
  HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem),
                      ctx);
  const int sms = current_device_properties().multiProcessorCount;
  const int64_t items = (static_cast<int64_t>(p.T) + Q - 1) / Q;
  const int grid = static_cast<int>(std::min<int64_t>(items, int64_t{kCtasPerSm} * sms));
  CUtensorMap map_q = in.map_q, map_k = in.map_k, map_s = in.map_s;
  HisaParams par = p;
  bool group = group_rows;
  void* args[] = {&map_q, &map_k, &map_s, &par, &group};
  HISA_CUDA_CHECK_CTX(cudaLaunchKernel(fn, dim3(grid), dim3(kThreads), args, kSmem, st), ctx);
  HISA_CUDA_CHECK_LAUNCH("hisa_tokens_union_kernel", ctx);
}

}  // namespace

bool sm90_union_tokens_supported(const HisaParams& p) {
  if (!sm90_tma_tokens_supported(p) || most_kept_blocks(p) > kMaxList) return false;
  return sm90a_kernel_ready(reinterpret_cast<const void*>(hisa_tokens_union_kernel<2, false>)) &&
         sm90a_kernel_ready(reinterpret_cast<const void*>(hisa_tokens_union_kernel<2, true>)) &&
         sm90a_kernel_ready(reinterpret_cast<const void*>(hisa_tokens_union_kernel<4, false>));
}

void launch_sm90_union_tokens(const HisaParams& p, cudaStream_t st, int rows_per_item,
                              bool row_per_warpgroup) {
  if (p.T == 0) return;
  const tokens::LaunchInputs in =
      tokens::launch_inputs(p, "union tokens", sm90_union_tokens_supported(p));
  if (rows_per_item == 4)
    launch_union<4>(p, st, true, in);
  else if (row_per_warpgroup)
    launch_union<2, true>(p, st, true, in);
  else
    launch_union<2>(p, st, rows_per_item == 2, in);
}

}  // namespace hisa::cuda
