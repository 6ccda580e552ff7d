// HISA stage 1 on sm_90a in two kernels: a block scorer with the flat scorer's structure (a
// producer warp streams each query's pooled-key tiles by TMA into a ring while two math
// warpgroups multiply them) writes the block scores to global memory, then select_kept (one
// small CTA per query) picks the m - 2 middle blocks with the in-CTA radix select of
// hisa_rows.cuh (finish_blocks) and writes the kept list.
// It replaces sm90_blocks_kernel (hisa_sm90.cu), whose one warpgroup per query runs MMA,
// epilogue and the in-CTA selection in turn and whose shared memory grows with the row
// (a key per block: 64 KB at 1M tokens).
//
// Arithmetic is sm90_blocks_kernel's, so the block scores are bitwise the same: q decoded
// exactly to bf16 (FP8) or copied (bf16), the bf16 pooled table, wgmma m64n64k16 bf16 with 64
// pooled rows on M, the query's 64 heads on N, K = 128 in eight steps (panel 0 then panel 1),
// and the same epilogue order (sm90::key_head_sums_smem). With the same selection code
// (finish_blocks: ties to the larger block, NaN lowest, -0 == +0), the kept lists are the
// one-warpgroup kernel's.
//
// Row r of the chunk (query t = t0 + r) that needs block scores (not g.all_blocks) gets
// scores[r * scores_ld + j] = J(t, j) for the middle blocks j in [1, nb - 1); select_kept
// turns it into kept[r * m .. r * m + m). Rows that keep every block are skipped by both (stage
// 2 does not read their kept list). The radix top-k of topk_radix.cu did the same selection
// at 0.54 ms per 32K rows of <= 2K blocks (a 512-thread CTA per row, H100), as much as the
// scoring it follows; select_kept is the old kernel's select on 128 threads.
//
//   * Persistent grid (2 CTAs per SM, ~99 KB shared each); CTA c takes rows c, c + grid, ...
//   * Producer warp: per row, q converted to bf16 into one of 2 Q stages by the warp's own
//     loads and stores (TMA cannot convert FP8), the weights by bulk copy; per stage of 128
//     pooled rows (block j's pooled key is table row ks + j * B), four TMA boxes (2 tiles x 2
//     128-byte panels) of a 4-D map that steps B rows at a time (strided_halves_map).
//   * Math warpgroup g takes the stages with global index parity g (ring of 2: one slot per
//     warpgroup), tile b's MMA running while tile a's epilogue reduces it.
// Supported: FP8 e4m3 or bf16, H = 64, D = 128, m >= 3, own kept blocks (not MISA lists or
// shared_candidates), any B, 16-byte aligned q and w, sm_90a binary.
#include <cuda.h>

#include <string>

#include "cuda/common.cuh"
#include "cuda/hisa_launch.cuh"
#include "cuda/hisa_rows.cuh"
#include "cuda/hisa_sm90_tile.cuh"
#include "cuda/sm90_tma.cuh"
#include "cuda/tensor_map.hpp"
#include "cuda/topk_radix.cuh"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

using namespace tma;

constexpr int kHeads = 64;
constexpr int kDim = 128;
constexpr int kTileKeys = 64;                 // one wgmma M tile
constexpr int kStageKeys = 2 * kTileKeys;     // one math warpgroup's stage
constexpr int kMathWarpgroups = 2;
constexpr int kMathWarps = 4 * kMathWarpgroups;
constexpr int kThreadsBlk = 32 * kMathWarps + 32;  // + the producer warp
constexpr int kStages = 2;                    // one slot per math warpgroup (bf16 tiles are big)
static_assert(kStages % kMathWarpgroups == 0, "a slot is always consumed by one warpgroup");
constexpr int kQStages = 2;
constexpr int kPanelBytes = kTileKeys * 128;  // 64 rows x one 128-byte half of a bf16 row
constexpr int kTileBytes = 2 * kPanelBytes;   // 64 bf16 rows of D = 128
constexpr int kQBytes = kHeads * kDim * 2;    // one query's q in bf16
constexpr int kWBytes = kHeads * 4;
constexpr int kStageBytes = 2 * kTileBytes;

