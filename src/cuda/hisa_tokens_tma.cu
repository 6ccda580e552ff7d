// Two-pass HISA stage 2a on sm_90a with the flat scorer's structure (flat_score_wgmma.cu):
// a producer warp streams each query's kept-block key tiles by TMA into a ring while two math
// warpgroups multiply them. Same contract as sm90_tokens_kernel's kGlobal mode (hisa_sm90.cu):
// row r of the chunk gets cand_begin[r] = 0, cand_end[r] = cvalid and, unless index order
// selects every candidate, scores[r * scores_ld + pos] for every candidate position
// pos < cvalid (pos = i * B + offset in kept block i). The arithmetic is that kernel's, so the
// scores are bitwise the same: the same wgmma m64n64k32 e4m3 (64 key rows on M, the query's
// 64 heads on N, K = 128 in four steps) and the same epilogue (key_head_sums, x k_scale).
//
//   * Persistent grid (2 CTAs per SM); CTA c takes rows c, c + grid, ... One query per item.
//   * Producer warp: per item, the query's q (64 x 128 B, TMA, 128B swizzle) and weights
//     (bulk copy) into one of 2 Q stages; per stage of 128 candidate positions two TMA boxes of
//     64 key rows (a box never crosses a kept block: B % 64 == 0) and their k_scale values
//     (a tensor map of one row; per tile a box of 68 from the 16-byte-aligned row at or below
//     it) into a 4-slot ring. The producer walks the kept blocks by addition (no division per
//     position) with the next 32 kept blocks prefetched.
//   * Math warpgroup g takes the stages with global index parity g: both 64-key tiles of the
//     stage against the query (two accumulator sets), the second tile's MMA running while the
//     first tile's epilogue reduces it. Four math warpgroups per SM interleave tensor-core work
//     and epilogues.
// Supported: FP8 e4m3, H = 64, D = 128, B % 64 == 0, own kept blocks (not MISA lists, not
// shared_candidates), 16-byte aligned q, k, w and k_scale; hisa_select falls back to the
// one-warpgroup kernel otherwise.
#include <cuda.h>

#include <string>

#include "cuda/common.cuh"
#include "cuda/hisa_launch.cuh"
#include "cuda/hisa_sm90_tile.cuh"
#include "cuda/hisa_tokens_producer.cuh"
#include "cuda/sm90_tma.cuh"
#include "cuda/tensor_map.hpp"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

using namespace tma;

using tokens::kDim;
using tokens::kFullArrivals;
using tokens::kHeads;
using tokens::kQBytes;
using tokens::kStageBytes;
using tokens::kStageKeys;
using tokens::kTileBytes;
using tokens::kTileKeys;
using tokens::kWBytes;
using tokens::skips_scoring;

