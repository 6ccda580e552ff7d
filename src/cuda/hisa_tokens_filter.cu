// Filtered two-pass HISA stage 2a on sm_90a (HISA_TOKENS_FILTER=1; docs/cuda_hisa.md "A bound
// before selection"). The TMA kernel's structure and arithmetic (hisa_tokens_tma.cu: producer
// warp, two math warpgroups, m64n64k32 e4m3, key_head_sums with the weights in registers, x
// k_scale: bitwise the same scores), with two changes:
//
//   * Order. The producer walks the row's kept blocks of the set A first (HisaParams::a_mask:
//     the first block, the own block and the a_blocks - 2 best middle blocks by J, marked
//     by stage 1b), then the others, each group in ascending kept order; a stage holds two
//     64-key tiles of one group (a group's last stage may hold one). Per ring slot it publishes
//     the two tiles' first candidate positions (i * B + offset) beside the keys.
//   * Stores. Every score is stored as a (score, position) pair at the next free slot of the
//     row (a shared counter per row, one atomic per warp and tile): scores[r * ld + i],
//     cand_pos[r * ld + i], i < cand_end[r], in no particular order. A's scores are all stored
//     and counted in a shared histogram of their score keys' top kHistBits bits. When A is
//     done, both math warpgroups meet; warpgroup 0 reads tau = the lower edge of the bin that
//     holds A's k-th largest key (0 if A holds fewer than k scores) and writes it to
//     cand_tau[r]. At least k of A's scores are >= tau, so the row's k-th score is too, and a
//     score below tau cannot be selected: of the other blocks only scores >= tau are stored.
//     The top k of the stored pairs by (score, position) is the row's top k (stage 2b: the
//     short-row top-k's pair mode, topk_short.cu).
//
// Per row the two math warpgroups meet three times on named barrier 1 (A done, tau read, row
// done); the histogram and the counter are double-buffered by row parity, so a warpgroup that
// runs ahead into the next row touches the other buffer. Score order only (index order keeps
// the TMA kernel); FP8, H = 64, D = 128, B % 64 == 0, m * B <= 65536 (16-bit positions).
#include <cuda.h>

#include <string>

#include "cuda/common.cuh"
#include "cuda/hisa_filter_stages.cuh"
#include "cuda/hisa_launch.cuh"
#include "cuda/hisa_sm90_tile.cuh"
#include "cuda/hisa_tokens_producer.cuh"
#include "cuda/sm90_tma.cuh"
#include "cuda/tensor_map.hpp"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

using namespace tma;

using tokens::kFullArrivals;
using tokens::kQBytes;
using tokens::kScaleStageFloats;
using tokens::kScaleTileFloats;
using tokens::kStageBytes;
using tokens::kTileBytes;
using tokens::kTileKeys;
using tokens::kWBytes;
using tokens::skips_scoring;

constexpr int kMathWarpgroups = 2, kStages = 4, kQStages = 2;
constexpr int kMathWarps = 4 * kMathWarpgroups;
constexpr int kThreads = 32 * kMathWarps + 32;  // + the producer warp
constexpr int kHistBits = 11;                   // histogram of A's score keys: top 11 bits
constexpr int kHistBins = 1 << kHistBits;
constexpr int kKeyShift = 32 - kHistBits;
// Shared memory: Q stages, key slots, k_scale slots, weights, 2 histograms, then small words:
// the slots' tile positions [kStages][2], per Q stage (A's stages, all stages), per row parity
// the store counter and tau, warpgroup 0's scan sums.
constexpr int kSmemQ = 0;
constexpr int kSmemKV = kSmemQ + kQStages * kQBytes;
constexpr int kSmemScale = kSmemKV + kStages * kStageBytes;
static_assert(kSmemScale % 128 == 0, "TMA writes k_scale slots at 128-byte-aligned offsets");
constexpr int kSmemW = kSmemScale + kStages * kScaleStageFloats * 4;
constexpr int kSmemHist = kSmemW + kQStages * kWBytes;
constexpr int kSmemWords = kSmemHist + 2 * kHistBins * 4;
constexpr int kWordSlotPos = 0, kWordQMeta = 2 * kStages, kWordCount = kWordQMeta + 2 * kQStages;
constexpr int kWordTau = kWordCount + 2, kWordScan = kWordTau + 2, kNumWords = kWordScan + 4;
constexpr int kSmemBar = kSmemWords + (kNumWords * 4 + 7) / 8 * 8;
constexpr int kNumBars = 2 * kQStages + 2 * kStages;
constexpr int kSmemAlloc = kSmemBar + kNumBars * 8 + 1024;  // + slack to align to 1024
static_assert(2 * (kSmemAlloc + 1024) <= 228 * 1024, "two CTAs per SM");