constexpr int kSmemQ = 0;
constexpr int kSmemKV = kSmemQ + kQStages * kQBytes;
constexpr int kSmemW = kSmemKV + kStages * kStageBytes;
constexpr int kSmemBar = kSmemW + kQStages * kWBytes;
constexpr int kNumBars = 2 * kQStages + 2 * kStages;
constexpr int kSmemAlloc = kSmemBar + kNumBars * 8 + 1024;  // + slack to align to 1024

// q[t] as bf16 (FP8 decoded exactly, bf16 copied) into rows [row0, row0 + 64) of a swizzled
// tile of `rows` rows: 16-byte chunk c (elements 8c..8c+7) of head h, spread over kLanes
// threads (index `lane`). The caller fences the stores for the async proxy.
template <int kLanes>
__device__ __forceinline__ void stage_q_bf16(const HisaParams& p, int64_t t, unsigned char* qdst,
                                             int rows, int row0, int lane) {
  if (p.dtype == DType::fp8_e4m3) {
    const unsigned char* src = static_cast<const unsigned char*>(p.q) + t * (kHeads * kDim);
#pragma unroll 8
    for (int i = lane; i < kHeads * 16; i += kLanes) {
      const int h = i >> 4, c = i & 15;
      const uint2 v = __ldg(reinterpret_cast<const uint2*>(src + h * kDim + c * 8));
      const uint4 packed = make_uint4(
          sm90::e4m3x2_to_bf16x2(v.x & 0xFFFFu), sm90::e4m3x2_to_bf16x2(v.x >> 16),
          sm90::e4m3x2_to_bf16x2(v.y & 0xFFFFu), sm90::e4m3x2_to_bf16x2(v.y >> 16));
      *reinterpret_cast<uint4*>(qdst + sm90::swizzled_offset(rows, row0 + h, c)) = packed;
    }
  } else {
    const unsigned char* src = static_cast<const unsigned char*>(p.q) + t * (kHeads * kDim * 2);
#pragma unroll 8
    for (int i = lane; i < kHeads * 16; i += kLanes) {
      const int h = i >> 4, c = i & 15;
      const uint4 v = __ldg(reinterpret_cast<const uint4*>(src + h * kDim * 2 + c * 16));
      *reinterpret_cast<uint4*>(qdst + sm90::swizzled_offset(rows, row0 + h, c)) = v;
    }
  }
}

// FP8 q row t decoded to bf16 into rows [row0, row0 + 64) of the 128-row pair tile, spread
// over kLanes threads: every 16-byte load of the thread's share (16 values, two output
// chunks) is issued before the first conversion, so a row costs about one memory latency
// instead of one per unrolled batch.
template <int kLanes>
__device__ __forceinline__ void stage_q_fp8_batched(const HisaParams& p, int64_t t,
                                                    unsigned char* qdst, int row0, int lane) {
  constexpr int kLoads = kHeads * kDim / 16;
  constexpr int kPer = (kLoads + kLanes - 1) / kLanes;
  const uint4* src = reinterpret_cast<const uint4*>(static_cast<const unsigned char*>(p.q) +
                                                    t * (kHeads * kDim));
  uint4 v[kPer];
#pragma unroll
  for (int u = 0; u < kPer; ++u)
    if (lane + u * kLanes < kLoads) v[u] = __ldg(src + lane + u * kLanes);
#pragma unroll
  for (int u = 0; u < kPer; ++u) {
    const int i = lane + u * kLanes;
    if (i >= kLoads) continue;
    const int h = row0 + (i >> 3), c = (i & 7) * 2;
    const uint4 lo = make_uint4(
        sm90::e4m3x2_to_bf16x2(v[u].x & 0xFFFFu), sm90::e4m3x2_to_bf16x2(v[u].x >> 16),
        sm90::e4m3x2_to_bf16x2(v[u].y & 0xFFFFu), sm90::e4m3x2_to_bf16x2(v[u].y >> 16));
    const uint4 hi = make_uint4(
        sm90::e4m3x2_to_bf16x2(v[u].z & 0xFFFFu), sm90::e4m3x2_to_bf16x2(v[u].z >> 16),
        sm90::e4m3x2_to_bf16x2(v[u].w & 0xFFFFu), sm90::e4m3x2_to_bf16x2(v[u].w >> 16));
    *reinterpret_cast<uint4*>(qdst + sm90::swizzled_offset(2 * kHeads, h, c)) = lo;
    *reinterpret_cast<uint4*>(qdst + sm90::swizzled_offset(2 * kHeads, h, c + 1)) = hi;
  }
}