// One kernel shape: WG math warpgroups per CTA, CTAS CTAs per SM, a ring of S key stages
// (slot parity = consuming warpgroup) and QS query stages, weights in registers or read from
// shared memory per tile. Default: 2 warpgroups, 2 CTAs per SM, S = 4, QS = 2, weights in
// shared memory. HISA_TOKENS_SHAPE=1 and HISA_TOKENS_WREGS=1 (A/B switches) take one CTA
// per SM with 4 warpgroups and a 12-stage ring (twice the key bytes in flight per SM) and
// the weights in registers.
template <int WG, int CTAS, int S, int QS, bool WREGS, int P = 1, bool STREAM = false>
struct Shape {
  // Stages go to the warpgroups by global index and to the slots by index mod S: a slot may
  // be consumed by either warpgroup (kv_empty counts one warpgroup's warps), and a warpgroup
  // waiting for stage x finished x - WG, so the producer has filled x - WG >= x - S: the slot's
  // phase parity cannot alias for any S >= WG.
  static_assert(S >= WG, "a warpgroup never waits more than one phase ahead of its slot");
  static constexpr int kMathWarpgroups = WG, kCtasPerSm = CTAS, kStages = S, kQStages = QS;
  static constexpr bool kWRegs = WREGS;
  static constexpr int kProducers = P;
  // Scores stored with the evict-first hint (st.global.cs), so that the 16 KB a stage writes
  // do not push the key tiles other queries reuse out of L2.
  static constexpr bool kStreamStores = STREAM;
  static constexpr int kMathWarps = 4 * WG;
  static constexpr int kThreads = 32 * kMathWarps + 32 * P;  // + the producer warps
  static constexpr int kSmemQ = 0;
  static constexpr int kSmemKV = kSmemQ + QS * kQBytes;
  static constexpr int kSmemScale = kSmemKV + S * kStageBytes;
  static constexpr int kSmemW = kSmemScale + S * tokens::kScaleStageFloats * 4;
  static_assert(kSmemScale % 128 == 0, "TMA writes k_scale slots at 128-byte-aligned offsets");
  static constexpr int kSmemBar = kSmemW + QS * kWBytes;
  static constexpr int kNumBars = 2 * QS + 2 * S;
  static constexpr int kSmemAlloc = kSmemBar + kNumBars * 8 + 1024;  // + slack to align to 1024
  static_assert(CTAS * (kSmemAlloc + 1024) <= 228 * 1024, "CTAS CTAs per SM");
};
// The weights' placement gives the same products in the same order, so the same bits.
template <class R>
__global__ void __launch_bounds__(R::kThreads, R::kCtasPerSm)
    hisa_tokens_tma_kernel(const __grid_constant__ CUtensorMap tmap_q,
                           const __grid_constant__ CUtensorMap tmap_k,
                           const __grid_constant__ CUtensorMap tmap_s, const HisaParams p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int kStages = R::kStages, kQStages = R::kQStages, kMathWarps = R::kMathWarps;
  constexpr int kMathWarpgroups = R::kMathWarpgroups;
  constexpr bool kWRegs = R::kWRegs;
  constexpr int kSmemQ = R::kSmemQ, kSmemKV = R::kSmemKV, kSmemScale = R::kSmemScale;
  constexpr int kSmemW = R::kSmemW, kSmemBar = R::kSmemBar;
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw = sm90::smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  unsigned char* smem = smem_raw + (base - raw);
  const uint32_t q_smem = base + kSmemQ, kv_smem = base + kSmemKV, w_smem = base + kSmemW;
  const uint32_t scale_smem = base + kSmemScale, bars = base + kSmemBar;
  const MbarRings<kQStages, kStages> rings{bars};

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0) rings.init(1, kMathWarps, kFullArrivals, 4);  // kv_empty: a warpgroup
  __syncthreads();
  const bool has_scale = p.k_scale != nullptr;

  if (warp >= kMathWarps) {  // ---- producer warps ----
    tokens::produce_rows<R::kProducers>(p, &tmap_q, &tmap_k, &tmap_s, q_smem, w_smem, kv_smem,
                                        scale_smem, rings, lane, warp - kMathWarps);
    return;
  }

  // ---- math warpgroups ----
  const int wg = warp / 4;
  const int quad = lane % 4;
  const int row = 16 * (warp % 4) + lane / 4 + 8 * (quad & 1);  // row stored by quads 0 and 1
  const float* scales = reinterpret_cast<const float*>(smem + kSmemScale);
  float acc_a[32], acc_b[32];
  uint32_t q_iter = 0, gs = 0;
  for (int r = blockIdx.x; r < p.T; r += gridDim.x) {
    const int64_t t = static_cast<int64_t>(p.t0) + r;
    const RowGeometry g = row_of(p, t);
    if (threadIdx.x == 0) {
      p.cand_begin[r] = 0;
      p.cand_end[r] = g.cvalid;
    }
    if (skips_scoring(g, p.order, p.topk)) continue;
    const int qs = q_iter % kQStages;
    mbar_wait(rings.q_full(qs), (q_iter / kQStages) & 1);
    ++q_iter;
    // The weights stay in shared memory (registers hold the two accumulator sets).
    const float* wq = reinterpret_cast<const float*>(smem + kSmemW + qs * kWBytes) + 2 * quad;
    float wv[16];
    if constexpr (kWRegs) {
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const float2 w2 = *reinterpret_cast<const float2*>(wq + 8 * i);
        wv[2 * i] = w2.x;
        wv[2 * i + 1] = w2.y;
      }
    }
    const uint32_t q_tile = q_smem + qs * kQBytes;
    float* scores_row = p.scores + static_cast<int64_t>(r) * p.scores_ld;
    const int nstages = (g.cvalid + kStageKeys - 1) / kStageKeys;
    const int scale_row = tokens::scale_shift(g.ks) + row;  // this thread's key in a scale slot
    // This warpgroup's stages: those with a global index gs + l of parity wg (mod WG).
    const int first = tokens::first_own_stage(wg, gs, kMathWarpgroups);
    for (int l = first; l < nstages; l += kMathWarpgroups) {
      const uint32_t gl = gs + l;
      const int slot = gl % kStages;
      mbar_wait(rings.kv_full(slot), (gl / kStages) & 1);
      const uint32_t keys = kv_smem + slot * kStageBytes;
      sm90::fence_operand(acc_a);
      sm90::fence_operand(acc_b);
      sm90::wgmma_fence();
      sm90::wgmma_k128_e4m3(acc_a, keys, q_tile);
      sm90::wgmma_k128_e4m3(acc_b, keys + kTileBytes, q_tile);
      const int pos_a = l * kStageKeys + row, pos_b = pos_a + kTileKeys;
      const float* stage_scales = scales + slot * tokens::kScaleStageFloats + scale_row;
      const float scale_a = has_scale ? stage_scales[0] : 1.0f;
      const float scale_b = has_scale ? stage_scales[tokens::kScaleTileFloats] : 1.0f;
      auto store = [&](int pos, float s, float scale) {  // evict-first under kStreamStores
        const float v = has_scale ? scale * s : s;
        if constexpr (R::kStreamStores) __stcs(&scores_row[pos], v);
        else scores_row[pos] = v;
      };
      sm90::wgmma_wait<1>();
      sm90::fence_operand(acc_a);
      {
        const float2 sum =
            kWRegs ? sm90::key_head_sums(acc_a, wv) : sm90::key_head_sums_smem(acc_a, wq);
        const float s = (quad & 1) ? sum.y : sum.x;
        if (quad < 2 && pos_a < g.cvalid) store(pos_a, s, scale_a);
      }
      sm90::wgmma_wait<0>();
      sm90::fence_operand(acc_b);
      __syncwarp();
      if (lane == 0) mbar_arrive(rings.kv_empty(slot));
      {
        const float2 sum =
            kWRegs ? sm90::key_head_sums(acc_b, wv) : sm90::key_head_sums_smem(acc_b, wq);
        const float s = (quad & 1) ? sum.y : sum.x;
        if (quad < 2 && pos_b < g.cvalid) store(pos_b, s, scale_b);
      }
    }
    gs += nstages;
    __syncwarp();
    if (lane == 0) mbar_arrive(rings.q_empty(qs));
  }