// Named barrier `id` over `count` threads (whole warps).
__device__ __forceinline__ void named_sync(int id, int count) {
  asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(count) : "memory");
}

// Tiles and stages of a row: A's (blocks marked in the mask; every block when the row keeps
// all of them) and all. Whole warp; warp-uniform results.
__device__ __forceinline__ FilterStages row_stages(const HisaParams& p, const RowGeometry& g,
                                                   const uint32_t* mask, int lane) {
  int a_blocks = g.nk;
  bool own_in_a = true;
  if (!g.all_blocks) {
    uint32_t c = 0;
    for (int w = lane; w * 32 < g.nk; w += 32) {
      uint32_t word = __ldg(mask + w);
      const int left = g.nk - 32 * w;  // kept entries from bit 0 of this word
      if (left < 32) word &= (1u << left) - 1u;
      c += __popc(word);
    }
    a_blocks = static_cast<int>(__reduce_add_sync(0xFFFFFFFFu, c));
    own_in_a = (__ldg(mask + (g.nk - 1) / 32) >> ((g.nk - 1) % 32)) & 1u;
  }
  return filter_stages(g.nk, p.B, g.cvalid, a_blocks, own_in_a);
}

// The producer warp: per scored row the query and weights into a Q stage (with the row's stage
// counts beside them), then A's tiles, then the others, two per ring slot.
__device__ __forceinline__ void produce_filtered(const HisaParams& p, const CUtensorMap* tmap_q,
                                                 const CUtensorMap* tmap_k,
                                                 const CUtensorMap* tmap_s, uint32_t q_smem,
                                                 uint32_t w_smem, uint32_t kv_smem,
                                                 uint32_t scale_smem, int* words,
                                                 const MbarRings<kQStages, kStages>& rings,
                                                 int lane) {
  const bool has_scale = p.k_scale != nullptr;
  if (lane == 0) {
    prefetch_map(tmap_q);
    prefetch_map(tmap_k);
    if (has_scale) prefetch_map(tmap_s);
  }
  uint32_t q_iter = 0, gs = 0;
  auto issue = [&](int row_a, int pos_a, int row_b, int pos_b) {
    if (lane == 0) {
      const int slot = static_cast<int>(gs % kStages);
      mbar_wait(rings.kv_empty(slot), ((gs / kStages) & 1) ^ 1);
      words[kWordSlotPos + 2 * slot] = pos_a;  // read by the math warps after kv_full
      words[kWordSlotPos + 2 * slot + 1] = pos_b;
      tokens::produce_tiles(row_a, pos_b >= 0, row_b, tmap_k, tmap_s, kv_smem + slot * kStageBytes,
                            scale_smem + slot * kScaleStageFloats * 4, rings.kv_full(slot),
                            has_scale);
    }
    ++gs;
  };
  for (int r = blockIdx.x; r < p.T; r += gridDim.x) {
    const int64_t t = static_cast<int64_t>(p.t0) + r;
    const RowGeometry g = row_of(p, t);
    if (skips_scoring(g, p.order, p.topk)) continue;
    const int32_t* kept = p.kept + static_cast<int64_t>(r) * p.m;
    const uint32_t* mask = p.a_mask + static_cast<int64_t>(r) * p.a_words;
    const FilterStages rs = row_stages(p, g, mask, lane);
    const int qs = static_cast<int>(q_iter % kQStages);
    if (lane == 0) {
      mbar_wait(rings.q_empty(qs), ((q_iter / kQStages) & 1) ^ 1);
      words[kWordQMeta + 2 * qs] = rs.a_stages;
      words[kWordQMeta + 2 * qs + 1] = rs.stages;
      mbar_arrive_expect_tx(rings.q_full(qs), kQBytes + kWBytes);
      tma_load_2d(q_smem + qs * kQBytes, tmap_q, 0, r * tokens::kHeads, rings.q_full(qs));
      bulk_load(w_smem + qs * kWBytes, p.w + t * tokens::kHeads, kWBytes, rings.q_full(qs));
    }
    ++q_iter;
    int pend_row = -1, pend_pos = -1;  // a tile waiting for the second of its stage
    for (int phase = 0; phase < 2; ++phase) {
      for (int c0 = 0; c0 < g.nk; c0 += 32) {
        const int i = c0 + lane;
        bool in = i < g.nk;
        int j = i;
        if (g.all_blocks) {
          in = in && phase == 0;
        } else {
          const bool marked = (__ldg(mask + c0 / 32) >> lane) & 1u;
          in = in && marked == (phase == 0);
          if (in) j = __ldg(kept + i);
        }
        uint32_t bal = __ballot_sync(0xFFFFFFFFu, in);
        while (bal != 0) {  // warp-uniform
          const int b = __ffs(bal) - 1;
          bal &= bal - 1;
          const int blk = __shfl_sync(0xFFFFFFFFu, j, b);
          for (int off = 0; off < p.B; off += kTileKeys) {
            const int pos = (c0 + b) * p.B + off;
            if (pos >= g.cvalid) break;
            const int row = g.ks + blk * p.B + off;
            if (pend_row < 0) {
              pend_row = row;
              pend_pos = pos;
            } else {
              issue(pend_row, pend_pos, row, pos);
              pend_row = -1;
            }
          }
        }
      }
      if (pend_row >= 0) {  // the group's last stage holds one tile
        issue(pend_row, pend_pos, -1, -1);
        pend_row = -1;
      }
    }
  }
}