// One stage of pooled rows (middle block index j = stride index of the 4-D map, residue res):
// tile a (64 rows, two 128-byte panels) and, if load_b, tile b (the next 64) right after it.
// The caller has set the stage's expected bytes on `full`.
__device__ __forceinline__ void load_pooled_stage(const CUtensorMap* map, uint32_t dst, int res,
                                                  int j, bool load_b, uint32_t full) {
  tma_load_4d(dst, map, 0, res, j, full);
  tma_load_4d(dst + kPanelBytes, map, 1, res, j, full);
  if (load_b) {
    tma_load_4d(dst + kTileBytes, map, 0, res, j + kTileKeys, full);
    tma_load_4d(dst + kTileBytes + kPanelBytes, map, 1, res, j + kTileKeys, full);
  }
}

// One 64-row tile against the query: eight k16 steps, panel 0 (K 0..63) then panel 1.
__device__ __forceinline__ void tile_mma(float (&acc)[32], uint32_t keys, uint32_t q_tile) {
  const uint64_t dk = sm90::sw128_desc(keys), dq = sm90::sw128_desc(q_tile);
#pragma unroll
  for (int s = 0; s < kDim * 2 / 32; ++s) {
    const uint32_t off = static_cast<uint32_t>((s >> 2) * kPanelBytes + (s & 3) * 32);
    sm90::wgmma_m64n64k16_bf16(acc, dk + (off >> 4), dq + (off >> 4), s > 0);
  }
  sm90::wgmma_commit();
}