#endif  // __CUDA_ARCH_FEAT_SM90_ALL
}

using ShapeDefault = Shape<2, 2, 4, 2, false>;
using ShapeDefaultW = Shape<2, 2, 4, 2, true>;
using ShapeWide = Shape<4, 1, 12, 2, false>;
using ShapeWideW = Shape<4, 1, 12, 2, true>;
using ShapeTwoProducersW = Shape<2, 2, 4, 2, true, 2>;
using ShapeStreamStoresW = Shape<2, 2, 4, 2, true, 1, true>;
// Deeper rings (HISA_TOKENS_STAGES=5 / 6; the union pair kernel's profile showed the math warps
// waiting for full slots on 19% of the stall samples with L2 at 40% of its peak): 5 slots with
// two query stages, 6 with one (two CTAs per SM must still fit).
using ShapeDeep5W = Shape<2, 2, 5, 2, true>;
using ShapeDeep6W = Shape<2, 2, 6, 1, true>;

struct Variant {
  const void* fn;
  int threads, smem, ctas_per_sm;
};
template <class R>
Variant variant_of() {
  return {reinterpret_cast<const void*>(hisa_tokens_tma_kernel<R>), R::kThreads, R::kSmemAlloc,
          R::kCtasPerSm};
}
// The kernel chosen by HISA_TOKENS_SHAPE (default 0) / HISA_TOKENS_WREGS (default 1) /
// HISA_TOKENS_TWO_PRODUCERS (default 0; 1: two producer warps taking alternate stages, the
// default shape with the weights in registers) / HISA_TOKENS_STREAM_STORES (default 0; 1: the
// default shape with evict-first score stores: stage 2a costs 1.6x more per candidate pair at
// 128K than at 32K on the H100, bda9736, and its key tiles may be evicted by the score
// stream) / HISA_TOKENS_STAGES (default 4; 5 or 6: the deeper rings above, weights in
// registers). A/B switches.
Variant tokens_variant(bool wide, bool wregs, bool two_producers, bool stream_stores,
                       int stages = 4) {
  if (stages == 5) return variant_of<ShapeDeep5W>();
  if (stages == 6) return variant_of<ShapeDeep6W>();
  if (two_producers) return variant_of<ShapeTwoProducersW>();
  if (stream_stores) return variant_of<ShapeStreamStoresW>();
  if (wide) return wregs ? variant_of<ShapeWideW>() : variant_of<ShapeWide>();
  return wregs ? variant_of<ShapeDefaultW>() : variant_of<ShapeDefault>();
}

}  // namespace

