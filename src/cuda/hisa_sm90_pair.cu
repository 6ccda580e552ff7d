// HISA on Hopper tensor cores, two neighbouring queries per CTA (sm_90a, H = 64, D = 128, FP8
// e4m3 or bf16, B a multiple of 64). Same arithmetic as the one-query kernels (hisa_sm90.cu,
// docs/cuda_hisa.md), same outputs; what changes is how often a key tile is loaded:
//
//   stage 1: two queries of one sequence (same ks) score the same pooled tiles, so each tile is
//            loaded once and multiplied against both (their middle-block counts differ by at
//            most a few tiles; a tile past one query's range is multiplied for the other only);
//   stage 2: the tiles are those of the union of the two kept-block lists (pair_union); a tile
//            is multiplied against the queries that kept its block and scored into each one's
//            own candidate positions, so each query's selection sees exactly its own candidates.
//
// Queries of different sequences (ks differ) in one CTA are served one after the other from
// the same ring. Blocks that both queries keep (the first, the local ones, shared topics) cost
// one load and one m64n128 MMA instead of two loads and two m64n64; blocks one query keeps
// cost what they cost in the one-query kernel.
#include <string>

#include "cuda/common.cuh"
#include "cuda/hisa_block_ops.cuh"
#include "cuda/hisa_launch.cuh"
#include "cuda/hisa_pair_loop.cuh"
#include "cuda/hisa_rows.cuh"
#include "cuda/hisa_sm90_tile.cuh"

#pragma nv_diag_suppress 177

