// HISA on Hopper tensor cores (sm_90a, H = 64, D = 128, FP8 e4m3 or bf16): one CTA = one
// warpgroup = one query. Each tile of 64 keys (pooled keys in stage 1, kept-block tokens in
// stage 2) is the M = 64 operand A of the wgmma, the 64 heads of the query are N = 64 (operand
// B), D = 128 is K. With keys on M, a thread's accumulators hold 2 keys x 16 heads, so the
// weighted head sum is 16 in-thread FMAs per key and 2 shuffles inside the lane quad: no shared
// memory and no CTA barrier in the epilogue. Tiles stream through a ring of shared-memory stages
// by cp.async (affine rows when the tile is contiguous or strided in global memory, else
// gathered row by row, so any block size and the partial local block work) while the MMA and
// the epilogue of the current tile run; the epilogue does
// ReLU, x w, the head sum and x k_scale. Scores stay in shared memory as ranking keys;
// selection and sort are hisa_rows.cuh. Nothing per candidate goes to global memory.
//
// Stage 1 runs in bf16 (pooled keys rounded to bf16, q exact in bf16); stage 2 in the input
// dtype (FP8 e4m3 or bf16). Accumulation is f32 in the tensor cores, in their order: this path
// matches the CPU backend up to the documented tolerance (docs/cuda_hisa.md), not bitwise.
#include <string>

#include "cuda/common.cuh"
#include "cuda/hisa_block_ops.cuh"
#include "cuda/hisa_launch.cuh"
#include "cuda/hisa_rows.cuh"
#include "cuda/hisa_shared_tiles.cuh"
#include "cuda/hisa_sm90_tile.cuh"
#include "cuda/hisa_wgmma.cuh"

// TileShape members and helpers are unused in the non-sm_90a passes, where kernels are stubs.
#pragma nv_diag_suppress 177