bool sm90_tma_tokens_supported(const HisaParams& p) {
  if (p.dtype != DType::fp8_e4m3 || p.H != kHeads || p.D != kDim) return false;
  if (p.B % kTileKeys != 0 || p.lists || p.shared_tiles || p.stream_cap > 0) return false;
  if (!aligned16(p.q) || !aligned16(p.k) || !aligned16(p.w)) return false;
  if (p.k_scale != nullptr && !aligned16(p.k_scale)) return false;
  return sm90a_kernel_ready(tokens_variant(false, false, false, false).fn) &&
         tensor_maps_available();
}

namespace tokens {
LaunchInputs launch_inputs(const HisaParams& p, const char* what, bool supported) {
  LaunchInputs in;
  in.ctx = std::string("HISA two-pass ") + what + " T=" + std::to_string(p.T) +
           " t0=" + std::to_string(p.t0) + " S=" + std::to_string(p.S) +
           " B=" + std::to_string(p.B) + " m=" + std::to_string(p.m);
  if (!supported || p.scores == nullptr)
    throw BackendError(std::string("internal: the ") + what +
                       " kernel does not take this problem [" + in.ctx + "]");
  if (static_cast<int64_t>(p.T) * kHeads >= INT32_MAX)
    throw BackendError(std::string("HISA ") + what + ": chunk too large [" + in.ctx + "]");
  const unsigned char* q0 =
      static_cast<const unsigned char*>(p.q) + static_cast<int64_t>(p.t0) * kHeads * kDim;
  in.map_q = rows_map(q0, static_cast<int64_t>(p.T) * kHeads, kHeads, in.ctx);
  in.map_k = rows_map(p.k, p.S, kTileKeys, in.ctx);
  in.map_s = p.k_scale != nullptr
                 ? floats_map(p.k_scale, p.S, tokens::kScaleBoxFloats, in.ctx)
                 : in.map_k;
  return in;
}
}  // namespace tokens

void launch_sm90_tma_tokens(const HisaParams& p, cudaStream_t st) {
  if (p.T == 0) return;
  const tokens::LaunchInputs in =
      tokens::launch_inputs(p, "TMA tokens", sm90_tma_tokens_supported(p));
  const std::string& ctx = in.ctx;
  const CUtensorMap &map_q = in.map_q, &map_k = in.map_k, &map_s = in.map_s;
  static const Variant v =
      tokens_variant(env_switch("HISA_TOKENS_SHAPE") == 1, env_switch("HISA_TOKENS_WREGS") != 0,
                     env_switch("HISA_TOKENS_TWO_PRODUCERS") == 1,
                     env_switch("HISA_TOKENS_STREAM_STORES") == 1,
                     env_choice("HISA_TOKENS_STAGES", {4, 5, 6}, 4));
  HISA_CUDA_CHECK_CTX(
      cudaFuncSetAttribute(v.fn, cudaFuncAttributeMaxDynamicSharedMemorySize, v.smem), ctx);
  const int sms = current_device_properties().multiProcessorCount;
  const int grid = static_cast<int>(std::min<int64_t>(p.T, int64_t{v.ctas_per_sm} * sms));
  void* args[] = {const_cast<CUtensorMap*>(&map_q), const_cast<CUtensorMap*>(&map_k),
                  const_cast<CUtensorMap*>(&map_s), const_cast<HisaParams*>(&p)};
  HISA_CUDA_CHECK_CTX(cudaLaunchKernel(v.fn, dim3(grid), dim3(v.threads), args, v.smem, st), ctx);
  HISA_CUDA_CHECK_LAUNCH("hisa_tokens_tma_kernel", ctx);
}

}  // namespace hisa::cuda