namespace hisa::cuda {
namespace {

using namespace sm90;
using hisa_ops::SelectScratch;

// Most blocks one query's stage-2 list holds: m kept, or every block of a short row.
__host__ __device__ inline int pair_list_max(const HisaParams& p) {
  const int small = ((p.topk < p.S ? p.topk : p.S) + p.B - 1) / p.B;
  return p.m > small ? p.m : small;
}

struct PairCarve {
  size_t qtiles, stages, keys, lists, scale, scratch, total;
};
// qtiles: two query tiles | ring (aliased after the loop by the sort buffer and the select
// scratch) | keys[2][nkeys] | lists (int32: own0, own1 [L], union, slot0, slot1 [2L], fpre
// [L + 1]) | k_scale per ring slot.
template <int E>
__host__ __device__ inline PairCarve pair_carve(int nkeys, int L, int kpad, bool scales) {
  using S = TileShape<E>;
  PairCarve c{};
  size_t o = 0;
  c.qtiles = o;  o += 2 * S::kTileBytes;
  c.stages = o;
  const size_t ring = static_cast<size_t>(S::kStages) * S::kTileBytes;
  const size_t sort = sizeof(uint64_t) * static_cast<size_t>(kpad > kRegSortItems ? kpad : kRegSortItems);
  const size_t after = sort + sizeof(SelectScratch);
  c.scratch = o + sort;
  o += ring > after ? ring : after;
  c.keys = o;   o = (o + 2 * sizeof(uint32_t) * nkeys + 15) / 16 * 16;
  c.lists = o;  o = (o + sizeof(int32_t) * (8 * static_cast<size_t>(L) + 1) + 15) / 16 * 16;
  c.scale = o;  o += scales ? sizeof(float) * S::kStages * kRows : 0;
  c.total = o + 1024;
  return c;
}

// Stage-1 carve: two bf16 query tiles | bf16 ring (aliased by the select scratch) | jkeys[2][nb].
__host__ __device__ inline PairCarve pair_blocks_carve(int nbmax) {
  using S = TileShape<2>;
  PairCarve c{};
  size_t o = 0;
  c.qtiles = o;  o += 2 * S::kTileBytes;
  c.stages = o;
  c.scratch = o;
  const size_t ring = static_cast<size_t>(S::kStages) * S::kTileBytes;
  o += ring > sizeof(SelectScratch) ? ring : sizeof(SelectScratch);
  c.keys = o;   o = (o + 2 * sizeof(uint32_t) * nbmax + 15) / 16 * 16;
  c.total = o + 1024;
  return c;
}

// Query 1 of a CTA whose chunk has an odd number of rows: no work.
__device__ inline RowGeometry absent_row() {
  RowGeometry g{};
  g.all_blocks = true;
  return g;
}

// Stage 1: kept blocks of chunk rows 2 * blockIdx.x and 2 * blockIdx.x + 1.
__global__ void __launch_bounds__(kThreads) sm90_pair_blocks_kernel(HisaParams p) {
#ifdef HISA_SM90
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const int r0 = 2 * static_cast<int>(blockIdx.x);
  const bool two = r0 + 1 < p.T;
  const int64_t t0 = p.t0 + r0;
  const RowGeometry g0 = row_of(p, t0), g1 = two ? row_of(p, t0 + 1) : absent_row();
  const bool need0 = !g0.all_blocks, need1 = !g1.all_blocks;
  if (!need0 && !need1) return;
  unsigned char* smem = aligned_base(smem_raw);
  const PairCarve c = pair_blocks_carve(p.nbmax);
  auto& sc = *reinterpret_cast<SelectScratch*>(smem + c.scratch);
  uint32_t* const jkeys0 = reinterpret_cast<uint32_t*>(smem + c.keys);
  uint32_t* const jkeys1 = jkeys0 + p.nbmax;
  constexpr int kQ = TileShape<2>::kTileBytes;
  for (int q = 0; q < 2; ++q) {
    if (q == 1 && !two) break;
    const int64_t qrow = (t0 + q) * kRows * kD;
    if (p.dtype == DType::fp8_e4m3) {
      load_q_fp8_as_bf16(static_cast<const uint8_t*>(p.q) + qrow, smem + c.qtiles + q * kQ);
    } else {
      load_q_async<2>(static_cast<const uint8_t*>(p.q) + qrow * 2, smem + c.qtiles + q * kQ);
    }
  }
  cp_async_commit();
  float wv[2][16];
  load_head_weights(p.w + t0 * kRows, wv[0]);
  load_head_weights(p.w + (two ? t0 + 1 : t0) * kRows, wv[1]);
  const int row = stored_row();

  const int nmid0 = need0 ? g0.nb - 2 : 0, nmid1 = need1 ? g1.nb - 2 : 0;
  const bool shared = need0 && need1 && g0.ks == g1.ks;
  const int nt0 = (nmid0 + kRows - 1) / kRows, nt1 = (nmid1 + kRows - 1) / kRows;
  const int ntiles = shared ? (nt0 > nt1 ? nt0 : nt1) : nt0 + nt1;
  const unsigned char* pooled = static_cast<const unsigned char*>(p.pooled);
  const int64_t row_bytes = kD * 2, stride = static_cast<int64_t>(p.B) * row_bytes;
  auto tile_at = [&](int i) {
    PairTile t;
    t.stride = stride;
    const bool second = !shared && i >= nt0;  // separate passes: query 1's tiles
    const int lt = second ? i - nt0 : i;
    const int64_t first = static_cast<int64_t>(second ? g1.ks : g0.ks) +
                          static_cast<int64_t>(lt * kRows + 1) * p.B;
    t.base = pooled + first * row_bytes;
    t.pos[0] = t.pos[1] = lt * kRows;
    if (shared) {
      t.active = (nmid0 > lt * kRows ? 1 : 0) | (nmid1 > lt * kRows ? 2 : 0);
      t.rows = (nmid0 > nmid1 ? nmid0 : nmid1) - lt * kRows;
    } else {
      t.active = second ? 2 : 1;
      t.rows = (second ? nmid1 : nmid0) - lt * kRows;
    }
    return t;
  };
  auto epi = [&](float(&acc)[64], int, const PairTile& t) {
#pragma unroll
    for (int q = 0; q < 2; ++q) {
      if (!((t.active >> q) & 1)) continue;
      const float2 J = key_head_sums(acc_half(acc, q), wv[q]);
      const int pos = t.pos[q] + row;
      if (row >= 0 && pos < (q ? nmid1 : nmid0))
        (q ? jkeys1 : jkeys0)[pos] = hisa_ops::score_key((threadIdx.x & 1) ? J.y : J.x);
    }
  };
  pair_mma_loop<2>(smem + c.qtiles, smem + c.stages, ntiles, tile_at,
                   [](int, int, const PairTile&) {}, epi);
  if (need0) finish_blocks(g0, p.m, jkeys0, p.kept + static_cast<int64_t>(r0) * p.m, sc);
  __syncthreads();
  if (need1) finish_blocks(g1, p.m, jkeys1, p.kept + static_cast<int64_t>(r0 + 1) * p.m, sc);
#elif defined(__CUDA_ARCH__)
  __trap();  // never launched off sm_90a (hisa_select.cu checks the device)
#endif
}

// Stage 2: idx rows of chunk rows 2 * blockIdx.x and 2 * blockIdx.x + 1 (E = 1 FP8, 2 bf16).
// kSelect = false (benchmark hook) stops after scoring.
template <int E, bool kSelect>
__global__ void __launch_bounds__(kThreads) sm90_pair_tokens_kernel(HisaParams p) {
#ifdef HISA_SM90
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const int r0 = 2 * static_cast<int>(blockIdx.x);
  const bool two = r0 + 1 < p.T;
  const int64_t t0 = p.t0 + r0;
  const RowGeometry g0 = row_of(p, t0), g1 = two ? row_of(p, t0 + 1) : absent_row();
  unsigned char* smem = aligned_base(smem_raw);
  const int L = pair_list_max(p);
  const PairCarve c = pair_carve<E>(p.cmax, L, p.kpad, p.k_scale != nullptr);
  auto& sc = *reinterpret_cast<SelectScratch*>(smem + c.scratch);
  uint32_t* const keys0 = reinterpret_cast<uint32_t*>(smem + c.keys);
  uint32_t* const keys1 = keys0 + p.cmax;
  int32_t* const own0 = reinterpret_cast<int32_t*>(smem + c.lists);
  int32_t* const own1 = own0 + L;
  int32_t* const uni = own0 + 2 * L;
  int32_t* const slot0 = own0 + 4 * L;
  int32_t* const slot1 = own0 + 6 * L;
  int32_t* const fpre = own0 + 8 * L;
  uint64_t* sortbuf = reinterpret_cast<uint64_t*>(smem + c.stages);  // after the MMA loop
  float* ksc = reinterpret_cast<float*>(smem + c.scale);
  constexpr int kQ = TileShape<E>::kTileBytes;

  const uint8_t* qbytes = static_cast<const uint8_t*>(p.q);
  load_q_async<E>(qbytes + t0 * kRows * kD * E, smem + c.qtiles);
  if (two) load_q_async<E>(qbytes + (t0 + 1) * kRows * kD * E, smem + c.qtiles + kQ);
  cp_async_commit();
  for (int i = threadIdx.x; i < g0.nk; i += kThreads)
    own0[i] = g0.all_blocks ? i : p.kept[static_cast<int64_t>(r0) * p.m + i];
  for (int i = threadIdx.x; i < g1.nk; i += kThreads)
    own1[i] = g1.all_blocks ? i : p.kept[static_cast<int64_t>(r0 + 1) * p.m + i];
  __syncthreads();
  const bool shared = two && g0.ks == g1.ks;
  const int nu = shared ? pair_union(own0, g0.nk, own1, g1.nk, uni, slot0, slot1, fpre, sc) : 0;
  float wv[2][16];
  load_head_weights(p.w + t0 * kRows, wv[0]);
  load_head_weights(p.w + (two ? t0 + 1 : t0) * kRows, wv[1]);
  const int row = stored_row();

  const int tpb = p.B / kRows;  // tiles per block (B % 64 == 0)
  const int nt0 = (g0.cvalid + kRows - 1) / kRows, nt1 = (g1.cvalid + kRows - 1) / kRows;
  const int ntiles = shared ? nu * tpb : nt0 + nt1;
  const unsigned char* kbytes = static_cast<const unsigned char*>(p.k);
  constexpr int64_t kRowBytes = kD * E;
  auto tile_at = [&](int i) {
    PairTile t;
    t.stride = kRowBytes;
    int64_t tok;
    if (shared) {
      const int ui = i / tpb, sub = i - ui * tpb;
      tok = g0.ks + static_cast<int64_t>(uni[ui]) * p.B + sub * kRows;
      const int s0 = slot0[ui], s1 = slot1[ui];
      t.pos[0] = s0 * p.B + sub * kRows;
      t.pos[1] = s1 * p.B + sub * kRows;
      t.active = (s0 >= 0 && t.pos[0] < g0.cvalid ? 1 : 0) | (s1 >= 0 && t.pos[1] < g1.cvalid ? 2 : 0);
      const int64_t left = static_cast<int64_t>(p.S) - tok;
      t.rows = left < kRows ? static_cast<int>(left > 0 ? left : 0) : kRows;
    } else {
      const bool second = i >= nt0;  // separate passes: query 1's tiles
      const int pos = (second ? i - nt0 : i) * kRows;
      const int b = pos / p.B;
      const int cv = second ? g1.cvalid : g0.cvalid;
      tok = (second ? g1.ks : g0.ks) + static_cast<int64_t>((second ? own1 : own0)[b]) * p.B + (pos - b * p.B);
      t.active = second ? 2 : 1;
      t.pos[0] = t.pos[1] = pos;
      t.rows = cv - pos < kRows ? cv - pos : kRows;
    }
    if (t.rows == 0) tok = 0;
    t.base = kbytes + tok * kRowBytes;
    return t;
  };
  // k_scale of the tile's 64 rows rides in the tile's cp.async group.
  auto side = [&](int, int s, const PairTile& t) {
    if (p.k_scale == nullptr || threadIdx.x >= kRows) return;
    const bool ok = static_cast<int>(threadIdx.x) < t.rows;
    const int64_t tok = (t.base - kbytes) / kRowBytes + threadIdx.x;
    cp_async4(smem_addr(ksc + s * kRows + threadIdx.x), p.k_scale + (ok ? tok : 0), ok ? 4u : 0u);
  };
  auto epi = [&](float(&acc)[64], int i, const PairTile& t) {
    const float scale = (p.k_scale != nullptr && row >= 0)
                            ? ksc[(i % TileShape<E>::kStages) * kRows + row] : 1.0f;
#pragma unroll
    for (int q = 0; q < 2; ++q) {
      if (!((t.active >> q) & 1)) continue;
      const float2 sum = key_head_sums(acc_half(acc, q), wv[q]);
      const int pos = t.pos[q] + row;
      if (row >= 0 && pos < (q ? g1.cvalid : g0.cvalid)) {
        float s = (threadIdx.x & 1) ? sum.y : sum.x;
        if (p.k_scale != nullptr) s = scale * s;
        (q ? keys1 : keys0)[pos] = hisa_ops::score_key(s);
      }
    }
  };
  pair_mma_loop<E>(smem + c.qtiles, smem + c.stages, ntiles, tile_at, side, epi);
  auto finish = [&](const RowGeometry& gq, const int32_t* ownq, const uint32_t* keysq, int64_t t) {
    int32_t* out_row = p.out + t * p.topk;
    if constexpr (kSelect) {
      auto token = [&](int pos) -> int32_t {
        const int b = pos / p.B;
        return gq.ks + ownq[b] * p.B + (pos - b * p.B);
      };
      const RowOrder order = row_order(p.order, true);  // positions follow the kept blocks
      if (p.kpad > kRegSortItems / 2 && p.kpad <= kRegSortItems)
        finish_tokens<kRegSortItems / 128>(gq, p.topk, keysq, token, sortbuf, sc, out_row, order);
      else
        finish_tokens<0>(gq, p.topk, keysq, token, sortbuf, sc, out_row, order);
      __syncthreads();  // the sort buffer and scratch serve the next query
    } else {
      if (threadIdx.x == 0 && gq.cvalid > 0) out_row[0] = static_cast<int32_t>(keysq[gq.cvalid - 1]);
    }
  };
  finish(g0, own0, keys0, t0);
  if (two) finish(g1, own1, keys1, t0 + 1);
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}

void set_smem(const void* kernel, size_t bytes) {
  HISA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(bytes)));
}