__global__ void __launch_bounds__(kThreadsBlk, 2)
    hisa_blocks_tma_kernel(const __grid_constant__ CUtensorMap tmap_pooled, const HisaParams p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = sm90::aligned_base(smem_raw);
  const uint32_t base = sm90::smem_addr(smem);
  const uint32_t q_smem = base + kSmemQ, kv_smem = base + kSmemKV, w_smem = base + kSmemW;
  const MbarRings<kQStages, kStages> rings{base + kSmemBar};

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0) rings.init(1, kMathWarps, 1, 4);  // kv_empty: the consuming warpgroup
  __syncthreads();

  if (warp == kMathWarps) {
    // ---- producer warp ----
    if (lane == 0) prefetch_map(&tmap_pooled);
    uint32_t q_iter = 0, gs = 0;
    for (int r = blockIdx.x; r < p.T; r += gridDim.x) {
      const int64_t t = static_cast<int64_t>(p.t0) + r;
      const RowGeometry g = row_of(p, t);
      if (g.all_blocks) continue;
      const int qs = q_iter % kQStages;
      mbar_wait(rings.q_empty(qs), ((q_iter / kQStages) & 1) ^ 1);
      ++q_iter;
      stage_q_bf16<32>(p, t, smem + kSmemQ + qs * kQBytes, kHeads, 0, lane);
      sm90::fence_proxy_async();  // the warp's q stores, before wgmma reads them
      __syncwarp();
      if (lane == 0) {
        mbar_arrive_expect_tx(rings.q_full(qs), kWBytes);
        bulk_load(w_smem + qs * kWBytes, p.w + t * kHeads, kWBytes, rings.q_full(qs));
      }
      // Middle block j = 1 + i is pooled row ks + (1 + i) * B = residue ks % B, stride index
      // ks / B + 1 + i.
      const int nmid = g.nb - 2;
      const int res = g.ks % p.B, j0 = g.ks / p.B + 1;
      const int nstages = (nmid + kStageKeys - 1) / kStageKeys;
      for (int l = 0; l < nstages; ++l, ++gs) {
        const int slot = gs % kStages;
        if (lane == 0) {
          mbar_wait(rings.kv_empty(slot), ((gs / kStages) & 1) ^ 1);
          const int i0 = l * kStageKeys;
          const bool load_b = i0 + kTileKeys < nmid;
          mbar_arrive_expect_tx(rings.kv_full(slot), load_b ? kStageBytes : kTileBytes);
          load_pooled_stage(&tmap_pooled, kv_smem + slot * kStageBytes, res, j0 + i0, load_b,
                            rings.kv_full(slot));
        }
        __syncwarp();
      }
    }
    return;
  }

  // ---- math warpgroups ----
  const int wg = warp / 4;
  const int quad = lane % 4;
  const int row = 16 * (warp % 4) + lane / 4 + 8 * (quad & 1);  // row stored by quads 0 and 1
  float acc_a[32], acc_b[32];
  uint32_t q_iter = 0, gs = 0;
  for (int r = blockIdx.x; r < p.T; r += gridDim.x) {
    const int64_t t = static_cast<int64_t>(p.t0) + r;
    const RowGeometry g = row_of(p, t);
    if (p.cand_begin != nullptr && threadIdx.x == 0) {  // the radix top-k selects (long rows)
      p.cand_begin[r] = g.all_blocks ? 0 : 1;
      p.cand_end[r] = g.all_blocks ? 0 : g.nb - 1;
      if (!g.all_blocks) {
        int32_t* kept = p.kept + static_cast<int64_t>(r) * p.m;
        kept[0] = 0;
        kept[p.m - 1] = g.nb - 1;
      }
    }
    if (g.all_blocks) continue;
    const int qs = q_iter % kQStages;
    mbar_wait(rings.q_full(qs), (q_iter / kQStages) & 1);
    ++q_iter;
    const float* wq = reinterpret_cast<const float*>(smem + kSmemW + qs * kWBytes) + 2 * quad;
    const uint32_t q_tile = q_smem + qs * kQBytes;
    float* scores_row = p.scores + static_cast<int64_t>(r) * p.scores_ld + 1;  // column 1 + i
    const int nmid = g.nb - 2;
    const int nstages = (nmid + kStageKeys - 1) / kStageKeys;
    for (int l = 0; l < nstages; ++l) {
      const uint32_t gl = gs + l;
      if (static_cast<int>(gl & 1u) != wg) continue;
      const int slot = gl % kStages;
      mbar_wait(rings.kv_full(slot), (gl / kStages) & 1);
      const uint32_t keys = kv_smem + slot * kStageBytes;
      sm90::fence_operand(acc_a);
      sm90::fence_operand(acc_b);
      sm90::wgmma_fence();
      tile_mma(acc_a, keys, q_tile);
      tile_mma(acc_b, keys + kTileBytes, q_tile);
      const int ia = l * kStageKeys + row, ib = ia + kTileKeys;
      sm90::wgmma_wait<1>();
      sm90::fence_operand(acc_a);
      {
        const float2 sum = sm90::key_head_sums_smem(acc_a, wq);
        if (quad < 2 && ia < nmid) scores_row[ia] = (quad & 1) ? sum.y : sum.x;
      }
      sm90::wgmma_wait<0>();
      sm90::fence_operand(acc_b);
      __syncwarp();
      if (lane == 0) mbar_arrive(rings.kv_empty(slot));
      {
        const float2 sum = sm90::key_head_sums_smem(acc_b, wq);
        if (quad < 2 && ib < nmid) scores_row[ib] = (quad & 1) ? sum.y : sum.x;
      }
    }
    gs += nstages;
    __syncwarp();
    if (lane == 0) mbar_arrive(rings.q_empty(qs));
  }
#endif  // __CUDA_ARCH_FEAT_SM90_ALL
}

