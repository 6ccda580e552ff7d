// Two-pass HISA stage 2a over query pairs (HISA_TOKENS_UNION=1; opt-in until timed): rows 2i
// and 2i + 1 of the chunk, when both are scored and lie in one sequence, are one item whose key
// tiles are the union of their kept blocks, each loaded once. A tile both rows keep is
// multiplied by one wgmma m64n128k32 (the two queries' 64 heads side by side on N, so its A
// operand is read once per two queries); a tile only one keeps, by the m64n64k32 of
// hisa_tokens_tma.cu against that query alone. Same contract and bitwise the same scores as
// hisa_tokens_tma.cu (each column's dot product takes the same four k32 steps; the epilogue is
// key_head_sums_smem x k_scale): row r gets cand_begin[r] = 0, cand_end[r] = cvalid and
// scores[r * scores_ld + pos] for every candidate position pos < cvalid.
//
// Why: stage 2a at 32K m=64 reads ~16 GB of key tiles from L2 per call (every query its own 64
// blocks of 8 KB), ~6 TB/s at its 2.68 ms on the H100 (bda9736), while neighbouring queries of
// real and structured text keep nearly the same blocks (the union of two is ~1.05x one).
// Loading the union once per pair halves those bytes there and costs none on random data (the
// union is never larger than the two lists).
//
//   * Persistent grid (2 CTAs per SM), CTA c takes the row pairs c, c + grid, ...; an item is a
//     pair, or one row (rows of different sequences, a row that needs no scoring, and every row
//     when pair_rows is off: HISA_TOKENS_UNION_SINGLE=1, the same kernel without pairing).
//   * Producer warp: copies the item's kept lists into shared memory (the whole warp), then
//     lane 0 walks their union in ascending block order twice: once to count the tiles (the
//     math warpgroups learn the item's stage count with its q), once to issue them. Per item
//     the queries (TMA, 8 KB apart: one N = 128 operand) and weights into one of 2 Q stages;
//     per stage two tiles, their k_scale boxes and a 16-byte record of where each tile's first
//     key sits in each row's candidates (-1: not a candidate of that row) into a 4-slot ring.
//   * Math warpgroup g takes the stages of global index parity g. A stage whose tiles each
//     belong to one row runs as in hisa_tokens_tma.cu (two m64n64 products, the second under
//     the first's epilogue); a stage with a tile of both rows goes tile by tile (the m64n128
//     accumulators are 64 registers).
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

constexpr int kMathWarpgroups = 2, kMathWarps = 4 * kMathWarpgroups;
constexpr int kThreads = 32 * kMathWarps + 32;  // + the producer warp
constexpr int kCtasPerSm = 2;
constexpr int kStages = 4, kQStages = 2;
constexpr int kMaxList = 512;  // kept blocks of one row the list buffers hold
constexpr int kPairQBytes = 2 * kQBytes, kPairWBytes = 2 * kWBytes;
constexpr int kSmemQ = 0;
constexpr int kSmemKV = kSmemQ + kQStages * kPairQBytes;
constexpr int kSmemScale = kSmemKV + kStages * kStageBytes;
constexpr int kSmemW = kSmemScale + kStages * kScaleStageFloats * 4;
constexpr int kSmemList = kSmemW + kQStages * kPairWBytes;
constexpr int kSmemMeta = kSmemList + 2 * kMaxList * 4;  // int4 per ring slot
constexpr int kSmemItem = kSmemMeta + kStages * 16;      // stage count per Q stage
constexpr int kSmemBar = kSmemItem + kQStages * 8;
constexpr int kNumBars = 2 * kQStages + 2 * kStages;
constexpr int kSmemAlloc = kSmemBar + kNumBars * 8 + 1024;  // + slack to align to 1024
static_assert(kSmemScale % 128 == 0, "TMA writes k_scale slots at 128-byte-aligned offsets");
static_assert(kSmemKV % 1024 == 0 && kPairQBytes % 1024 == 0, "swizzle atoms");
static_assert(kCtasPerSm * (kSmemAlloc + 1024) <= 228 * 1024, "kCtasPerSm CTAs per SM");
static_assert(kStages % kMathWarpgroups == 0, "a slot is always consumed by one warpgroup");

