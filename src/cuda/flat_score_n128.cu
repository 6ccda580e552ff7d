// sm_90a FP8 flat scorer with N = 128 (FlatScorer::wgmma_n128, HISA_FLAT_SCORER=n128; issue
// #13, an A/B candidate until timed): DeepGEMM's sm90 fp8_mqa_logits organisation (read, not
// copied) with the two-CTA scorer's arithmetic, so the logits are bitwise that scorer's.
//   * One CTA per SM: a producer warpgroup (one thread issues every TMA copy: the pair's q rows
//     (16 KiB) + weights into one of 2 Q stages, key blocks of 256 keys x 128 B into a 4-stage
//     ring) and four math warpgroups raised to 112 registers by setmaxnreg (the producer's
//     drop to 32: 512 x 112 + 128 x 32 = 640 x 96, the CTA's own allocation).
//   * Math warpgroup g takes keys [64 g, 64 g + 64) of a block: one wgmma m64n128k32 per k-step
//     for both queries of the pair (keys on M, the pair's 2 x 64 head rows on N), so each key
//     tile is read from shared memory once per k-step (the wide and two-CTA scorers issue two
//     m64n64k32, reading it twice), then the epilogue in the same warpgroup: per query,
//     relu(acc) * w over the thread's 16 heads (flat_partial_heads, weights in registers), the
//     quad butterfly, x k_scale, masked to the row's [ks, ke), stored. Four warpgroups per SM
//     overlap each other's tensor-core work and epilogues; none overlaps its own.
// ptxas needs >= ~90 registers for an m64n128 FP8 wgmma with its operands: the wide scorer's
// 768-thread CTA (80 per thread at launch) cannot take it, this 640-thread one (96) can.
#include <string>

#include "cuda/common.cuh"
#include "cuda/flat_pair_scorer.cuh"
#include "cuda/flat_score.cuh"
#include "cuda/flat_score_sm90.cuh"
#include "cuda/hisa_wgmma.cuh"
#include "cuda/sm90_tma.cuh"

namespace hisa::cuda {
namespace {

using namespace tma;
using namespace sm90;

constexpr int kHeads = kPairHeads;
constexpr int kDim = kPairDim;
constexpr int kMathWarpgroups = 4;
constexpr int kMathThreads = 128 * kMathWarpgroups;
constexpr int kMathWarps = kMathThreads / 32;
constexpr int kThreads = kMathThreads + 128;  // + the producer warpgroup
constexpr int kMathRegs = 112;
constexpr int kOtherRegs = 32;
static_assert(kMathThreads * kMathRegs + (kThreads - kMathThreads) * kOtherRegs <=
                  kThreads * (65536 / kThreads / 8 * 8),
              "register reallocation within the CTA's allocation");
constexpr int kBlockKV = 64 * kMathWarpgroups;
constexpr int kKVStages = 4;
constexpr int kQStages = 2;
constexpr int kQBytes = kPairQBytes;
constexpr int kWBytes = kPairWBytes;
constexpr int kKVBytes = kBlockKV * kDim;
static_assert(kSegKeys % kBlockKV == 0, "items hold whole key blocks");

constexpr int kSmemQ = 0;
constexpr int kSmemKV = kSmemQ + kQStages * kQBytes;
constexpr int kSmemW = kSmemKV + kKVStages * kKVBytes;
constexpr int kSmemBar = kSmemW + kQStages * kWBytes;
constexpr int kNumBars = 2 * kQStages + 2 * kKVStages;
constexpr int kSmemAlloc = kSmemBar + kNumBars * 8 + 1024;  // slack to align the base to 1024
static_assert(kSmemAlloc <= 227 * 1024, "one CTA per SM");

__global__ void __launch_bounds__(kThreads, 1)
    flat_score_n128_kernel(const __grid_constant__ CUtensorMap tmap_q,
                           const __grid_constant__ CUtensorMap tmap_k, WgArgs a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  unsigned char* smem = smem_raw + (base - raw);
  const uint32_t q_smem = base + kSmemQ, kv_smem = base + kSmemKV, w_smem = base + kSmemW;
  const MbarRings<kQStages, kKVStages> rings{base + kSmemBar};

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0) rings.init(1, kMathWarps, 1, kMathWarps);
  __syncthreads();
  const int32_t total = a.offsets[a.npairs];

  if (threadIdx.x >= kMathThreads) {
    // ---- producer warpgroup: one thread issues every TMA copy ----
    setmaxnreg_dec<kOtherRegs>();
    if (threadIdx.x == kMathThreads)
      produce_pair_items<kBlockKV>(a, total, &tmap_q, &tmap_k, q_smem, w_smem, kv_smem, rings);
    return;
  }