// ---- query pairs (HISA_BLOCKS_PAIR=1): two rows of one sequence per item, N = 128 ----
// Rows 2i and 2i + 1 of the chunk share their pooled rows when their ranges start at the same
// ks (same sequence): one item scores both against each tile with wgmma m64n128k16 (the two
// queries' 64 heads side by side on N), so a tile is loaded once and its A operand read once
// per two queries (shared-memory traffic per FLOP 2/3 of the one-query kernel's, see
// docs/cuda_hisa.md). Rows of different sequences, or with one of the pair keeping every
// block, are items of one row (columns 64..127 of the product unused). Columns 0..63 of the
// accumulator are the m64n64 layout of the first query and 64..127 of the second, and each
// column's dot products take the same k16 steps in the same order as the one-query kernel's,
// so the block scores are meant to be bitwise the same (the tests require identical rows).
//   * One CTA per SM: 2 math warpgroups (4 ring slots, two per warpgroup, 128 pooled rows each)
//     + a producer warpgroup: warp 0 issues the pooled-row TMA, warps 1-3 convert the item's q
//     rows to bf16 into one of 2 Q stages, and warp 1 bulk-copies their weights.
namespace pairk {
constexpr int kN = 2 * kHeads;                 // wgmma N: two queries' heads
constexpr int kQPanelBytes = kN * 128;         // 128 rows x one 128-byte half
constexpr int kPairQBytes = 2 * kQPanelBytes;
constexpr int kPairWBytes = 2 * kHeads * 4;
constexpr int kPairStages = 4;
static_assert(kPairStages % kMathWarpgroups == 0, "a slot is always consumed by one warpgroup");
constexpr int kQWarps = 3;                     // producer warps converting q
constexpr int kPairThreads = 32 * kMathWarps + 128;
constexpr int kPairSmemQ = 0;
constexpr int kPairSmemKV = kPairSmemQ + kQStages * kPairQBytes;
constexpr int kPairSmemW = kPairSmemKV + kPairStages * kStageBytes;
constexpr int kPairSmemBar = kPairSmemW + kQStages * kPairWBytes;
constexpr int kPairNumBars = 2 * kQStages + 2 * kPairStages;
constexpr int kPairSmemAlloc = kPairSmemBar + kPairNumBars * 8 + 1024;
static_assert(kPairSmemAlloc <= 227 * 1024, "one CTA per SM");

// Calls f(ra, ga, rb, gb) for the CTA's items in order (rb = -1: row ra alone). Producer and
// math roles walk the same sequence.
template <class F>
__device__ __forceinline__ void for_each_pair_item(const HisaParams& p, F&& f) {
  for (int pr = blockIdx.x; 2 * pr < p.T; pr += gridDim.x) {
    const int ra = 2 * pr, rb = ra + 1;
    const RowGeometry ga = row_of(p, static_cast<int64_t>(p.t0) + ra);
    const bool need_a = !ga.all_blocks;
    bool need_b = false;
    RowGeometry gb = ga;
    if (rb < p.T) {
      gb = row_of(p, static_cast<int64_t>(p.t0) + rb);
      need_b = !gb.all_blocks;
    }
    if (need_a && need_b && ga.ks == gb.ks) {
      f(ra, ga, rb, gb);
    } else {
      if (need_a) f(ra, ga, -1, ga);
      if (need_b) f(rb, gb, -1, gb);
    }
  }
}

// One 64-row tile against both queries: eight k16 steps, panel 0 then panel 1.
__device__ __forceinline__ void tile_mma_pair(float (&acc0)[32], float (&acc1)[32], uint32_t keys,
                                              uint32_t q_tile) {
  const uint64_t dk = sm90::sw128_desc(keys), dq = sm90::sw128_desc(q_tile);
#pragma unroll
  for (int s = 0; s < kDim * 2 / 32; ++s) {
    const uint32_t ko = static_cast<uint32_t>((s >> 2) * kPanelBytes + (s & 3) * 32);
    const uint32_t qo = static_cast<uint32_t>((s >> 2) * kQPanelBytes + (s & 3) * 32);
    sm90::wgmma_m64n128k16_bf16(acc0, acc1, dk + (ko >> 4), dq + (qo >> 4), s > 0);
  }
  sm90::wgmma_commit();
}

// The block sums of one tile for the item's rows: column i (middle block 1 + i) of each row
// that has it.
__device__ __forceinline__ void store_pair_sums(const float (&acc0)[32], const float (&acc1)[32],
                                                const float* w, int quad, int i, float* row_a,
                                                int nmid_a, float* row_b, int nmid_b) {
  const float2 sa = sm90::key_head_sums_smem(acc0, w + 2 * quad);
  if (quad < 2 && i < nmid_a) row_a[i] = (quad & 1) ? sa.y : sa.x;
  if (row_b != nullptr) {
    const float2 sb = sm90::key_head_sums_smem(acc1, w + kHeads + 2 * quad);
    if (quad < 2 && i < nmid_b) row_b[i] = (quad & 1) ? sb.y : sb.x;
  }
}
}  // namespace pairk