// Calls f(r0, r1) for the CTA's items in order (r1 = -1: row r0 alone). The producer and the
// math warpgroups walk the same sequence; f takes the rows' geometry itself (row_of), so that
// no geometry stays live across the item.
template <class F>
__device__ __forceinline__ void for_each_item(const HisaParams& p, bool pair_rows, F&& f) {
  for (int pr = blockIdx.x; 2 * pr < p.T; pr += gridDim.x) {
    const int ra = 2 * pr, rb = ra + 1;
    const RowGeometry ga = row_of(p, static_cast<int64_t>(p.t0) + ra);
    const bool sa = !skips_scoring(ga, p.order, p.topk);
    bool sb = false, same = false;
    if (rb < p.T) {
      const RowGeometry gb = row_of(p, static_cast<int64_t>(p.t0) + rb);
      sb = !skips_scoring(gb, p.order, p.topk);
      same = ga.ks == gb.ks;
    }
    if (pair_rows && sa && sb && same) {
      f(ra, rb);
    } else {
      if (sa) f(ra, -1);
      if (sb) f(rb, -1);
    }
  }
}

static_assert(tokens::kUnionTileKeys == kTileKeys, "the walk's tiles are the kernel's");

__global__ void __launch_bounds__(kThreads, kCtasPerSm)
    hisa_tokens_union_kernel(const __grid_constant__ CUtensorMap tmap_q,
                             const __grid_constant__ CUtensorMap tmap_k,
                             const __grid_constant__ CUtensorMap tmap_s, const HisaParams p,
                             bool pair_rows) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = sm90::aligned_base(smem_raw);
  const uint32_t base = sm90::smem_addr(smem);
  const uint32_t q_smem = base + kSmemQ, kv_smem = base + kSmemKV, w_smem = base + kSmemW;
  const uint32_t scale_smem = base + kSmemScale;
  int4* meta = reinterpret_cast<int4*>(smem + kSmemMeta);
  int* item_stages = reinterpret_cast<int*>(smem + kSmemItem);
  const MbarRings<kQStages, kStages> rings{base + kSmemBar};

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0) rings.init(1, kMathWarps, kFullArrivals, 4);  // kv_empty: a warpgroup
  __syncthreads();
  const bool has_scale = p.k_scale != nullptr;

  if (warp == kMathWarps) {  // ---- producer warp ----
    if (lane == 0) {
      prefetch_map(&tmap_q);
      prefetch_map(&tmap_k);
      if (has_scale) prefetch_map(&tmap_s);
    }
    int* l0 = reinterpret_cast<int*>(smem + kSmemList);
    int* l1 = l0 + kMaxList;
    uint32_t q_iter = 0, gs = 0;
    for_each_item(p, pair_rows, [&](int r0, int r1) {
      const RowGeometry g0 = row_of(p, static_cast<int64_t>(p.t0) + r0);
      const RowGeometry g1 = row_of(p, static_cast<int64_t>(p.t0) + (r1 >= 0 ? r1 : r0));
      const int n0 = g0.nk, n1 = r1 >= 0 ? g1.nk : 0;
      const int cv0 = g0.cvalid, cv1 = r1 >= 0 ? g1.cvalid : 0;
      const int32_t* k0 = p.kept + static_cast<int64_t>(r0) * p.m;
      const int32_t* k1 = p.kept + static_cast<int64_t>(r1 >= 0 ? r1 : r0) * p.m;
      for (int i = lane; i < n0; i += 32) l0[i] = g0.all_blocks ? i : __ldg(k0 + i);
      for (int i = lane; i < n1; i += 32) l1[i] = g1.all_blocks ? i : __ldg(k1 + i);
      __syncwarp();
      if (lane == 0) {
        int ntiles = 0;
        walk_union(l0, n0, cv0, l1, n1, cv1, p.B, g0.ks, [&](int, int, int) { ++ntiles; });
        const int qs = q_iter % kQStages;
        mbar_wait(rings.q_empty(qs), ((q_iter / kQStages) & 1) ^ 1);
        item_stages[qs] = (ntiles + 1) / 2;  // published by q_full's arrival (release)
        const uint32_t qd = q_smem + qs * kPairQBytes, wd = w_smem + qs * kPairWBytes;
        mbar_arrive_expect_tx(rings.q_full(qs), (r1 >= 0 ? 2 : 1) * (kQBytes + kWBytes));
        tma_load_2d(qd, &tmap_q, 0, r0 * kHeads, rings.q_full(qs));
        bulk_load(wd, p.w + (static_cast<int64_t>(p.t0) + r0) * kHeads, kWBytes,
                  rings.q_full(qs));
        if (r1 >= 0) {
          tma_load_2d(qd + kQBytes, &tmap_q, 0, r1 * kHeads, rings.q_full(qs));
          bulk_load(wd + kWBytes, p.w + (static_cast<int64_t>(p.t0) + r1) * kHeads, kWBytes,
                    rings.q_full(qs));
        }
        bool pending = false;
        int prow = 0, pr0 = 0, pr1 = 0;
        auto emit = [&](bool load_b, int row_b, int ref0, int ref1) {
          const int slot = gs % kStages;
          mbar_wait(rings.kv_empty(slot), ((gs / kStages) & 1) ^ 1);
          meta[slot] = make_int4(pr0, pr1, ref0, ref1);  // published by kv_full's arrival
          tokens::produce_tiles(prow, load_b, row_b, &tmap_k, &tmap_s,
                                kv_smem + slot * kStageBytes,
                                scale_smem + slot * kScaleStageFloats * 4, rings.kv_full(slot),
                                has_scale);
          ++gs;
        };
        walk_union(l0, n0, cv0, l1, n1, cv1, p.B, g0.ks, [&](int row, int ref0, int ref1) {
          if (!pending) {
            prow = row;
            pr0 = ref0;
            pr1 = ref1;
          } else {
            emit(true, row, ref0, ref1);
          }
          pending = !pending;
        });
        if (pending) emit(false, 0, 0, 0);
      }
      ++q_iter;
      __syncwarp();  // lane 0 is done with the lists before the next item overwrites them
    });
    return;
  }

  // ---- math warpgroups ----
  const int wg = warp / 4;
  const int quad = lane % 4;
  const int row = 16 * (warp % 4) + lane / 4 + 8 * (quad & 1);  // row stored by quads 0 and 1
  if (threadIdx.x == 0) {  // every row's candidate range, scored or not
    for (int pr = blockIdx.x; 2 * pr < p.T; pr += gridDim.x) {
      for (int r = 2 * pr; r < 2 * pr + 2 && r < p.T; ++r) {
        p.cand_begin[r] = 0;
        p.cand_end[r] = row_of(p, static_cast<int64_t>(p.t0) + r).cvalid;
      }
    }
  }
  const float* scales = reinterpret_cast<const float*>(smem + kSmemScale);
  float acc0[32], acc1[32];
  uint32_t q_iter = 0, gs = 0;
  for_each_item(p, pair_rows, [&](int r0, int r1) {
    const int qs = q_iter % kQStages;
    mbar_wait(rings.q_full(qs), (q_iter / kQStages) & 1);
    ++q_iter;
    const int nstages = item_stages[qs];
    const uint32_t w0_off = kSmemW + qs * kPairWBytes + 8 * quad;  // row 0's weights + 2 quad
    const uint32_t q0 = q_smem + qs * kPairQBytes;  // row 1's q: kQBytes after row 0's
    // Row r1 = r0 + 1 when paired (its scores one row below); a lone row's tiles have no
    // reference in row 1 (tile_ref 0).
    float* s0 = p.scores + static_cast<int64_t>(r0) * p.scores_ld;
    const int scale_row =  // this thread's key in a scale slot (ks as clamped by row_of)
        tokens::scale_shift(row_of(p, static_cast<int64_t>(p.t0) + r0).ks) + row;
    // A row's score of this thread's key of a finished tile (acc: that row's 64 heads; ref:
    // the tile's tile_ref in that row).
    auto finish = [&](const float(&acc)[32], const float* w, float* srow, int ref, float scale) {
      const float2 sum = sm90::key_head_sums_smem(acc, w);
      const float s = (quad & 1) ? sum.y : sum.x;
      if (quad < 2 && row < tokens::tile_ref_count(ref))
        srow[tokens::tile_ref_pos(ref) + row] = has_scale ? scale * s : s;
    };
    auto release = [&](int slot) {
      __syncwarp();
      if (lane == 0) mbar_arrive(rings.kv_empty(slot));
    };
    const int first = static_cast<int>((wg + kMathWarpgroups - gs % kMathWarpgroups) %
                                       kMathWarpgroups);
    for (int l = first; l < nstages; l += kMathWarpgroups) {
      const uint32_t gl = gs + l;
      const int slot = gl % kStages;
      mbar_wait(rings.kv_full(slot), (gl / kStages) & 1);
      const int4 mt = meta[slot];  // after the wait (its asm clobbers memory)
      // The weights are read from shared memory per tile: laundered per stage so that the
      // compiler does not hoist the 32 loads out of the loop into registers.
      uint32_t w_off = w0_off;
      asm volatile("" : "+r"(w_off));
      const float* w0 = reinterpret_cast<const float*>(smem + w_off);
      const uint32_t keys = kv_smem + slot * kStageBytes;
      // Read before the slot is released (the producer's next TMA overwrites it).
      const float* stage_scales = scales + slot * kScaleStageFloats + scale_row;
      const float scale_a = has_scale ? stage_scales[0] : 1.0f;
      const float scale_b = has_scale ? stage_scales[kScaleTileFloats] : 1.0f;
      // The stage's products, (tile, row) = index 2 * tile + row in 0..3, for every tile_ref
      // that is not 0; uniform over the warpgroup (one record per slot), broadcast so that the
      // compiler sees the loop around the wgmmas as uniform. They run two at a time as two
      // m64n64 products, the second under the first's epilogue (a lone last product is paired
      // with a repeat of itself whose results are not stored).
      int rest = __shfl_sync(0xFFFFFFFFu,
                             (mt.x != 0) | (mt.y != 0) << 1 | (mt.z != 0) << 2 | (mt.w != 0) << 3,
                             0);
      const int ngroups = (__popc(rest) + 1) / 2;
      auto ref_of = [&](int i) {
        return i == 0 ? mt.x : i == 1 ? mt.y : i == 2 ? mt.z : i == 3 ? mt.w : 0;
      };
      auto product_finish = [&](const float(&acc)[32], int i) {
        const int r = i & 1;
        finish(acc, w0 + r * kHeads, s0 + r * p.scores_ld, ref_of(i),
               (i >> 1 & 1) ? scale_b : scale_a);
      };
      for (int gi = 0; gi < ngroups; ++gi) {
        const int ia = __ffs(rest) - 1;
        rest &= rest - 1;
        const int ib = rest != 0 ? __ffs(rest) - 1 : 4 + ia;  // 4 + ia: the repeat
        rest &= rest - 1;
        sm90::fence_operand(acc0);
        sm90::fence_operand(acc1);
        sm90::wgmma_fence();
        sm90::wgmma_k128_e4m3(acc0, keys + (ia >> 1) * kTileBytes, q0 + (ia & 1) * kQBytes);
        sm90::wgmma_k128_e4m3(acc1, keys + (ib >> 1 & 1) * kTileBytes, q0 + (ib & 1) * kQBytes);
        sm90::wgmma_wait<1>();
        sm90::fence_operand(acc0);
        product_finish(acc0, ia);
        sm90::wgmma_wait<0>();
        sm90::fence_operand(acc1);
        if (gi + 1 == ngroups) release(slot);
        product_finish(acc1, ib);
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

}  // namespace

bool sm90_union_tokens_supported(const HisaParams& p) {
  if (!sm90_tma_tokens_supported(p) || p.B < 1 || most_kept_blocks(p) > kMaxList) return false;
  return sm90a_kernel_ready(reinterpret_cast<const void*>(hisa_tokens_union_kernel));
}

void launch_sm90_union_tokens(const HisaParams& p, cudaStream_t st, bool pair_rows) {
  if (p.T == 0) return;
  const tokens::LaunchInputs in =
      tokens::launch_inputs(p, "union tokens", sm90_union_tokens_supported(p));
  const std::string& ctx = in.ctx;
  const void* fn = reinterpret_cast<const void*>(hisa_tokens_union_kernel);
  HISA_CUDA_CHECK_CTX(
      cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemAlloc), ctx);
  const int sms = current_device_properties().multiProcessorCount;
  const int64_t pairs = (static_cast<int64_t>(p.T) + 1) / 2;
  const int grid = static_cast<int>(std::min<int64_t>(pairs, int64_t{kCtasPerSm} * sms));
  CUtensorMap map_q = in.map_q, map_k = in.map_k, map_s = in.map_s;
  HisaParams par = p;
  bool pairs_on = pair_rows;
  void* args[] = {&map_q, &map_k, &map_s, &par, &pairs_on};
  HISA_CUDA_CHECK_CTX(cudaLaunchKernel(fn, dim3(grid), dim3(kThreads), args, kSmemAlloc, st),
                      ctx);
  HISA_CUDA_CHECK_LAUNCH("hisa_tokens_union_kernel", ctx);
}

}  // namespace hisa::cuda