std::string shape_context(const HisaParams& p) {
  return "T=" + std::to_string(p.T) + " S=" + std::to_string(p.S) + " B=" + std::to_string(p.B) +
         " m=" + std::to_string(p.m) + " topk=" + std::to_string(p.topk) + " (query pairs)";
}

bool g_pair_score_only = false;

template <int E, bool kSelect>
void launch_pair_tokens(const HisaParams& p, size_t bytes, cudaStream_t st) {
  set_smem(reinterpret_cast<const void*>(&sm90_pair_tokens_kernel<E, kSelect>), bytes);
  sm90_pair_tokens_kernel<E, kSelect><<<(p.T + 1) / 2, kThreads, bytes, st>>>(p);
}

}  // namespace

bool sm90_pair_supported(const HisaParams& p) {
  return sm90_supported(p) && !p.lists && p.B % kRows == 0;
}

std::size_t sm90_pair_blocks_smem(const HisaParams& p) { return pair_blocks_carve(p.nbmax).total; }

std::size_t sm90_pair_tokens_smem(const HisaParams& p) {
  const bool scales = p.k_scale != nullptr;
  const int L = pair_list_max(p);
  return p.dtype == DType::fp8_e4m3 ? pair_carve<1>(p.cmax, L, p.kpad, scales).total
                                    : pair_carve<2>(p.cmax, L, p.kpad, scales).total;
}