__global__ void __launch_bounds__(pairk::kPairThreads, 1)
    hisa_blocks_pair_kernel(const __grid_constant__ CUtensorMap tmap_pooled, const HisaParams p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using namespace pairk;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = sm90::aligned_base(smem_raw);
  const uint32_t base = sm90::smem_addr(smem);
  const uint32_t q_smem = base + kPairSmemQ, kv_smem = base + kPairSmemKV;
  const uint32_t w_smem = base + kPairSmemW;
  const MbarRings<kQStages, kPairStages> rings{base + kPairSmemBar};

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0) rings.init(kQWarps, kMathWarps, 1, 4);
  __syncthreads();

  if (warp == kMathWarps) {
    // ---- producer warp 0: pooled rows ----
    if (lane == 0) {
      prefetch_map(&tmap_pooled);
      uint32_t gs = 0;
      for_each_pair_item(p, [&](int, const RowGeometry& ga, int rb, const RowGeometry& gb) {
        const int nmid = max(ga.nb, rb >= 0 ? gb.nb : 0) - 2;
        const int res = ga.ks % p.B, j0 = ga.ks / p.B + 1;
        for (int i0 = 0; i0 < nmid; i0 += kStageKeys, ++gs) {
          const int slot = gs % kPairStages;
          mbar_wait(rings.kv_empty(slot), ((gs / kPairStages) & 1) ^ 1);
          const bool load_b = i0 + kTileKeys < nmid;
          mbar_arrive_expect_tx(rings.kv_full(slot), load_b ? kStageBytes : kTileBytes);
          load_pooled_stage(&tmap_pooled, kv_smem + slot * kStageBytes, res, j0 + i0, load_b,
                            rings.kv_full(slot));
        }
      });
    }
    return;
  }
  if (warp > kMathWarps) {
    // ---- producer warps 1-3: the item's q rows (and warp 1: their weights) ----
    const int qw = warp - kMathWarps - 1;
    uint32_t q_iter = 0;
    for_each_pair_item(p, [&](int ra, const RowGeometry&, int rb, const RowGeometry&) {
      const int qs = q_iter % kQStages;
      mbar_wait(rings.q_empty(qs), ((q_iter / kQStages) & 1) ^ 1);
      ++q_iter;
      unsigned char* qdst = smem + kPairSmemQ + qs * kPairQBytes;
      const int64_t ta = static_cast<int64_t>(p.t0) + ra;
      const int64_t tb = rb >= 0 ? static_cast<int64_t>(p.t0) + rb : -1;
      if (p.dtype == DType::fp8_e4m3) {
        stage_q_fp8_batched<32 * kQWarps>(p, ta, qdst, 0, 32 * qw + lane);
        if (tb >= 0) stage_q_fp8_batched<32 * kQWarps>(p, tb, qdst, kHeads, 32 * qw + lane);
      } else {
        stage_q_bf16<32 * kQWarps>(p, ta, qdst, kN, 0, 32 * qw + lane);
        if (tb >= 0) stage_q_bf16<32 * kQWarps>(p, tb, qdst, kN, kHeads, 32 * qw + lane);
      }
      sm90::fence_proxy_async();  // the warp's q stores, before wgmma reads them
      __syncwarp();
      if (lane == 0) {
        if (qw == 0) {
          const uint32_t wb = w_smem + qs * kPairWBytes;
          mbar_arrive_expect_tx(rings.q_full(qs), rb >= 0 ? kPairWBytes : kPairWBytes / 2);
          bulk_load(wb, p.w + ta * kHeads, kPairWBytes / 2, rings.q_full(qs));
          if (tb >= 0)
            bulk_load(wb + kPairWBytes / 2, p.w + tb * kHeads, kPairWBytes / 2, rings.q_full(qs));
        } else {
          mbar_arrive(rings.q_full(qs));
        }
      }
    });
    return;
  }

  // ---- math warpgroups ----
  const int wg = warp / 4;
  const int quad = lane % 4;
  const int row = 16 * (warp % 4) + lane / 4 + 8 * (quad & 1);  // row stored by quads 0 and 1
  // Every row's fixed kept entries (first and own block) and radix top-k range, rows that keep
  // every block (no item) included: threads 0 and 1 take rows 2 pr and 2 pr + 1 of the pairs.
  if (threadIdx.x < 2) {
    for (int r = 2 * blockIdx.x + static_cast<int>(threadIdx.x); r < p.T; r += 2 * gridDim.x) {
      const RowGeometry g = row_of(p, static_cast<int64_t>(p.t0) + r);
      if (p.cand_begin != nullptr) {
        p.cand_begin[r] = g.all_blocks ? 0 : 1;
        p.cand_end[r] = g.all_blocks ? 0 : g.nb - 1;
      }
      if (!g.all_blocks) {
        int32_t* kept = p.kept + static_cast<int64_t>(r) * p.m;
        kept[0] = 0;
        kept[p.m - 1] = g.nb - 1;
      }
    }
  }
  float a0[32], a1[32], b0[32], b1[32];
  uint32_t q_iter = 0, gs = 0;
  for_each_pair_item(p, [&](int ra, const RowGeometry& ga, int rb, const RowGeometry& gb) {
    const int qs = q_iter % kQStages;
    mbar_wait(rings.q_full(qs), (q_iter / kQStages) & 1);
    ++q_iter;
    const float* w = reinterpret_cast<const float*>(smem + kPairSmemW + qs * kPairWBytes);
    const uint32_t q_tile = q_smem + qs * kPairQBytes;
    const int nmid_a = ga.nb - 2, nmid_b = rb >= 0 ? gb.nb - 2 : 0;
    const int nmid = max(nmid_a, nmid_b);
    float* row_a = p.scores + static_cast<int64_t>(ra) * p.scores_ld + 1;  // column 1 + i
    float* row_b = rb >= 0 ? p.scores + static_cast<int64_t>(rb) * p.scores_ld + 1 : nullptr;
    const int nstages = (nmid + kStageKeys - 1) / kStageKeys;
    for (int l = 0; l < nstages; ++l) {
      const uint32_t gl = gs + l;
      if (static_cast<int>(gl & 1u) != wg) continue;
      const int slot = gl % kPairStages;
      mbar_wait(rings.kv_full(slot), (gl / kPairStages) & 1);
      const uint32_t keys = kv_smem + slot * kStageBytes;
      sm90::fence_operand(a0);
      sm90::fence_operand(a1);
      sm90::fence_operand(b0);
      sm90::fence_operand(b1);
      sm90::wgmma_fence();
      tile_mma_pair(a0, a1, keys, q_tile);
      tile_mma_pair(b0, b1, keys + kTileBytes, q_tile);
      const int ia = l * kStageKeys + row;
      sm90::wgmma_wait<1>();
      sm90::fence_operand(a0);
      sm90::fence_operand(a1);
      store_pair_sums(a0, a1, w, quad, ia, row_a, nmid_a, row_b, nmid_b);
      sm90::wgmma_wait<0>();
      sm90::fence_operand(b0);
      sm90::fence_operand(b1);
      __syncwarp();
      if (lane == 0) mbar_arrive(rings.kv_empty(slot));
      store_pair_sums(b0, b1, w, quad, ia + kTileKeys, row_a, nmid_a, row_b, nmid_b);
    }
    gs += nstages;
    __syncwarp();
    if (lane == 0) mbar_arrive(rings.q_empty(qs));
  });
