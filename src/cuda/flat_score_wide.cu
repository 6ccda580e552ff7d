// sm_90a FP8 flat scorer, "wide" shape (FlatScorer::wgmma_wide; issue #13): one CTA per SM with
// four math warpgroups, an epilogue warpgroup and a producer warpgroup, registers moved to the
// math warpgroups with setmaxnreg. Same work plan and head-sum chain (flat_score_sm90.cuh) as
// flat_score_wgmma.cu, so its logits are bitwise equal to that scorer's; what changes is where
// the non-tensor work runs (the profile in docs/cuda_backend.md: the two-CTA kernel is
// issue-bound, 1.66 warp instructions per tensor-active cycle).
//   * Producer (one thread): TMA copies of the pair's q rows (16 KiB) + weights into one of 2 Q
//     stages, then key blocks of 256 keys x 128 B (32 KiB) into a 4-stage ring.
//   * Math warpgroups (104 registers each): 64 keys of a block each, 4 x wgmma m64n64k32 per
//     query, the second query's wgmmas in flight while the first is reduced. The 2 x 16 head
//     weights a thread needs stay in registers for the whole item (no shared reloads); each
//     thread sums relu(acc) * w over its 16 heads and stores that partial to a shared
//     epilogue stage: no shuffles, no scale loads, no range masks, no global stores here.
//   * Epilogue warpgroup: per key, the 4 partials of each query (summed in the order of the
//     two-CTA kernel's butterfly), times k_scale, masked to the row's [ks, ke), stored to the
//     logits row (consecutive keys per warp: coalesced).
// The structure follows DeepGEMM's sm90 fp8_mqa_logits (read, not copied).
#include <string>

#include "cuda/common.cuh"
#include "cuda/flat_pair_scorer.cuh"
#include "cuda/flat_score.cuh"
#include "cuda/flat_score_sm90.cuh"
#include "cuda/hisa_wgmma.cuh"
#include "cuda/sm90_tma.cuh"
#include "cuda/tensor_map.hpp"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

using namespace tma;
using namespace sm90;

constexpr int kHeads = kPairHeads;
constexpr int kDim = kPairDim;
constexpr int kMathWarpgroups = 4;
constexpr int kMathThreads = 128 * kMathWarpgroups;
constexpr int kMathWarps = kMathThreads / 32;
constexpr int kEpiThreads = 128;
constexpr int kThreads = kMathThreads + kEpiThreads + 128;  // + the producer warpgroup
constexpr int kMathRegs = 104;  // 512 x 104 + 256 x 32 = 61440 = 768 x 80
constexpr int kOtherRegs = 32;
// setmaxnreg moves registers only inside the CTA's own allocation (the launch's 65536 / 768,
// rounded down to 8, = 80 per thread): a larger total makes the math warpgroups' increase wait
// forever (seen on an H100 as a hang).
static_assert(kMathThreads * kMathRegs + (kThreads - kMathThreads) * kOtherRegs <=
                  kThreads * (65536 / kThreads / 8 * 8),
              "register reallocation within the CTA's allocation");
constexpr int kBlockKV = 64 * kMathWarpgroups;
constexpr int kKVStages = 4;
constexpr int kEpiStages = 4;
constexpr int kQStages = 2;
constexpr int kQBytes = kPairQBytes;
constexpr int kWBytes = kPairWBytes;
constexpr int kKVBytes = kBlockKV * kDim;
// Epilogue stage: per key, 2 queries x 4 partials (one per lane of a quad) + 1 pad float, so
// the epilogue's per-key reads (stride 9 floats) hit 32 different banks.
constexpr int kEpiStride = 9;
constexpr int kEpiBytes = kBlockKV * kEpiStride * 4;
static_assert(kSegKeys % kBlockKV == 0, "items hold whole key blocks");
static_assert(kBlockKV == 2 * kEpiThreads, "each epilogue thread owns two keys of a block");

constexpr int kSmemQ = 0;
constexpr int kSmemKV = kSmemQ + kQStages * kQBytes;
constexpr int kSmemW = kSmemKV + kKVStages * kKVBytes;
constexpr int kSmemEpi = kSmemW + kQStages * kWBytes;
constexpr int kSmemBar = kSmemEpi + kEpiStages * kEpiBytes;
constexpr int kNumBars = 2 * kQStages + 2 * kKVStages + 2 * kEpiStages;
constexpr int kSmemBytes = kSmemBar + kNumBars * 8;
constexpr int kSmemAlloc = kSmemBytes + 1024;  // slack to align the base to 1024
static_assert(kSmemAlloc <= 227 * 1024, "one CTA per SM");