__global__ void __launch_bounds__(kThreads, 2)
    hisa_tokens_filter_kernel(const __grid_constant__ CUtensorMap tmap_q,
                              const __grid_constant__ CUtensorMap tmap_k,
                              const __grid_constant__ CUtensorMap tmap_s, const HisaParams p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw = sm90::smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  unsigned char* smem = smem_raw + (base - raw);
  const uint32_t q_smem = base + kSmemQ, kv_smem = base + kSmemKV, w_smem = base + kSmemW;
  const uint32_t scale_smem = base + kSmemScale, bars = base + kSmemBar;
  const MbarRings<kQStages, kStages> rings{bars};
  uint32_t* hist = reinterpret_cast<uint32_t*>(smem + kSmemHist);  // [2][kHistBins]
  int* words = reinterpret_cast<int*>(smem + kSmemWords);
  uint32_t* count = reinterpret_cast<uint32_t*>(words + kWordCount);  // [2]
  uint32_t* tau = reinterpret_cast<uint32_t*>(words + kWordTau);      // [2]
  uint32_t* scan = reinterpret_cast<uint32_t*>(words + kWordScan);    // [4]

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int i = threadIdx.x; i < 2 * kHistBins; i += kThreads) hist[i] = 0;
  if (threadIdx.x < 2) count[threadIdx.x] = 0;
  if (threadIdx.x == 0) rings.init(1, kMathWarps, kFullArrivals, 4);  // kv_empty: a warpgroup
  __syncthreads();
  const bool has_scale = p.k_scale != nullptr;

  if (warp >= kMathWarps) {  // ---- producer warp ----
    produce_filtered(p, &tmap_q, &tmap_k, &tmap_s, q_smem, w_smem, kv_smem, scale_smem, words,
                     rings, lane);
    return;
  }

  // ---- math warpgroups ----
  const int wg = warp / 4;
  const int quad = lane % 4;
  const int row = 16 * (warp % 4) + lane / 4 + 8 * (quad & 1);  // row stored by quads 0 and 1
  const float* scales = reinterpret_cast<const float*>(smem + kSmemScale);
  float acc_a[32], acc_b[32];
  uint32_t q_iter = 0, gs = 0, parity = 0;
  for (int r = blockIdx.x; r < p.T; r += gridDim.x) {
    const int64_t t = static_cast<int64_t>(p.t0) + r;
    const RowGeometry g = row_of(p, t);
    if (skips_scoring(g, p.order, p.topk)) {
      if (threadIdx.x == 0) {
        p.cand_begin[r] = 0;
        p.cand_end[r] = 0;
        if (p.cand_tau != nullptr) p.cand_tau[r] = 0;
      }
      continue;
    }
    const int qs = static_cast<int>(q_iter % kQStages);
    mbar_wait(rings.q_full(qs), (q_iter / kQStages) & 1);
    ++q_iter;
    const int a_stages = words[kWordQMeta + 2 * qs], nstages = words[kWordQMeta + 2 * qs + 1];
    const float* wq = reinterpret_cast<const float*>(smem + kSmemW + qs * kWBytes) + 2 * quad;
    float wv[16];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float2 w2 = *reinterpret_cast<const float2*>(wq + 8 * i);
      wv[2 * i] = w2.x;
      wv[2 * i + 1] = w2.y;
    }
    const uint32_t q_tile = q_smem + qs * kQBytes;
    const int par = static_cast<int>(parity & 1);
    ++parity;
    uint32_t* h = hist + par * kHistBins;
    float* s_row = p.scores + static_cast<int64_t>(r) * p.scores_ld;
    uint16_t* pos_row = p.cand_pos + static_cast<int64_t>(r) * p.scores_ld;
    const int scale_row = tokens::scale_shift(g.ks) + row;  // this thread's key in a scale slot

    // One key of a tile: into the histogram (A), and stored at the row's next free slot when
    // kept (all lanes call it: one ballot and one shared atomic per warp).
    auto emit = [&](bool valid, int pos, float v, bool in_a, uint32_t tau_key) {
      const uint32_t key = score_key(v);
      if (in_a && valid) atomicAdd(&h[key >> kKeyShift], 1u);
      const bool keep = valid && (in_a || key >= tau_key);
      const uint32_t bal = __ballot_sync(0xFFFFFFFFu, keep);
      if (bal == 0) return;
      const int leader = __ffs(bal) - 1;
      uint32_t at = 0;
      if (lane == leader) at = atomicAdd(&count[par], static_cast<uint32_t>(__popc(bal)));
      at = __shfl_sync(0xFFFFFFFFu, at, leader) + __popc(bal & ((1u << lane) - 1u));
      if (keep) {
        s_row[at] = v;
        pos_row[at] = static_cast<uint16_t>(pos);
      }
    };
    auto run_stage = [&](int l, bool in_a, uint32_t tau_key) {
      const uint32_t gl = gs + static_cast<uint32_t>(l);
      const int slot = static_cast<int>(gl % kStages);
      mbar_wait(rings.kv_full(slot), (gl / kStages) & 1);
      const int base_a = words[kWordSlotPos + 2 * slot], base_b = words[kWordSlotPos + 2 * slot + 1];
      const uint32_t keys = kv_smem + slot * kStageBytes;
      sm90::fence_operand(acc_a);
      sm90::fence_operand(acc_b);
      sm90::wgmma_fence();
      sm90::wgmma_k128_e4m3(acc_a, keys, q_tile);
      sm90::wgmma_k128_e4m3(acc_b, keys + kTileBytes, q_tile);
      const float* stage_scales = scales + slot * kScaleStageFloats + scale_row;
      const float scale_a = has_scale ? stage_scales[0] : 1.0f;
      const float scale_b = has_scale ? stage_scales[kScaleTileFloats] : 1.0f;
      sm90::wgmma_wait<1>();
      sm90::fence_operand(acc_a);
      {
        const float2 sum = sm90::key_head_sums(acc_a, wv);
        const float s = (quad & 1) ? sum.y : sum.x;
        const int pos = base_a + row;
        emit(quad < 2 && pos < g.cvalid, pos, has_scale ? scale_a * s : s, in_a, tau_key);
      }
      sm90::wgmma_wait<0>();
      sm90::fence_operand(acc_b);
      __syncwarp();
      if (lane == 0) mbar_arrive(rings.kv_empty(slot));
      {
        const float2 sum = sm90::key_head_sums(acc_b, wv);
        const float s = (quad & 1) ? sum.y : sum.x;
        const int pos = base_b + row;
        emit(base_b >= 0 && quad < 2 && pos < g.cvalid, pos, has_scale ? scale_b * s : s, in_a,
             tau_key);
      }
    };

    // This warpgroup's stages: global index parity wg (mod 2). A's first.
    int l = tokens::first_own_stage(wg, gs, kMathWarpgroups);
    for (; l < a_stages; l += kMathWarpgroups) run_stage(l, true, 0u);
    named_sync(1, 32 * kMathWarps);  // A's histogram is complete
    if (wg == 0) {  // tau: the lower edge of the bin of A's k-th largest key (bins from the top)
      constexpr int kPer = kHistBins / 128;
      const int tid = threadIdx.x;
      const uint32_t* mine = h + kHistBins - kPer * (tid + 1);  // bins mine[kPer - 1 - j]
      uint32_t total = 0;
#pragma unroll
      for (int j = 0; j < kPer; ++j) total += mine[j];
      const uint32_t inc = warp_inclusive_sum(total);
      if (lane == 31) scan[warp] = inc;
      if (tid == 0) tau[par] = 0u;  // A holds fewer than k scores: keep everything
      named_sync(2, 128);
      uint32_t above = inc - total;
      for (int w = 0; w < warp; ++w) above += scan[w];
      const uint32_t need = static_cast<uint32_t>(p.topk);
      if (above < need && need <= above + total) {
        for (int j = kPer - 1; j >= 0; --j) {  // this thread's bins from the top
          above += mine[j];
          if (above >= need) {
            tau[par] = static_cast<uint32_t>(kHistBins - kPer * (tid + 1) + j) << kKeyShift;
            break;
          }
        }
      }
    }
    named_sync(1, 32 * kMathWarps);  // tau is written, the histogram read
    const uint32_t tau_key = tau[par];
    if (wg == 1)
      for (int i = threadIdx.x - 128; i < kHistBins; i += 128) h[i] = 0;  // for row + 2
    else if (threadIdx.x == 0 && p.cand_tau != nullptr)
      p.cand_tau[r] = tau_key;
    for (; l < nstages; l += kMathWarpgroups) run_stage(l, false, tau_key);
    named_sync(1, 32 * kMathWarps);  // every pair of the row is stored
    if (threadIdx.x == 0) {
      p.cand_begin[r] = 0;
      p.cand_end[r] = static_cast<int32_t>(count[par]);
      count[par] = 0;  // for row + 2
    }
    gs += static_cast<uint32_t>(nstages);
    __syncwarp();
    if (lane == 0) mbar_arrive(rings.q_empty(qs));
  }
