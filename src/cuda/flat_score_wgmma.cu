// sm_90a FP8 flat scorer (DSA shape: H = 64, D = 128, FP8 e4m3 q/k, per-key f32 scale).
//
// The layout follows the structure of DeepGEMM's fp8_mqa_logits (read, not copied): keys are
// the M side of the tensor-core tile, (query, head) the N side.
//   * A work item is one query PAIR and a span of <= kSegKeys keys of the pair's visible range
//     (plan_kernel enumerates them per chunk); the persistent grid walks items round-robin.
//   * A producer warp issues TMA copies: the pair's 128 q rows (2 queries x 64 heads x 128 B,
//     16 KiB, 128B-swizzled) into one of 2 Q stages, then the key blocks (128 keys x 128 B)
//     into a 4-stage ring, completing on mbarriers.
//   * Two math warpgroups each own 64 keys of a block: per query, 4 x wgmma m64n64k32
//     (K = 128 = 4 x 32) gives dot(q[t,h], k[s]) for 64 keys x 64 heads in registers; the
//     second query's wgmmas run while the first query's accumulators are reduced:
//     I = k_scale[s] * sum_h w[t,h] * relu(acc) (thread-local over its 16 heads, then a
//     4-lane butterfly), stored straight to the logits row.
// Two CTAs (2 x 288 threads, ~97 KiB shared) share an SM, so four warpgroups interleave their
// tensor-core work and their CUDA-core epilogues.
//
// The same kernel scores MISA's routed heads (misa_select.cu): its N side then holds kG = 64/kA
// queries of kA gathered heads each (e.g. 8 queries x 8 heads), each column with its own
// weight, and a work item is a pair of such query groups (2 kG queries). The router lays the
// heads out so that the epilogue sums each query's heads in-thread (store_group) and stores f32
// or f16 scores. Flat is kA = 64.
//
// Arithmetic: FP8 products are exact; the tensor core accumulates the K = 128 sum in its own
// order and precision, the head sum is an f32 fma chain in a different order than the CPU.
// Results agree with the CPU backend within rounding (tests/gpu/test_flat*.cpp states the
// tolerance), not bitwise.
#include <cuda_fp16.h>

#include <string>

#include "cuda/common.cuh"
#include "cuda/flat_score.cuh"
#include "cuda/flat_score_sm90.cuh"
#include "cuda/hisa_wgmma.cuh"
#include "cuda/misa_group_epilogue.cuh"
#include "cuda/sm90_tma.cuh"
#include "cuda/tensor_map.hpp"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

using namespace tma;
using namespace sm90;

constexpr int kHeads = 64;
constexpr int kDim = 128;
constexpr int kMathWarpgroups = 2;
constexpr int kMathThreads = 128 * kMathWarpgroups;
constexpr int kMathWarps = kMathThreads / 32;
constexpr int kThreads = kMathThreads + 32;  // + one producer warp
constexpr int kBlockKV = 64 * kMathWarpgroups;
constexpr int kKVStages = 4;
constexpr int kQStages = 2;
constexpr int kQBytes = 2 * kHeads * kDim;  // two queries x 64 heads x 128 B
constexpr int kWBytes = 2 * kHeads * 4;     // their head weights (f32)
constexpr int kKVBytes = kBlockKV * kDim;
static_assert(kSegKeys % kBlockKV == 0, "items hold whole key blocks");

// Shared memory: [Q stages][KV stages] (1024-aligned for the 128B swizzle), the weights of
// each Q stage, then barriers. Weights live in shared memory, not registers: the two
// accumulator banks already take 64 of the 96 registers two CTAs per SM allow.
constexpr int kSmemQ = 0;
constexpr int kSmemKV = kSmemQ + kQStages * kQBytes;
constexpr int kSmemW = kSmemKV + kKVStages * kKVBytes;
constexpr int kSmemBar = kSmemW + kQStages * kWBytes;
constexpr int kNumBars = 2 * kQStages + 2 * kKVStages;
constexpr int kSmemBytes = kSmemBar + kNumBars * 8;
constexpr int kSmemAlloc = kSmemBytes + 1024;  // slack to align the base to 1024



// ---- epilogue ------------------------------------------------------------------------------

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// I for the thread's two key rows: relu * w over its 16 heads, then the 4 lanes of the quad.
// `w` points at the query's 64 weights in shared memory, offset by 2 * quad.
__device__ __forceinline__ void reduce_heads(const float (&acc)[32], const float* w, float& s0,
                                             float& s1) {
  const float2 s =
      quad_head_sums(acc, [&](int j) { return *reinterpret_cast<const float2*>(w + 8 * j); });
  s0 = s.x;
  s1 = s.y;
}
#endif  // __CUDA_ARCH_FEAT_SM90_ALL


