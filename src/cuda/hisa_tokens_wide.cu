// Two-pass HISA stage 2a, "epilogue" shape (opt-in: HISA_TOKENS_EPI=1 or hisa_set_tokens_epi):
// the structure of the wide flat scorer (flat_score_wide.cu) on hisa_tokens_tma.cu's work. One
// CTA per SM: a producer warp (the same stage loads, hisa_tokens_producer.cuh), four math
// warpgroups at 96 registers (setmaxnreg) and an epilogue warpgroup.
//   * Math warpgroup g takes the stages with global index gl = g (mod 4): both 64-key tiles
//     against the query, the second tile's wgmmas in flight while the first is reduced. The
//     query's 16 weights a thread needs stay in registers; each thread writes its two keys'
//     partial head sums (key_head_partials_of) and quads 0/1 the keys' k_scale to an epilogue
//     slot. No shuffles, no global stores on the math warps.
//   * The epilogue warpgroup walks the stages in order, one key per thread: the 4 partials in
//     the quad-sum order of key_head_sums_of, times k_scale, stored to scores[r, pos] for
//     pos < cvalid (consecutive positions per warp), and the rows' cand_begin / cand_end.
// Same products, same sums, same order: the scores are bitwise those of hisa_tokens_tma.cu.
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
constexpr int kMathWarpgroups = 4;
constexpr int kMathThreads = 128 * kMathWarpgroups;
constexpr int kMathWarps = kMathThreads / 32;
constexpr int kEpiThreads = 128;
constexpr int kThreads = kMathThreads + kEpiThreads + 128;  // + the producer warpgroup
constexpr int kMathRegs = 96;  // 512 x 96 + 256 x 40 = 59392 <= 768 x 80
constexpr int kOtherRegs = 40;
// setmaxnreg moves registers only inside the CTA's own allocation (the launch's 65536 / 768,
// rounded down to 8, = 80 per thread): a larger total makes the math warpgroups' increase wait
// forever (seen on an H100 as a hang).
static_assert(kMathThreads * kMathRegs + (kThreads - kMathThreads) * kOtherRegs <=
                  kThreads * (65536 / kThreads / 8 * 8),
              "register reallocation within the CTA's allocation");
constexpr int kStages = 8;      // key ring (a multiple of the warpgroups: slot owner = gl % 4)
constexpr int kEpiStages = 8;
constexpr int kQStages = 2;
// Epilogue slot: per key of a stage, 4 partials + its k_scale (stride 5: conflict-free reads).
constexpr int kEpiStride = 5;
constexpr int kEpiFloats = kStageKeys * kEpiStride;
static_assert(kStages % kMathWarpgroups == 0, "a ring slot is always consumed by one warpgroup");
static_assert(kStageKeys == kEpiThreads, "one epilogue thread per key of a stage");

constexpr int kSmemQ = 0;
constexpr int kSmemKV = kSmemQ + kQStages * kQBytes;
constexpr int kSmemScale = kSmemKV + kStages * kStageBytes;
constexpr int kSmemW = kSmemScale + kStages * tokens::kScaleStageFloats * 4;
static_assert(kSmemScale % 128 == 0, "TMA writes k_scale slots at 128-byte-aligned offsets");
constexpr int kSmemEpi = kSmemW + kQStages * kWBytes;
constexpr int kSmemBar = kSmemEpi + kEpiStages * kEpiFloats * 4;
constexpr int kNumBars = 2 * kQStages + 2 * kStages + 2 * kEpiStages;
constexpr int kSmemAlloc = kSmemBar + kNumBars * 8 + 1024;  // + slack to align to 1024
static_assert(kSmemAlloc <= 227 * 1024, "one CTA per SM");