#endif  // __CUDA_ARCH_FEAT_SM90_ALL
}

}  // namespace

bool sm90_filter_tokens_supported(const HisaParams& p) {
  return p.order == 0 && p.B % kTileKeys == 0 && static_cast<int64_t>(p.m) * p.B <= 65536 &&
         sm90_tma_tokens_supported(p) &&
         sm90a_kernel_ready(reinterpret_cast<const void*>(hisa_tokens_filter_kernel));
}

void launch_sm90_filter_tokens(const HisaParams& p, cudaStream_t st) {
  if (p.T == 0) return;
  const bool ok = sm90_filter_tokens_supported(p) && p.a_mask != nullptr &&
                  p.cand_pos != nullptr && p.a_words * 32 >= p.m;
  const tokens::LaunchInputs in = tokens::launch_inputs(p, "filtered tokens", ok);
  HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(hisa_tokens_filter_kernel,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           kSmemAlloc),
                      in.ctx);
  const int sms = current_device_properties().multiProcessorCount;
  const int grid = static_cast<int>(std::min<int64_t>(p.T, int64_t{2} * sms));
  hisa_tokens_filter_kernel<<<grid, kThreads, kSmemAlloc, st>>>(in.map_q, in.map_k, in.map_s, p);
  HISA_CUDA_CHECK_LAUNCH("hisa_tokens_filter_kernel", in.ctx);
}

}  // namespace hisa::cuda