// kA: heads per query in the N tile (64: flat; 8, 16, 32: MISA's routed heads, kG = 64 / kA
// queries per tile). OutT: the logits element (float, or __half for MISA's f16 logits).
template <int kA, typename OutT>
__global__ void __launch_bounds__(kThreads, 2)
    flat_score_wgmma_kernel(const __grid_constant__ CUtensorMap tmap_q,
                            const __grid_constant__ CUtensorMap tmap_k, WgArgs a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smem_raw[];
  // 128B-swizzled TMA tiles and wgmma descriptors need 1024-byte aligned tiles.
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  unsigned char* smem = smem_raw + (base - raw);
  const uint32_t q_smem = base + kSmemQ, kv_smem = base + kSmemKV, w_smem = base + kSmemW;
  const uint32_t bars = base + kSmemBar;
  auto q_full = [&](int i) { return bars + 8u * i; };
  auto q_empty = [&](int i) { return bars + 8u * (kQStages + i); };
  auto kv_full = [&](int i) { return bars + 8u * (2 * kQStages + i); };
  auto kv_empty = [&](int i) { return bars + 8u * (2 * kQStages + kKVStages + i); };

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0) {
    for (int i = 0; i < kQStages; ++i) {
      mbar_init(q_full(i), 1);
      mbar_init(q_empty(i), kMathWarps);
    }
    for (int i = 0; i < kKVStages; ++i) {
      mbar_init(kv_full(i), 1);
      mbar_init(kv_empty(i), kMathWarps);
    }
    mbar_fence_init();
  }
  __syncthreads();

  if (warp == kMathWarps) {
    // ---- producer: one thread issues every TMA copy ----
    if (lane == 0) {
      prefetch_map(&tmap_q);
      prefetch_map(&tmap_k);
      const int32_t total = a.offsets[a.npairs];
      uint32_t q_iter = 0, kv_iter = 0;
      for (int64_t item = blockIdx.x; item < total; item += gridDim.x) {
        const int st = q_iter % kQStages;
        mbar_wait(q_empty(st), ((q_iter / kQStages) & 1) ^ 1);
        const ItemInfo it = locate_item<kBlockKV>(a, item);
        const int32_t kv_start = it.kv_start, blocks = it.kv_blocks;
        // The item's first query row; its 128 (query, head) rows of q and w are contiguous.
        const int64_t t = a.t0 + static_cast<int64_t>(a.pair_rows) * it.pair;
        // The weights of rows past T are not loaded (flat with odd T: the second query).
        const int64_t left = (a.T - t) * kA;
        const uint32_t w_bytes = left >= 2 * kHeads ? kWBytes : static_cast<uint32_t>(left * 4);
        mbar_arrive_expect_tx(q_full(st), kQBytes + w_bytes);
        tma_load_2d(q_smem + st * kQBytes, &tmap_q, 0, static_cast<int32_t>(t * kA), q_full(st));
        bulk_load(w_smem + st * kWBytes, a.w + t * kA, w_bytes, q_full(st));
        for (int32_t b = 0; b < blocks; ++b, ++kv_iter) {
          const int ks = kv_iter % kKVStages;
          mbar_wait(kv_empty(ks), ((kv_iter / kKVStages) & 1) ^ 1);
          mbar_arrive_expect_tx(kv_full(ks), kKVBytes);
          tma_load_2d(kv_smem + ks * kKVBytes, &tmap_k, 0, kv_start + b * kBlockKV, kv_full(ks));
        }
        ++q_iter;
      }
    }
    return;
  }

  // ---- math warpgroups ----
  const int wg = warp / 4;
  const int row0 = (warp % 4) * 16 + lane / 4;  // key rows row0 and row0 + 8 of the WG's 64
  const int quad = lane % 4;
  float acc_a[32], acc_b[32];
  uint32_t q_iter = 0, kv_iter = 0;
  const int32_t total = a.offsets[a.npairs];
  for (int64_t item = blockIdx.x; item < total; item += gridDim.x) {
    const int st = q_iter % kQStages;
    mbar_wait(q_full(st), (q_iter / kQStages) & 1);
    const ItemInfo it = locate_item<kBlockKV>(a, item);
    constexpr int kG = kHeads / kA;  // queries per group (one N tile)
    const int64_t ra = static_cast<int64_t>(a.pair_rows) * it.pair, rb = ra + kG;
    const bool has_b = rb < a.rows;
    int32_t lo_a = 0, hi_a = 0, lo_b = 0, hi_b = 0;
    if constexpr (kA == kHeads) {
      clamped_range(a.ks, a.ke, a.t0 + ra, a.S, lo_a, hi_a);
      if (has_b) clamped_range(a.ks, a.ke, a.t0 + rb, a.S, lo_b, hi_b);
    }
    const float* w_a = reinterpret_cast<const float*>(smem + kSmemW + st * kWBytes) + 2 * quad;
    const float* w_b = w_a + kHeads;
    OutT* logits = static_cast<OutT*>(a.logits);
    OutT* out_a = logits + ra * a.ld;
    OutT* out_b = logits + rb * a.ld;
    const uint32_t q_a = q_smem + st * kQBytes, q_b = q_a + kHeads * kDim;

    for (int32_t b = 0; b < it.kv_blocks; ++b, ++kv_iter) {
      const int ks = kv_iter % kKVStages;
      mbar_wait(kv_full(ks), (kv_iter / kKVStages) & 1);
      const uint32_t keys = kv_smem + ks * kKVBytes + wg * 64 * kDim;
      fence_operand(acc_a);
      fence_operand(acc_b);
      wgmma_fence();
      wgmma_k128_e4m3(acc_a, keys, q_a);
      wgmma_k128_e4m3(acc_b, keys, q_b);

      // Key rows of this thread (S < INT32_MAX - kSegKeys, checked on the host).
      const int32_t s0 = it.kv_start + b * kBlockKV + wg * 64 + row0;
      const int32_t s1 = s0 + 8;
      float scale0 = 1.0f, scale1 = 1.0f;
      if (a.k_scale != nullptr) {
        if (s0 < a.S) scale0 = __ldg(a.k_scale + s0);
        if (s1 < a.S) scale1 = __ldg(a.k_scale + s1);
      }
      wgmma_wait<1>();
      fence_operand(acc_a);
      if constexpr (kA == kHeads) {
        float i0, i1;
        reduce_heads(acc_a, w_a, i0, i1);
        if (quad == 0 && s0 >= lo_a && s0 < hi_a) out_a[s0] = i0 * scale0;
        if (quad == 1 && s1 >= lo_a && s1 < hi_a) out_a[s1] = i1 * scale1;
      } else {
        store_group<kA>(acc_a, w_a - 2 * quad, quad, ra, a.rows, logits, a.ld, s0,
                        static_cast<int32_t>(a.S), scale0, scale1);
      }

      wgmma_wait<0>();
      fence_operand(acc_b);
      __syncwarp();
      if (lane == 0) mbar_arrive(kv_empty(ks));
      if (!has_b) continue;  // its weights were not loaded; its row is outside the chunk
      if constexpr (kA == kHeads) {
        float i0, i1;
        reduce_heads(acc_b, w_b, i0, i1);
        if (quad == 0 && s0 >= lo_b && s0 < hi_b) out_b[s0] = i0 * scale0;
        if (quad == 1 && s1 >= lo_b && s1 < hi_b) out_b[s1] = i1 * scale1;
      } else {
        store_group<kA>(acc_b, w_b - 2 * quad, quad, rb, a.rows, logits, a.ld, s0,
                        static_cast<int32_t>(a.S), scale0, scale1);
      }
    }
    __syncwarp();
    if (lane == 0) mbar_arrive(q_empty(st));
    ++q_iter;
  }
