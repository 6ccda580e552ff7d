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
  const uint32_t raw = sm90::smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  unsigned char* smem = smem_raw + (base - raw);
  const uint32_t q_smem = base + kSmemQ, kv_smem = base + kSmemKV, w_smem = base + kSmemW;
  const uint32_t bars = base + kSmemBar;
  auto q_full = [&](int i) { return bars + 8u * i; };
  auto q_empty = [&](int i) { return bars + 8u * (kQStages + i); };
  auto kv_full = [&](int i) { return bars + 8u * (2 * kQStages + i); };
  auto kv_empty = [&](int i) { return bars + 8u * (2 * kQStages + kStages + i); };

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0) {
    for (int i = 0; i < kQStages; ++i) {
      mbar_init(q_full(i), 1);
      mbar_init(q_empty(i), kMathWarps);
    }
    for (int i = 0; i < kStages; ++i) {
      mbar_init(kv_full(i), 1);
      mbar_init(kv_empty(i), 4);  // the consuming warpgroup's warps
    }
    mbar_fence_init();
  }
  __syncthreads();

  if (warp == kMathWarps) {
    // ---- producer warp ----
    if (lane == 0) prefetch_map(&tmap_pooled);
    const bool fp8 = p.dtype == DType::fp8_e4m3;
    uint32_t q_iter = 0, gs = 0;
    for (int r = blockIdx.x; r < p.T; r += gridDim.x) {
      const int64_t t = static_cast<int64_t>(p.t0) + r;
      const RowGeometry g = row_of(p, t);
      if (g.all_blocks) continue;
      const int qs = q_iter % kQStages;
      mbar_wait(q_empty(qs), ((q_iter / kQStages) & 1) ^ 1);
      ++q_iter;
      // q[t] as bf16 into the swizzled panels: 16-byte chunk c (elements 8c..8c+7) of head h.
      unsigned char* qdst = smem + kSmemQ + qs * kQBytes;
      if (fp8) {
        const unsigned char* src = static_cast<const unsigned char*>(p.q) + t * (kHeads * kDim);
#pragma unroll 8
        for (int i = lane; i < kHeads * 16; i += 32) {
          const int h = i >> 4, c = i & 15;
          const uint2 v = __ldg(reinterpret_cast<const uint2*>(src + h * kDim + c * 8));
          const uint4 packed = make_uint4(
              sm90::e4m3x2_to_bf16x2(v.x & 0xFFFFu), sm90::e4m3x2_to_bf16x2(v.x >> 16),
              sm90::e4m3x2_to_bf16x2(v.y & 0xFFFFu), sm90::e4m3x2_to_bf16x2(v.y >> 16));
          *reinterpret_cast<uint4*>(qdst + sm90::swizzled_offset(kHeads, h, c)) = packed;
        }
      } else {
        const unsigned char* src =
            static_cast<const unsigned char*>(p.q) + t * (kHeads * kDim * 2);
#pragma unroll 8
        for (int i = lane; i < kHeads * 16; i += 32) {
          const int h = i >> 4, c = i & 15;
          const uint4 v = __ldg(reinterpret_cast<const uint4*>(src + h * kDim * 2 + c * 16));
          *reinterpret_cast<uint4*>(qdst + sm90::swizzled_offset(kHeads, h, c)) = v;
        }
      }
      sm90::fence_proxy_async();  // the warp's q stores, before wgmma reads them
      __syncwarp();
      if (lane == 0) {
        mbar_arrive_expect_tx(q_full(qs), kWBytes);
        bulk_load(w_smem + qs * kWBytes, p.w + t * kHeads, kWBytes, q_full(qs));
      }
      // Middle block j = 1 + i is pooled row ks + (1 + i) * B = residue ks % B, stride index
      // ks / B + 1 + i.
      const int nmid = g.nb - 2;
      const int res = g.ks % p.B, j0 = g.ks / p.B + 1;
      const int nstages = (nmid + kStageKeys - 1) / kStageKeys;
      for (int l = 0; l < nstages; ++l, ++gs) {
        const int slot = gs % kStages;
        if (lane == 0) {
          mbar_wait(kv_empty(slot), ((gs / kStages) & 1) ^ 1);
          const int i0 = l * kStageKeys;
          const bool load_b = i0 + kTileKeys < nmid;
          mbar_arrive_expect_tx(kv_full(slot), load_b ? kStageBytes : kTileBytes);
          const uint32_t dst = kv_smem + slot * kStageBytes;
          tma_load_4d(dst, &tmap_pooled, 0, res, j0 + i0, kv_full(slot));
          tma_load_4d(dst + kPanelBytes, &tmap_pooled, 1, res, j0 + i0, kv_full(slot));
          if (load_b) {
            tma_load_4d(dst + kTileBytes, &tmap_pooled, 0, res, j0 + i0 + kTileKeys, kv_full(slot));
            tma_load_4d(dst + kTileBytes + kPanelBytes, &tmap_pooled, 1, res, j0 + i0 + kTileKeys,
                        kv_full(slot));
          }
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
    mbar_wait(q_full(qs), (q_iter / kQStages) & 1);
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
      mbar_wait(kv_full(slot), (gl / kStages) & 1);
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
      if (lane == 0) mbar_arrive(kv_empty(slot));
      {
        const float2 sum = sm90::key_head_sums_smem(acc_b, wq);
        if (quad < 2 && ib < nmid) scores_row[ib] = (quad & 1) ? sum.y : sum.x;
      }
    }
    gs += nstages;
    __syncwarp();
    if (lane == 0) mbar_arrive(q_empty(qs));
  }
#endif  // __CUDA_ARCH_FEAT_SM90_ALL
}

// Kept list of row r = blockIdx.x from its block scores (copied into shared memory as ranking
// keys): finish_blocks, as in sm90_blocks_kernel.
constexpr int kSelectThreads = 128;
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
  finish_blocks(g, p.m, jkeys, p.kept + static_cast<int64_t>(r) * p.m, sc);
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

void launch_sm90_tma_blocks(const HisaParams& p, cudaStream_t st) {
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
  HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(hisa_blocks_tma_kernel,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemAlloc),
                      ctx);
  const int sms = current_device_properties().multiProcessorCount;
  const int grid = static_cast<int>(std::min<int64_t>(p.T, 2 * int64_t{sms}));
  hisa_blocks_tma_kernel<<<grid, kThreadsBlk, kSmemAlloc, st>>>(map, p);
  HISA_CUDA_CHECK_LAUNCH("hisa_blocks_tma_kernel", ctx);
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