__global__ void __launch_bounds__(kThreads, 1)
    flat_score_wide_kernel(const __grid_constant__ CUtensorMap tmap_q,
                           const __grid_constant__ CUtensorMap tmap_k, WgArgs a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  unsigned char* smem = smem_raw + (base - raw);
  const uint32_t q_smem = base + kSmemQ, kv_smem = base + kSmemKV, w_smem = base + kSmemW;
  const uint32_t bars = base + kSmemBar;
  const MbarRings<kQStages, kKVStages, kEpiStages> rings{bars};
  float* epi = reinterpret_cast<float*>(smem + kSmemEpi);

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0)  // epi_full: every math thread arrives, so its stores are released
    rings.init(1, kMathWarps, 1, kMathWarps, kMathThreads, kEpiThreads);
  __syncthreads();
  const int32_t total = a.offsets[a.npairs];

  if (threadIdx.x >= kMathThreads + kEpiThreads) {
    // ---- producer warpgroup: one thread issues every TMA copy ----
    setmaxnreg_dec<kOtherRegs>();
    if (threadIdx.x == kMathThreads + kEpiThreads)
      produce_pair_items<kBlockKV>(a, total, &tmap_q, &tmap_k, q_smem, w_smem, kv_smem, rings);
    return;
  }

  if (threadIdx.x >= kMathThreads) {
    // ---- epilogue warpgroup: sum partials, scale, mask, store ----
    setmaxnreg_dec<kOtherRegs>();
    const int e = threadIdx.x - kMathThreads;
    float* logits = static_cast<float*>(a.logits);
    uint32_t epi_iter = 0;
    for (int64_t item = blockIdx.x; item < total; item += gridDim.x) {
      const ItemInfo it = locate_item<kBlockKV>(a, item);
      const int64_t ra = 2 * static_cast<int64_t>(it.pair), rb = ra + 1;
      int32_t lo_a, hi_a, lo_b = 0, hi_b = 0;  // rb past the chunk: empty range
      clamped_range(a.ks, a.ke, a.t0 + ra, a.S, lo_a, hi_a);
      if (rb < a.rows) clamped_range(a.ks, a.ke, a.t0 + rb, a.S, lo_b, hi_b);
      float* out_a = logits + ra * a.ld;
      float* out_b = logits + rb * a.ld;
      for (int32_t b = 0; b < it.kv_blocks; ++b, ++epi_iter) {
        const int es = epi_iter % kEpiStages;
        const int32_t s_base = it.kv_start + b * kBlockKV;
        // Scales first (global loads in flight while waiting for the math warpgroups).
        float scale[2] = {1.0f, 1.0f};
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int32_t s = s_base + c * kEpiThreads + e;
          if (a.k_scale != nullptr && s < a.S) scale[c] = __ldg(a.k_scale + s);
        }
        mbar_wait(rings.epi_full(es), (epi_iter / kEpiStages) & 1);
        const float* stage = epi + es * (kEpiBytes / 4);
        float va[2], vb[2];
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const float* slot = stage + (c * kEpiThreads + e) * kEpiStride;
          va[c] = (slot[0] + slot[1]) + (slot[2] + slot[3]);
          vb[c] = (slot[4] + slot[5]) + (slot[6] + slot[7]);
        }
        mbar_arrive(rings.epi_empty(es));
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int32_t s = s_base + c * kEpiThreads + e;
          if (s >= lo_a && s < hi_a) out_a[s] = va[c] * scale[c];
          if (s >= lo_b && s < hi_b) out_b[s] = vb[c] * scale[c];
        }
      }
    }
    return;
  }

  // ---- math warpgroups ----
  setmaxnreg_inc<kMathRegs>();
  const int wg = warp / 4;
  const int row0 = (warp % 4) * 16 + lane / 4;  // key rows row0, row0 + 8 of the WG's 64
  const int quad = lane % 4;
  const int key0 = wg * 64 + row0;              // the thread's first key row in the block
  float acc_a[32], acc_b[32], w_a[16], w_b[16];
  uint32_t q_iter = 0, kv_iter = 0;
  for (int64_t item = blockIdx.x; item < total; item += gridDim.x, ++q_iter) {
    const int st = q_iter % kQStages;
    mbar_wait(rings.q_full(st), (q_iter / kQStages) & 1);
    const ItemInfo it = locate_item<kBlockKV>(a, item);
    load_pair_weights(reinterpret_cast<const float*>(smem + kSmemW + st * kWBytes), quad, w_a,
                      w_b);
    const uint32_t q_a = q_smem + st * kQBytes, q_b = q_a + kHeads * kDim;

    for (int32_t b = 0; b < it.kv_blocks; ++b, ++kv_iter) {
      const int ks = kv_iter % kKVStages;
      const int es = kv_iter % kEpiStages;
      mbar_wait(rings.kv_full(ks), (kv_iter / kKVStages) & 1);
      const uint32_t keys = kv_smem + ks * kKVBytes + wg * 64 * kDim;
      fence_operand(acc_a);
      fence_operand(acc_b);
      wgmma_fence();
      wgmma_k128_e4m3(acc_a, keys, q_a);
      wgmma_k128_e4m3(acc_b, keys, q_b);
      mbar_wait(rings.epi_empty(es), ((kv_iter / kEpiStages) & 1) ^ 1);
      float* slot = epi + es * (kEpiBytes / 4) + key0 * kEpiStride + quad;

      wgmma_wait<1>();
      fence_operand(acc_a);
      const float2 pa = flat_partial_heads(
          acc_a, [&](int j) { return make_float2(w_a[2 * j], w_a[2 * j + 1]); });
      slot[0] = pa.x;
      slot[8 * kEpiStride] = pa.y;

      wgmma_wait<0>();
      fence_operand(acc_b);
      __syncwarp();
      if (lane == 0) mbar_arrive(rings.kv_empty(ks));
      const float2 pb = flat_partial_heads(
          acc_b, [&](int j) { return make_float2(w_b[2 * j], w_b[2 * j + 1]); });
      slot[4] = pb.x;
      slot[8 * kEpiStride + 4] = pb.y;
      mbar_arrive(rings.epi_full(es));
    }
    __syncwarp();
    if (lane == 0) mbar_arrive(rings.q_empty(st));
  }
#endif  // __CUDA_ARCH_FEAT_SM90_ALL
}

}  // namespace

bool wide_scorer_supports(const Problem& p) {
  return wgmma_scorer_supports(p) &&
         sm90a_kernel_ready(reinterpret_cast<const void*>(&flat_score_wide_kernel));
}

void wide_score_rows(const ScoreRowsArgs& a, cudaStream_t st) {
  launch_pair_scorer<kBlockKV>(a, st, reinterpret_cast<const void*>(&flat_score_wide_kernel),
                               kThreads, kSmemAlloc, wide_scorer_supports(*a.p), "wide wgmma");
}

}  // namespace hisa::cuda