#endif  // __CUDA_ARCH_FEAT_SM90_ALL
}

// Kept list of row r = blockIdx.x from its block scores (copied into shared memory as ranking
// keys): finish_blocks, as in sm90_blocks_kernel.
constexpr int kSelectThreads = 128;
constexpr int kMaxMaskWords = 64;  // a_mask rows of up to 2048 kept blocks
__global__ void __launch_bounds__(kSelectThreads) select_kept_kernel(const HisaParams p) {
  extern __shared__ __align__(16) uint32_t jkeys[];  // [nbmax]
  __shared__ hisa_ops::SelectScratch sc;
  const int r = blockIdx.x;
  const RowGeometry g = row_of(p, static_cast<int64_t>(p.t0) + r);
  if (g.all_blocks) return;
  const float* row = p.scores + static_cast<int64_t>(r) * p.scores_ld + 1;
  const int nmid = g.nb - 2;
  for (int i = threadIdx.x; i < nmid; i += kSelectThreads) jkeys[i] = hisa_ops::score_key(row[i]);
  __syncthreads();
  __shared__ uint32_t mask_smem[kMaxMaskWords];  // the filtered stage 2a's A (if asked)
  BestBlocksMask mask;
  if (p.a_mask != nullptr)
    mask = {p.a_blocks, p.a_mask + static_cast<int64_t>(r) * p.a_words, p.a_words, mask_smem};
  finish_blocks(g, p.m, jkeys, p.kept + static_cast<int64_t>(r) * p.m, sc, mask);
}

}  // namespace