namespace hisa::cuda {
namespace {

using namespace sm90;
using hisa_ops::SelectScratch;

// Stage 1: kept blocks of query t0 + blockIdx.x (bf16 MMA against the bf16 pooled table).
__global__ void __launch_bounds__(kThreads) sm90_blocks_kernel(HisaParams p) {
#ifdef HISA_SM90
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const int64_t t = p.t0 + blockIdx.x;
  const RowGeometry g = row_of(p, t);
  if (g.all_blocks) return;
  unsigned char* smem = aligned_base(smem_raw);
  const Carve c = carve<2>(p.nbmax, 0, 1, false);
  auto& sc = *reinterpret_cast<SelectScratch*>(smem + c.scratch);
  uint32_t* jkeys = reinterpret_cast<uint32_t*>(smem + c.keys);

  const int64_t qrow = t * kRows * kD;
  if (p.dtype == DType::fp8_e4m3) {
    load_q_fp8_as_bf16(static_cast<const uint8_t*>(p.q) + qrow, smem + c.qtile);
  } else {
    load_q_async<2>(static_cast<const uint8_t*>(p.q) + qrow * 2, smem + c.qtile);
    cp_async_commit();
  }
  float wv[16];
  load_head_weights(p.w + t * kRows, wv);
  const int row = stored_row();

  const int nmid = g.nb - 2;
  const unsigned char* pooled = static_cast<const unsigned char*>(p.pooled);
  auto row_ptr = [&](int pos) {
    return pooled + (static_cast<int64_t>(g.ks) + static_cast<int64_t>(pos + 1) * p.B) * (kD * 2);
  };
  auto epi = [&](float(&acc)[32], int tile) {
    const float2 J = key_head_sums(acc, wv);
    const int pos = tile * kRows + row;
    if (row >= 0 && pos < nmid) jkeys[pos] = hisa_ops::score_key((threadIdx.x & 1) ? J.y : J.x);
  };
  const int64_t row_bytes = kD * 2, stride = static_cast<int64_t>(p.B) * row_bytes;
  auto affine = [&](int tile) {
    return AffineRows{row_ptr(tile * kRows), stride};
  };
  mma_loop<2, true>(smem + c.qtile, smem + c.stages, (nmid + kRows - 1) / kRows, nmid, true,
                    affine, row_ptr, [](int, int) {}, epi);
  finish_blocks(g, p.m, jkeys, p.kept + static_cast<int64_t>(blockIdx.x) * p.m, sc);
#elif defined(__CUDA_ARCH__)
  __trap();  // never launched off sm_90a (hisa_select.cu checks the device)
#endif
}

// Stage 2: idx row of query t0 + blockIdx.x; MMA in the input dtype (E = 1 FP8, 2 bf16).
// kSelect = false (benchmark hook only) stops after scoring: the selection's share of the time.
// kList (MISA re-scoring): the candidates are the row's list p.kept[r * m ..] (or its whole
// range), not kept blocks (hisa_launch.cuh, misa_row_geometry).
// kStream: the streaming selection (p.stream_cap items; see the kStream branch below).
// kShared (with kStream): shared_candidates, the row's blocks are its tile's union
// (hisa_shared_tiles.cuh) instead of its own kept list.
// kGlobal (two-pass, p.scores): every candidate's f32 score goes to p.scores and the row's
// range to p.cand_begin/cand_end; no selection here (hisa_select.cu runs the radix top-k).
template <int E, bool kSelect, bool kList, bool kStream = false, bool kShared = false,
          bool kGlobal = false>
__global__ void __launch_bounds__(kThreads) sm90_tokens_kernel(HisaParams p) {
#ifdef HISA_SM90
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const int64_t t = p.t0 + blockIdx.x;
  RowGeometry g = kList ? misa_row_of(p, t) : row_of(p, t);
  unsigned char* smem = aligned_base(smem_raw);
  const Carve c = carve<E>(kStream || kGlobal ? 0 : p.cmax, kShared ? shared_list_ints(p) : p.m, p.kpad,
                           p.k_scale != nullptr, kStream ? p.stream_cap : 0);
  auto& sc = *reinterpret_cast<SelectScratch*>(smem + c.scratch);
  uint32_t* keys = reinterpret_cast<uint32_t*>(smem + c.keys);
  int32_t* blocks = reinterpret_cast<int32_t*>(smem + c.blocks);
  uint64_t* sortbuf = reinterpret_cast<uint64_t*>(smem + c.stages);  // after the MMA loop
  uint64_t* items = reinterpret_cast<uint64_t*>(smem + c.items);
  auto& ss = *reinterpret_cast<StreamState*>(smem + c.state);

  load_q_async<E>(static_cast<const uint8_t*>(p.q) + t * kRows * kD * E, smem + c.qtile);
  cp_async_commit();
  if (!kShared && !g.all_blocks)
    for (int i = threadIdx.x; i < p.m; i += kThreads)
      blocks[i] = p.kept[static_cast<int64_t>(blockIdx.x) * p.m + i];
  if (kStream && threadIdx.x == 0) {
    ss.count = 0;
    ss.have = 0;
  }
  __syncthreads();
  int32_t* out_row = p.out + t * p.topk;
  // Key row of candidate position pos (g is final for kShared once tile_union_blocks ran).
  const hisa_ops::BlockSplit split(p.B);
  auto token = [&](int pos) -> int32_t {
    if constexpr (kList) {
      return g.all_blocks ? g.ks + pos : blocks[pos];
    } else {
      const int i = split.block(pos);
      const int j = g.all_blocks ? i : blocks[i];
      return g.ks + j * p.B + split.offset(pos);
    }
  };
  if constexpr (kGlobal) {
    if (threadIdx.x == 0) {
      p.cand_begin[blockIdx.x] = 0;
      p.cand_end[blockIdx.x] = g.cvalid;
    }
    // Index order with every candidate selected: the top-k writes positions 0.. without
    // reading scores.
    if (p.order != 0 && g.cvalid <= p.topk) {
      cp_async_wait<0>();  // the query tile's copy
      return;
    }
  }
  if constexpr (kSelect && !kList && !kShared && !kGlobal) {
    // Order::index and every candidate selected (block-sparse rows, rows within topk): the row
    // is the candidates in position order, which ascends with the token; no scores needed.
    if (p.order != 0 && g.cvalid <= p.topk) {
      for (int i = threadIdx.x; i < p.topk; i += kThreads) out_row[i] = i < g.cvalid ? token(i) : -1;
      cp_async_wait<0>();  // the query tile's copy
      return;
    }
  }
  if constexpr (kShared) {
    if (!g.all_blocks) {  // every block of an all-blocks row is in its tile's union anyway
      g.nk = tile_union_blocks(p, t, g, blocks, reinterpret_cast<uint32_t*>(blocks + p.list_max), ss.sc);
      g.cvalid = (g.nk - 1) * p.B + (g.n - (g.nb - 1) * p.B);  // the local block is the last
      g.K = g.cvalid < p.topk ? g.cvalid : p.topk;
    }
  }
  float wv[16];
  load_head_weights(p.w + t * kRows, wv);
  const int row = stored_row();

  float* ksc = reinterpret_cast<float*>(smem + c.scale);
  // k_scale of the tile's 64 rows rides in the tile's cp.async group (no load in the epilogue).
  auto side = [&](int tile, int slot) {
    if (p.k_scale == nullptr || threadIdx.x >= kRows) return;
    const int pos = tile * kRows + threadIdx.x;
    const bool ok = pos < g.cvalid;
    cp_async4(smem_addr(ksc + slot * kRows + threadIdx.x), p.k_scale + (ok ? token(pos) : 0),
              ok ? 4u : 0u);
  };
  const unsigned char* kbytes = static_cast<const unsigned char*>(p.k);
  auto row_ptr = [&](int pos) { return kbytes + static_cast<int64_t>(token(pos)) * (kD * E); };
  auto score = [&](float(&acc)[32], int tile) {
    const float2 sum = key_head_sums(acc, wv);
    float s = (threadIdx.x & 1) ? sum.y : sum.x;
    if (p.k_scale != nullptr && row >= 0) s = ksc[(tile % TileShape<E>::kStages) * kRows + row] * s;
    return s;
  };
  // A tile of 64 candidates lies inside one kept block when B % 64 == 0, and every tile is
  // contiguous when all blocks are kept: then the tile's key rows are contiguous in k.
  const bool contiguous = g.all_blocks || (!kList && p.B % kRows == 0);
  auto affine = [&](int tile) { return AffineRows{row_ptr(tile * kRows), kD * E}; };
  const int ntiles = (g.cvalid + kRows - 1) / kRows;
  if constexpr (kStream) {
    // Streaming selection: candidates are appended as (key << 32 | token) items (one atomic per
    // warp and tile), but once the buffer has been drained a candidate that the running
    // threshold does not select is dropped at once: K items that beat it are already held,
    // and held items leave only for better ones. drain() keeps the top K of the buffer
    // (radix select) and compacts it in place, chunk by chunk so that no write overtakes a
    // read. The buffer (p.stream_cap >= K + 128) never overflows: drain runs when the count
    // seen before the tile barrier, plus one tile still being appended and the next one, could
    // pass it. Exactly the same rows as keeping every key (ties to the larger token, NaN last).
    const int cap = p.stream_cap;
    hisa_ops::Threshold thr{0u, 0u};
    bool have = false;
    auto key_of = [&](int i) { return static_cast<uint32_t>(items[i] >> 32); };
    auto tok_of = [&](int i) { return static_cast<uint32_t>(items[i]); };
    auto drain_now = [&]() {
      const int n = static_cast<int>(ss.count);
      thr = hisa_ops::block_select_top(n, g.K, key_of, tok_of, ss.sc);
      have = true;
      const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
      uint32_t base = 0;
      for (int c0 = 0; c0 < n; c0 += kThreads) {
        const int i = c0 + static_cast<int>(threadIdx.x);
        uint64_t it = 0;
        bool sel = false;
        if (i < n) {
          it = items[i];
          sel = thr.selects(static_cast<uint32_t>(it >> 32), static_cast<uint32_t>(it));
        }
        const uint32_t ballot = __ballot_sync(0xffffffffu, sel);
        if (lane == 0) ss.sc.warp_sums[warp] = __popc(ballot);
        __syncthreads();
        uint32_t off = base, total = 0;
#pragma unroll
        for (int w = 0; w < kThreads / 32; ++w) {
          const uint32_t cw = ss.sc.warp_sums[w];
          off += w < warp ? cw : 0u;
          total += cw;
        }
        if (sel) items[off + __popc(ballot & ((1u << lane) - 1u))] = it;
        base += total;
        __syncthreads();  // warp_sums is rewritten by the next chunk
      }
      if (threadIdx.x == 0) ss.count = base;
      __syncthreads();
    };
    // The count read before the tile barrier may miss the last tile's appends (<= 64) and the
    // next tile appends <= 64 more.
    const volatile uint32_t* seen = &ss.count;
    const auto hook = drain_with([=]() { return *seen + 2 * kRows > static_cast<uint32_t>(cap); },
                                 drain_now);
    auto epi = [&](float(&acc)[32], int tile) {
      const float s = score(acc, tile);
      const int pos = tile * kRows + row;
      bool keep = false;
      uint64_t item = 0;
      if (row >= 0 && pos < g.cvalid) {
        const uint32_t key = hisa_ops::score_key(s), tok = static_cast<uint32_t>(token(pos));
        keep = !have || thr.selects(key, tok);
        item = (static_cast<uint64_t>(key) << 32) | tok;
      }
      const int lane = threadIdx.x & 31;
      const uint32_t ballot = __ballot_sync(0xffffffffu, keep);
      uint32_t at = 0;
      if (lane == 0 && ballot != 0u) at = atomicAdd(&ss.count, static_cast<uint32_t>(__popc(ballot)));
      at = __shfl_sync(0xffffffffu, at, 0);
      if (keep) items[at + __popc(ballot & ((1u << lane) - 1u))] = item;
    };
    mma_loop<E, E == 2>(smem + c.qtile, smem + c.stages, ntiles, g.cvalid, contiguous, affine,
                        row_ptr, side, epi, hook);
    const int n = static_cast<int>(ss.count);
    if (p.kpad > kRegSortItems / 2 && p.kpad <= kRegSortItems)
      finish_select<kRegSortItems / 128>(n, g.K, p.topk, key_of, tok_of, sortbuf, ss.sc, out_row,
                                         row_order(p.order, false));
    else
      finish_select<0>(n, g.K, p.topk, key_of, tok_of, sortbuf, ss.sc, out_row,
                       row_order(p.order, false));
  } else {
    float* scores_row = kGlobal ? p.scores + static_cast<int64_t>(blockIdx.x) * p.scores_ld : nullptr;
    auto epi = [&](float(&acc)[32], int tile) {
      const float s = score(acc, tile);
      const int pos = tile * kRows + row;
      if (row >= 0 && pos < g.cvalid) {
        if constexpr (kGlobal) scores_row[pos] = s;
        else keys[pos] = hisa_ops::score_key(s);
      }
    };
    mma_loop<E, E == 2>(smem + c.qtile, smem + c.stages, ntiles, g.cvalid, contiguous, affine,
                        row_ptr, side, epi);
    if constexpr (kGlobal) {
      // The scores are the output.
    } else if constexpr (kSelect) {
      // Kept blocks ascend and positions follow them (lists: any order).
      const RowOrder order = row_order(p.order, !kList);
      if (p.kpad > kRegSortItems / 2 && p.kpad <= kRegSortItems)  // sort in registers
        finish_tokens<kRegSortItems / 128>(g, p.topk, keys, token, sortbuf, sc, out_row, order);
      else
        finish_tokens<0>(g, p.topk, keys, token, sortbuf, sc, out_row, order);
    } else {
      __syncthreads();
      if (threadIdx.x == 0 && g.cvalid > 0) out_row[0] = static_cast<int32_t>(keys[g.cvalid - 1]);
    }
  }
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
         " m=" + std::to_string(p.m) + " topk=" + std::to_string(p.topk);
}

}  // namespace

bool sm90_supported(const HisaParams& p) {
  return p.H == kRows && p.D == kD && (p.dtype == DType::fp8_e4m3 || p.dtype == DType::bf16);
}

std::size_t sm90_blocks_smem(const HisaParams& p) {
  return carve<2>(p.nbmax, 0, 1, false).total;
}
std::size_t sm90_tokens_smem(const HisaParams& p) {
  const bool scales = p.k_scale != nullptr;
  const int nkeys = p.stream_cap > 0 || p.scores_ld > 0 ? 0 : p.cmax;
  const int nblocks = p.shared_tiles ? shared_list_ints(p) : p.m;
  return p.dtype == DType::fp8_e4m3 ? carve<1>(nkeys, nblocks, p.kpad, scales, p.stream_cap).total
                                    : carve<2>(nkeys, nblocks, p.kpad, scales, p.stream_cap).total;
}

int sm90_stream_cap(const HisaParams& p) {
  // Room for K survivors plus at least 2 * 64 new items, at least 2 * kpad.
  const int k = p.kpad < 512 ? 512 : p.kpad;
  return 2 * k;
}

void launch_sm90_blocks(const HisaParams& p, cudaStream_t st) {
  if (p.T == 0) return;
  const size_t bytes = sm90_blocks_smem(p);
  set_smem(reinterpret_cast<const void*>(&sm90_blocks_kernel), bytes);
  sm90_blocks_kernel<<<p.T, kThreads, bytes, st>>>(p);
  HISA_CUDA_CHECK_LAUNCH("sm90_blocks_kernel", shape_context(p));
}

namespace {
bool g_score_only = false;
template <int E, bool kSelect, bool kList = false, bool kStream = false, bool kShared = false,
          bool kGlobal = false>
void launch_tokens(const HisaParams& p, size_t bytes, cudaStream_t st) {
  auto* kernel = &sm90_tokens_kernel<E, kSelect, kList, kStream, kShared, kGlobal>;
  set_smem(reinterpret_cast<const void*>(kernel), bytes);
  kernel<<<p.T, kThreads, bytes, st>>>(p);
}
}  // namespace

void hisa_bench_score_only(bool on) {
  g_score_only = on;
  hisa_bench_pair_score_only(on);
}
bool hisa_bench_score_only_enabled() { return g_score_only; }

void launch_sm90_tokens(const HisaParams& p, cudaStream_t st) {
  if (p.T == 0) return;
  const size_t bytes = sm90_tokens_smem(p);
  const bool fp8 = p.dtype == DType::fp8_e4m3;
  if (p.scores != nullptr) {  // two-pass: hisa_select sets it only without lists/tiles/stream
    if (fp8) launch_tokens<1, true, false, false, false, true>(p, bytes, st);
    else launch_tokens<2, true, false, false, false, true>(p, bytes, st);
  } else if (p.lists) {
    if (fp8) launch_tokens<1, true, true>(p, bytes, st);
    else launch_tokens<2, true, true>(p, bytes, st);
  } else if (p.shared_tiles) {  // the planner sets stream_cap with it
    if (fp8) launch_tokens<1, true, false, true, true>(p, bytes, st);
    else launch_tokens<2, true, false, true, true>(p, bytes, st);
  } else if (g_score_only) {  // dense keys, no selection (the streaming kernel always selects)
    HisaParams d = p;
    d.stream_cap = 0;
    if (fp8) launch_tokens<1, false>(d, sm90_tokens_smem(d), st);
    else launch_tokens<2, false>(d, sm90_tokens_smem(d), st);
  } else if (p.stream_cap > 0) {
    if (fp8) launch_tokens<1, true, false, true>(p, bytes, st);
    else launch_tokens<2, true, false, true>(p, bytes, st);
  } else {
    if (fp8) launch_tokens<1, true>(p, bytes, st);
    else launch_tokens<2, true>(p, bytes, st);
  }
  HISA_CUDA_CHECK_LAUNCH("sm90_tokens_kernel", shape_context(p));
}

}  // namespace hisa::cuda