void hisa_bench_pair_score_only(bool on) { g_pair_score_only = on; }

void launch_sm90_pair_blocks(const HisaParams& p, cudaStream_t st) {
  if (p.T == 0) return;
  const size_t bytes = sm90_pair_blocks_smem(p);
  set_smem(reinterpret_cast<const void*>(&sm90_pair_blocks_kernel), bytes);
  sm90_pair_blocks_kernel<<<(p.T + 1) / 2, kThreads, bytes, st>>>(p);
  HISA_CUDA_CHECK_LAUNCH("sm90_pair_blocks_kernel", shape_context(p));
}

void launch_sm90_pair_tokens(const HisaParams& p, cudaStream_t st) {
  if (p.T == 0) return;
  const size_t bytes = sm90_pair_tokens_smem(p);
  const bool fp8 = p.dtype == DType::fp8_e4m3;
  if (g_pair_score_only) {
    if (fp8) launch_pair_tokens<1, false>(p, bytes, st);
    else launch_pair_tokens<2, false>(p, bytes, st);
  } else {
    if (fp8) launch_pair_tokens<1, true>(p, bytes, st);
    else launch_pair_tokens<2, true>(p, bytes, st);
  }
  HISA_CUDA_CHECK_LAUNCH("sm90_pair_tokens_kernel", shape_context(p));
}

}  // namespace hisa::cuda