#endif  // __CUDA_ARCH_FEAT_SM90_ALL
}

// ---- host side ---------------------------------------------------------------------------

// The kernel image the driver loaded must be the sm_90a one (an sm_80 image has no body).
bool wgmma_ready() {
  return sm90a_kernel_ready(reinterpret_cast<const void*>(&flat_score_wgmma_kernel<kHeads, float>));
}

}  // namespace

bool wgmma_scorer_supports(const Problem& p) {
  if (p.dtype != DType::fp8_e4m3 || p.H != kHeads || p.D != kDim) return false;
  if (!aligned16(p.q) || !aligned16(p.k) || !aligned16(p.w)) return false;
  if (p.T * kHeads >= INT32_MAX || p.S >= INT32_MAX - kSegKeys) return false;
  return wgmma_ready() && tensor_maps_available();
}

std::size_t wgmma_scratch_bytes(int64_t rows) {
  const int64_t npairs = ceil_div(rows, 2);
  WorkspaceCarver c(nullptr);
  c.take<int32_t>(npairs + 1);
  c.take<int2>(npairs);
  return c.used();
}

void wgmma_score_rows(const ScoreRowsArgs& a, cudaStream_t st) {
  const Problem& p = *a.p;
  if (!wgmma_scorer_supports(p))
    throw BackendError("flat (wgmma scorer): needs an sm_90 GPU, FP8 e4m3, H=64, D=128 and "
                       "16-byte aligned q/k (" + shape_string(p) + ")");
  if (a.rows <= 0 || p.S <= 0) return;
  const int64_t npairs = ceil_div(a.rows, 2);
  if (npairs * ceil_div(p.S, kSegKeys) >= INT32_MAX)
    throw BackendError("flat (wgmma scorer): chunk too large (" + std::to_string(a.rows) +
                       " rows x S=" + std::to_string(p.S) + ")");
  const std::string ctx = "flat wgmma scorer " + shape_string(p) + " t0=" + std::to_string(a.t0) +
                          " rows=" + std::to_string(a.rows);
  WorkspaceCarver c(a.scratch);
  int32_t* offsets = c.take<int32_t>(npairs + 1);
  int2* ranges = c.take<int2>(npairs);
  WgArgs k{p.k_scale, p.w,     p.T,  a.ks,   a.ke,  offsets, ranges, a.t0, a.rows, p.S,
           static_cast<int32_t>(npairs), a.logits, a.ld, 2};
  plan_kernel<<<1, kPlanThreads, 0, st>>>(k, offsets, ranges);
  HISA_CUDA_CHECK_LAUNCH("flat wgmma plan_kernel", ctx);

  const CUtensorMap map_q = rows_map(p.q, p.T * kHeads, 128, ctx);
  const CUtensorMap map_k = rows_map(p.k, p.S, 128, ctx);
  auto* kernel = &flat_score_wgmma_kernel<kHeads, float>;
  HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           kSmemAlloc),
                      ctx);
  const int sms = current_device_properties().multiProcessorCount;
  kernel<<<2 * sms, kThreads, kSmemAlloc, st>>>(map_q, map_k, k);
  HISA_CUDA_CHECK_LAUNCH("flat_score_wgmma_kernel", ctx);
}