__global__ void __launch_bounds__(kThreads, 1)
    hisa_tokens_wide_kernel(const __grid_constant__ CUtensorMap tmap_q,
                            const __grid_constant__ CUtensorMap tmap_k,
                            const __grid_constant__ CUtensorMap tmap_s, const HisaParams p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw = sm90::smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  unsigned char* smem = smem_raw + (base - raw);
  const uint32_t q_smem = base + kSmemQ, kv_smem = base + kSmemKV, w_smem = base + kSmemW;
  const uint32_t scale_smem = base + kSmemScale, bars = base + kSmemBar;
  const MbarRings<kQStages, kStages, kEpiStages> rings{bars};
  float* epi = reinterpret_cast<float*>(smem + kSmemEpi);

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0)  // kv_empty: the consuming warpgroup's warps; epi_full: its threads
    rings.init(1, kMathWarps, kFullArrivals, 4, 128, kEpiThreads);
  __syncthreads();
  const bool has_scale = p.k_scale != nullptr;

  if (threadIdx.x >= kMathThreads + kEpiThreads) {
    // ---- producer: the first warp of the last warpgroup ----
    sm90::setmaxnreg_dec<kOtherRegs>();
    if (warp != (kMathThreads + kEpiThreads) / 32) return;
    tokens::produce_rows(p, &tmap_q, &tmap_k, &tmap_s, q_smem, w_smem, kv_smem, scale_smem, rings,
                         lane);
    return;
  }

  if (threadIdx.x >= kMathThreads) {
    // ---- epilogue warpgroup: one key of each stage per thread ----
    sm90::setmaxnreg_dec<kOtherRegs>();
    const int e = threadIdx.x - kMathThreads;
    uint32_t gs = 0;
    for (int r = blockIdx.x; r < p.T; r += gridDim.x) {
      const int64_t t = static_cast<int64_t>(p.t0) + r;
      const RowGeometry g = row_of(p, t);
      if (e == 0) {
        p.cand_begin[r] = 0;
        p.cand_end[r] = g.cvalid;
      }
      if (skips_scoring(g, p.order, p.topk)) continue;
      float* scores_row = p.scores + static_cast<int64_t>(r) * p.scores_ld;
      const int nstages = (g.cvalid + kStageKeys - 1) / kStageKeys;
      for (int l = 0; l < nstages; ++l, ++gs) {
        const int es = gs % kEpiStages;
        mbar_wait(rings.epi_full(es), (gs / kEpiStages) & 1);
        const float* slot = epi + es * kEpiFloats + e * kEpiStride;
        const float s = (slot[0] + slot[1]) + (slot[2] + slot[3]);
        const float scale = slot[4];
        mbar_arrive(rings.epi_empty(es));
        const int pos = l * kStageKeys + e;
        if (pos < g.cvalid) scores_row[pos] = has_scale ? scale * s : s;
      }
    }
    return;
  }

  // ---- math warpgroups ----
  sm90::setmaxnreg_inc<kMathRegs>();
  const int wg = warp / 4;
  const int quad = lane % 4;
  const int r0 = 16 * (warp % 4) + lane / 4;  // the thread's key rows r0, r0 + 8 of each tile
  const float* scales = reinterpret_cast<const float*>(smem + kSmemScale);
  float acc_a[32], acc_b[32], wv[16];
  uint32_t q_iter = 0, gs = 0;
  for (int r = blockIdx.x; r < p.T; r += gridDim.x) {
    const int64_t t = static_cast<int64_t>(p.t0) + r;
    const RowGeometry g = row_of(p, t);
    if (skips_scoring(g, p.order, p.topk)) continue;
    const int qs = q_iter % kQStages;
    mbar_wait(rings.q_full(qs), (q_iter / kQStages) & 1);
    ++q_iter;
    const float* wq = reinterpret_cast<const float*>(smem + kSmemW + qs * kWBytes) + 2 * quad;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float2 w2 = *reinterpret_cast<const float2*>(wq + 8 * i);
      wv[2 * i] = w2.x;
      wv[2 * i + 1] = w2.y;
    }
    const uint32_t q_tile = q_smem + qs * kQBytes;
    const int nstages = (g.cvalid + kStageKeys - 1) / kStageKeys;
    for (int l = 0; l < nstages; ++l) {
      const uint32_t gl = gs + l;
      if (static_cast<int>(gl % kMathWarpgroups) != wg) continue;
      const int slot = gl % kStages, es = gl % kEpiStages;
      mbar_wait(rings.kv_full(slot), (gl / kStages) & 1);
      const uint32_t keys = kv_smem + slot * kStageBytes;
      sm90::fence_operand(acc_a);
      sm90::fence_operand(acc_b);
      sm90::wgmma_fence();
      sm90::wgmma_k128_e4m3(acc_a, keys, q_tile);
      sm90::wgmma_k128_e4m3(acc_b, keys + kTileBytes, q_tile);
      // The keys' scales travel with the partials (the ring slot is reused before the
      // epilogue runs): quad member 0 copies row r0's, member 1 row r0 + 8's, of both tiles.
      const int srow = r0 + 8 * (quad & 1);
      float scale_a = 1.0f, scale_b = 1.0f;
      if (has_scale && quad < 2) {
        const float* stage_scales =
            scales + slot * tokens::kScaleStageFloats + tokens::scale_shift(g.ks) + srow;
        scale_a = stage_scales[0];
        scale_b = stage_scales[tokens::kScaleTileFloats];
      }
      mbar_wait(rings.epi_empty(es), ((gl / kEpiStages) & 1) ^ 1);
      float* out = epi + es * kEpiFloats;

      sm90::wgmma_wait<1>();
      sm90::fence_operand(acc_a);
      const float2 pa = sm90::key_head_partials_of(
          acc_a, [&](int i) { return make_float2(wv[2 * i], wv[2 * i + 1]); });
      out[r0 * kEpiStride + quad] = pa.x;
      out[(r0 + 8) * kEpiStride + quad] = pa.y;
      if (quad < 2) out[srow * kEpiStride + 4] = scale_a;

      sm90::wgmma_wait<0>();
      sm90::fence_operand(acc_b);
      __syncwarp();
      if (lane == 0) mbar_arrive(rings.kv_empty(slot));
      const float2 pb = sm90::key_head_partials_of(
          acc_b, [&](int i) { return make_float2(wv[2 * i], wv[2 * i + 1]); });
      out[(kTileKeys + r0) * kEpiStride + quad] = pb.x;
      out[(kTileKeys + r0 + 8) * kEpiStride + quad] = pb.y;
      if (quad < 2) out[(kTileKeys + srow) * kEpiStride + 4] = scale_b;
      mbar_arrive(rings.epi_full(es));
    }
    gs += nstages;
    __syncwarp();
    if (lane == 0) mbar_arrive(rings.q_empty(qs));
  }
#endif  // __CUDA_ARCH_FEAT_SM90_ALL
}

}  // namespace

bool sm90_wide_tokens_supported(const HisaParams& p) {
  return sm90_tma_tokens_supported(p) &&
         sm90a_kernel_ready(reinterpret_cast<const void*>(&hisa_tokens_wide_kernel));
}

void launch_sm90_wide_tokens(const HisaParams& p, cudaStream_t st) {
  if (p.T == 0) return;
  const tokens::LaunchInputs in =
      tokens::launch_inputs(p, "wide tokens", sm90_wide_tokens_supported(p));
  const std::string& ctx = in.ctx;
  HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(&hisa_tokens_wide_kernel,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemAlloc),
                      ctx);
  const int sms = current_device_properties().multiProcessorCount;
  const int grid = static_cast<int>(std::min<int64_t>(p.T, sms));
  hisa_tokens_wide_kernel<<<grid, kThreads, kSmemAlloc, st>>>(in.map_q, in.map_k, in.map_s, p);
  HISA_CUDA_CHECK_LAUNCH("hisa_tokens_wide_kernel", ctx);
}

}  // namespace hisa::cuda