bool sm90_tma_blocks_supported(const HisaParams& p) {
  if (p.dtype != DType::fp8_e4m3 && p.dtype != DType::bf16) return false;
  if (p.H != kHeads || p.D != kDim || p.m < 3 || p.B < 1) return false;
  if (p.lists || p.shared_tiles) return false;
  if (!aligned16(p.q) || !aligned16(p.w)) return false;
  return sm90a_kernel_ready(reinterpret_cast<const void*>(hisa_blocks_tma_kernel)) &&
         tensor_maps_available();
}

void launch_sm90_tma_blocks(const HisaParams& p, cudaStream_t st, bool pairs) {
  if (p.T == 0) return;
  const std::string ctx = "HISA stage 1 TMA blocks T=" + std::to_string(p.T) +
                          " t0=" + std::to_string(p.t0) + " S=" + std::to_string(p.S) +
                          " B=" + std::to_string(p.B) + " m=" + std::to_string(p.m);
  if (!sm90_tma_blocks_supported(p) || p.scores == nullptr || p.pooled == nullptr ||
      p.kept == nullptr)
    throw BackendError("internal: the TMA blocks kernel does not take this problem [" + ctx + "]");
  if (p.scores_ld < p.nbmax)
    throw BackendError("internal: block-score rows shorter than the blocks [" + ctx + "]");
  const CUtensorMap map = strided_halves_map(p.pooled, p.S, p.B, kTileKeys, ctx);
  const int sms = current_device_properties().multiProcessorCount;
  if (pairs) {
    HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(hisa_blocks_pair_kernel,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             pairk::kPairSmemAlloc),
                        ctx);
    const int grid = static_cast<int>(std::min<int64_t>((p.T + 1) / 2, sms));
    hisa_blocks_pair_kernel<<<grid, pairk::kPairThreads, pairk::kPairSmemAlloc, st>>>(map, p);
    HISA_CUDA_CHECK_LAUNCH("hisa_blocks_pair_kernel", ctx);
  } else {
    HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(hisa_blocks_tma_kernel,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             kSmemAlloc),
                        ctx);
    const int grid = static_cast<int>(std::min<int64_t>(p.T, 2 * int64_t{sms}));
    hisa_blocks_tma_kernel<<<grid, kThreadsBlk, kSmemAlloc, st>>>(map, p);
    HISA_CUDA_CHECK_LAUNCH("hisa_blocks_tma_kernel", ctx);
  }
  if (p.cand_begin != nullptr) {
    // Long rows: the radix top-k (512 threads per row) in index order, k = m - 2, into
    // kept[r * m + 1 ..]; at 1M tokens (16K blocks) 580.5 ms end to end vs 644 with
    // select_kept (H100, e45e5e4 / bef5149).
    TopkRowsArgs a;
    a.scores = p.scores;
    a.ld = p.scores_ld;
    a.rows = p.T;
    a.cols = p.scores_ld;
    a.begin = p.cand_begin;
    a.end = p.cand_end;
    a.k = p.m - 2;
    a.out = p.kept + 1;
    a.out_ld = p.m;
    a.by_index = true;
    radix_topk_rows(a, st);
    return;
  }
  const size_t keys = sizeof(uint32_t) * static_cast<size_t>(p.nbmax);
  HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(select_kept_kernel,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(keys)),
                      ctx);
  select_kept_kernel<<<p.T, kSelectThreads, keys, st>>>(p);
  HISA_CUDA_CHECK_LAUNCH("select_kept_kernel", ctx);
}

}  // namespace hisa::cuda