bool wgmma_routed_supported() {
  return wgmma_ready() && tensor_maps_available();
}

namespace {
template <int kA, typename OutT>
void launch_routed(const CUtensorMap& map_q, const CUtensorMap& map_k, const WgArgs& k,
                   cudaStream_t st, const std::string& ctx) {
  auto* kernel = &flat_score_wgmma_kernel<kA, OutT>;
  HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           kSmemAlloc),
                      ctx);
  const int sms = current_device_properties().multiProcessorCount;
  kernel<<<2 * sms, kThreads, kSmemAlloc, st>>>(map_q, map_k, k);
  HISA_CUDA_CHECK_LAUNCH("flat_score_wgmma_kernel (routed heads)", ctx);
}
}  // namespace

void wgmma_score_routed(const RoutedScoreArgs& a, cudaStream_t st) {
  if (a.rows <= 0 || a.S <= 0) return;
  const int kA = a.heads_per_query;
  if (kA != 8 && kA != 16 && kA != 32)
    throw BackendError("MISA routed scorer: heads per query must be 8, 16 or 32, got " +
                       std::to_string(kA));
  const int pair_rows = 2 * (kHeads / kA);
  const int64_t npairs = ceil_div(a.rows, pair_rows);
  if (a.rows_pad % pair_rows != 0 || a.rows_pad < a.rows)
    throw BackendError("MISA routed scorer: padded rows must be a multiple of " +
                       std::to_string(pair_rows));
  if (a.rows_pad * kA >= INT32_MAX || a.S >= INT32_MAX - kSegKeys ||
      npairs * ceil_div(a.S, kSegKeys) >= INT32_MAX)
    throw BackendError("MISA routed scorer: chunk too large (" + std::to_string(a.rows) +
                       " rows x S=" + std::to_string(a.S) + ")");
  const std::string ctx = "MISA routed scorer rows=" + std::to_string(a.rows) +
                          " S=" + std::to_string(a.S) + " heads/query=" + std::to_string(kA);
  WorkspaceCarver c(a.scratch);  // npairs <= ceil(rows / 2): fits wgmma_scratch_bytes(rows)
  int32_t* offsets = c.take<int32_t>(npairs + 1);
  int2* ranges = c.take<int2>(npairs);
  WgArgs k{a.k_scale, a.w, a.rows_pad, a.ks, a.ke, offsets, ranges, 0, a.rows, a.S,
           static_cast<int32_t>(npairs), a.logits, a.ld, pair_rows};
  plan_kernel<<<1, kPlanThreads, 0, st>>>(k, offsets, ranges);
  HISA_CUDA_CHECK_LAUNCH("MISA routed plan_kernel", ctx);
  const CUtensorMap map_q = rows_map(a.q, a.rows_pad * kA, 128, ctx);
  const CUtensorMap map_k = rows_map(a.k, a.S, 128, ctx);
  switch (kA * 2 + (a.f16 ? 1 : 0)) {
    case 16: launch_routed<8, float>(map_q, map_k, k, st, ctx); break;
    case 17: launch_routed<8, __half>(map_q, map_k, k, st, ctx); break;
    case 32: launch_routed<16, float>(map_q, map_k, k, st, ctx); break;
    case 33: launch_routed<16, __half>(map_q, map_k, k, st, ctx); break;
    case 64: launch_routed<32, float>(map_q, map_k, k, st, ctx); break;
    default: launch_routed<32, __half>(map_q, map_k, k, st, ctx); break;
  }
}

}  // namespace hisa::cuda