  // ---- math warpgroups ----
  setmaxnreg_inc<kMathRegs>();
  const int wg = warp / 4;
  const int row0 = (warp % 4) * 16 + lane / 4;  // key rows row0, row0 + 8 of the WG's 64
  const int quad = lane % 4;
  float acc_a[32], acc_b[32], w_a[16], w_b[16];
  float* logits = static_cast<float*>(a.logits);
  uint32_t q_iter = 0, kv_iter = 0;
  for (int64_t item = blockIdx.x; item < total; item += gridDim.x, ++q_iter) {
    const int st = q_iter % kQStages;
    mbar_wait(rings.q_full(st), (q_iter / kQStages) & 1);
    const ItemInfo it = locate_item<kBlockKV>(a, item);
    const int64_t ra = 2 * static_cast<int64_t>(it.pair), rb = ra + 1;
    const bool has_b = rb < a.rows;
    int32_t lo_a, hi_a, lo_b = 0, hi_b = 0;
    clamped_range(a.ks, a.ke, a.t0 + ra, a.S, lo_a, hi_a);
    if (has_b) clamped_range(a.ks, a.ke, a.t0 + rb, a.S, lo_b, hi_b);
    float* out_a = logits + ra * a.ld;
    float* out_b = logits + rb * a.ld;
    load_pair_weights(reinterpret_cast<const float*>(smem + kSmemW + st * kWBytes), quad, w_a,
                      w_b);
    const uint32_t q_ab = q_smem + st * kQBytes;  // query a's 64 head rows, then query b's

    for (int32_t b = 0; b < it.kv_blocks; ++b, ++kv_iter) {
      const int ks = kv_iter % kKVStages;
      mbar_wait(rings.kv_full(ks), (kv_iter / kKVStages) & 1);
      const uint32_t keys = kv_smem + ks * kKVBytes + wg * 64 * kDim;
      fence_operand(acc_a);
      fence_operand(acc_b);
      wgmma_fence();
      wgmma_k128_e4m3_n128(acc_a, acc_b, keys, q_ab);
      // Key rows of this thread (S < INT32_MAX - kSegKeys, checked on the host).
      const int32_t s0 = it.kv_start + b * kBlockKV + wg * 64 + row0;
      const int32_t s1 = s0 + 8;
      float scale0 = 1.0f, scale1 = 1.0f;
      if (a.k_scale != nullptr) {
        if (s0 < a.S) scale0 = __ldg(a.k_scale + s0);
        if (s1 < a.S) scale1 = __ldg(a.k_scale + s1);
      }
      wgmma_wait<0>();
      fence_operand(acc_a);
      fence_operand(acc_b);
      __syncwarp();
      if (lane == 0) mbar_arrive(rings.kv_empty(ks));
      const float2 ia =
          quad_head_sums(acc_a, [&](int j) { return make_float2(w_a[2 * j], w_a[2 * j + 1]); });
      if (quad == 0 && s0 >= lo_a && s0 < hi_a) out_a[s0] = ia.x * scale0;
      if (quad == 1 && s1 >= lo_a && s1 < hi_a) out_a[s1] = ia.y * scale1;
      if (!has_b) continue;  // its weights were not loaded; its row is outside the chunk
      const float2 ib =
          quad_head_sums(acc_b, [&](int j) { return make_float2(w_b[2 * j], w_b[2 * j + 1]); });
      if (quad == 0 && s0 >= lo_b && s0 < hi_b) out_b[s0] = ib.x * scale0;
      if (quad == 1 && s1 >= lo_b && s1 < hi_b) out_b[s1] = ib.y * scale1;
    }
    __syncwarp();
    if (lane == 0) mbar_arrive(rings.q_empty(st));  // the item's last wgmma read q
  }
#endif  // __CUDA_ARCH_FEAT_SM90_ALL
}

}  // namespace

bool n128_scorer_supports(const Problem& p) {
  return wgmma_scorer_supports(p) &&
         sm90a_kernel_ready(reinterpret_cast<const void*>(&flat_score_n128_kernel));
}

void n128_score_rows(const ScoreRowsArgs& a, cudaStream_t st) {
  launch_pair_scorer<kBlockKV>(a, st, reinterpret_cast<const void*>(&flat_score_n128_kernel),
                               kThreads, kSmemAlloc, n128_scorer_supports(*a.p), "n128 wgmma");
}

}  // namespace hisa::cuda
