// hisa_select / hisa_workspace_bytes (methods.cuh): plans one HISA or block-sparse selection and
// strings the kernels together on the caller's stream, with no host sync and no allocation.
//
//   1. mark the residues ks % B of the queries that need block scores      (pool_keys.cu)
//   2. pooled keys for those residues, one pass over k                     (pool_keys.cu)
//   3. per chunk of queries: stage 1 (kept blocks), stage 2 (idx rows)     (hisa_sm90.cu on
//      sm_90a for H=64, D=128, FP8/bf16; hisa_portable.cu otherwise)
//
// Workspace (all 256-aligned): used[B] u32 | pooled [S, D] (bf16 fast path, f32 portable) |
// kept [chunk, m] i32. The last two only when some row can need block scores (S > topk and
// ceil(S/B) > m). The chunk bounds the kept buffer to 64 MB.
// Two-pass stage 2 (sm_90a, see two_pass_wanted) and the TMA stage 1 (block scores, then the
// kept lists): + one f32 score area [chunk, max(scores_ld, blocks_ld)] that they use in turn;
// two-pass also the candidate ranges [2, chunk] i32. The chunk bounds the area to 512 MB.
#include <algorithm>
#include <string>

#include "cuda/common.cuh"
#include "cuda/hisa_block_ops.cuh"
#include "cuda/hisa_launch.cuh"
#include "cuda/methods.cuh"
#include "cuda/topk_radix.cuh"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

bool g_force_portable = false;
bool g_force_shared_tiles = false;
int g_pairing = -1;  // test hook: -1 = HISA_PAIR or automatic, 0 = off, 1 = on where supported

// Query pairs (hisa_sm90_pair.cu) unless turned off: the hook, else HISA_PAIR=0 (benchmarks
// time both kernels side by side with it).
int g_streaming = -1;  // test hook: -1 = HISA_STREAM or automatic, 0 = off, 1 = wherever supported

int g_two_pass = -1;  // test hook: -1 = HISA_TWO_PASS or automatic, 0 = off, 1 = wherever supported

// Query pairs (hisa_sm90_pair.cu) only when asked for (hook, else HISA_PAIR=1): on the H200
// they were slower than one query per CTA (docs/cuda_hisa.md), so they stay opt-in.
bool pairing_wanted() {
  if (g_pairing >= 0) return g_pairing == 1;
  return env_switch("HISA_PAIR") == 1;
}

// Streaming selection: automatic only when the dense key array does not fit in shared memory
// (it is slower where both fit: one extra radix select per drain, H200 A/B in
// docs/cuda_hisa.md); the hook, else HISA_STREAM=0/1, turns it off or on wherever supported.
int streaming_mode() { return g_streaming >= 0 ? g_streaming : env_switch("HISA_STREAM"); }
// Two-pass stage 2 (score into global memory, then the radix top-k): the hook, else
// HISA_TWO_PASS=0/1; automatic: on for HISA (block-sparse keeps the one-pass kernel, whose
// rows need no selection and which was not timed against two-pass), unless streaming or query
// pairs were asked for. Same-run
// A/B on the H100 (e25e930, bench/results/h100_2026-12-06_e25e930_twopass*): B=64 m=64/128/256
// score order 7.05/13.9/28.1 -> 6.62/9.81/15.0 ms at 32K, 33.8/62.2/140 -> 30.7/46.8/81.4 ms
// at 128K; index order 5.58/13.1/27.3 -> 5.63/9.16/14.0 and 30.3/58.7/139 -> 27.4/45.4/77.1.
bool two_pass_wanted(Method method) {
  const int mode = g_two_pass >= 0 ? g_two_pass : env_switch("HISA_TWO_PASS");
  if (mode >= 0) return mode == 1;
  return method == Method::hisa && streaming_mode() != 1 && !pairing_wanted();
}
int g_tma_tokens = -1;  // test hook: -1 = HISA_TMA_TOKENS or on where supported, 0 = off
bool tma_tokens_wanted() {
  const int mode = g_tma_tokens >= 0 ? g_tma_tokens : env_switch("HISA_TMA_TOKENS");
  return mode != 0;
}
// Stage 2a on the epilogue-warpgroup kernel (hisa_tokens_wide.cu) instead: opt-in until timed
// (HISA_TOKENS_EPI=1 or the hook).
int g_tokens_epi = -1;
bool tokens_epi_wanted() {
  const int mode = g_tokens_epi >= 0 ? g_tokens_epi : env_switch("HISA_TOKENS_EPI");
  return mode == 1;
}
// Stage 2a on the union kernel (hisa_tokens_union.cu). Returns its rows per item: 2 = row pairs
// (HISA_TOKENS_UNION=1, hook 1), 4 = quads (HISA_TOKENS_UNION4=1, hook 3), 1 = every row alone
// through the pair kernel (HISA_TOKENS_UNION_SINGLE=1, hook 2: the machinery's cost), 0 = the
// TMA kernel (HISA_TOKENS_UNION=0, hook 0). Unset: kUnionRowsDefault. Opt-in: slower on the
// H100 (2646707, same run): B=64 m=64 32K 4.36 -> 7.15 ms random (pairs), 4.15 -> 5.61
// structured; quads 6.84 / 5.08; with the warp-parallel tile count (737601d) pairs 5.35 /
// 4.92 against 4.38 / 4.16, quads 5.82 / 4.67; 094e098: the same (docs/cuda_hisa.md).
// Pairs with one math warpgroup per row (HISA_TOKENS_UNION_ROWWG=1, hook 4): weights in
// registers, stages paired by row set (tokens_union_row_wg).
constexpr int kUnionRowsDefault = 0;
int g_tokens_union = -1;
bool tokens_union_row_wg() {
  return g_tokens_union >= 0 ? g_tokens_union == 4 : env_switch("HISA_TOKENS_UNION_ROWWG") == 1;
}
int tokens_union_rows() {
  constexpr int kRowsOfHook[] = {0, 2, 1, 4, 2};  // hook modes 0..4
  if (g_tokens_union >= 0) return g_tokens_union <= 4 ? kRowsOfHook[g_tokens_union] : 0;
  if (tokens_union_row_wg()) return 2;
  if (env_switch("HISA_TOKENS_UNION4") == 1) return 4;
  if (env_switch("HISA_TOKENS_UNION_SINGLE") == 1) return 1;
  const int pairs = env_switch("HISA_TOKENS_UNION");
  return pairs < 0 ? kUnionRowsDefault : pairs == 1 ? 2 : 0;
}
// Filtered stage 2a (hisa_tokens_filter.cu) with pair rows for stage 2b: opt-in until timed
// (HISA_TOKENS_FILTER=1 or the hook).
int g_tokens_filter = -1;
bool tokens_filter_wanted() {
  const int mode = g_tokens_filter >= 0 ? g_tokens_filter : env_switch("HISA_TOKENS_FILTER");
  return mode == 1;
}
// Stage 1 on the TMA block scorer + select_kept (hisa_blocks_tma.cu) wherever supported; the
// hook, else HISA_TMA_BLOCKS=0, selects the one-warpgroup kernel with its in-CTA selection.
int g_tma_blocks = -1;
// Rows of more blocks than this (block-score row length) are selected by the radix top-k,
// shorter ones by select_kept (hisa_blocks_tma.cu).
constexpr int kTmaBlocksSelectKeptMax = 4096;
bool tma_blocks_wanted() {
  const int mode = g_tma_blocks >= 0 ? g_tma_blocks : env_switch("HISA_TMA_BLOCKS");
  return mode != 0;
}
// Stage 1 on query pairs (the TMA block scorer's m64n128 kernel): the default since the
// same-run A/B of bench/results/h100_2026-12-07_48f8710_arms.md (stage 1 at 32K 0.69 ->
// 0.52 ms); HISA_BLOCKS_PAIR=0 or the hook turns it off.
int g_blocks_pair = -1;
bool blocks_pair_wanted() {
  const int mode = g_blocks_pair >= 0 ? g_blocks_pair : env_switch("HISA_BLOCKS_PAIR");
  return mode != 0;
}
cudaEvent_t* g_stage_events = nullptr;

void mark(int i, cudaStream_t st) {
  if (g_stage_events != nullptr) HISA_CUDA_CHECK(cudaEventRecord(g_stage_events[i], st));
}

struct DeviceInfo {
  int major = 0, minor = 0, smem_optin = 0;
};
DeviceInfo device_info() {
  DeviceInfo d;
  int dev = 0;
  HISA_CUDA_CHECK(cudaGetDevice(&dev));
  HISA_CUDA_CHECK(cudaDeviceGetAttribute(&d.major, cudaDevAttrComputeCapabilityMajor, dev));
  HISA_CUDA_CHECK(cudaDeviceGetAttribute(&d.minor, cudaDevAttrComputeCapabilityMinor, dev));
  HISA_CUDA_CHECK(
      cudaDeviceGetAttribute(&d.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  return d;
}

size_t align256(size_t v) { return (v + 255) & ~size_t(255); }

struct Plan {
  HisaParams base;      // everything but t0/T/pooled/kept/out
  bool fast = false;    // sm_90a kernels
  bool pair = false;    // sm_90a kernels with two queries per CTA
  bool need_blocks = false;
  bool two_pass = false;  // sm_90a stage 2 scores into global memory, the radix top-k selects
  bool tma_tokens = false;  // two-pass stage 2a on hisa_tokens_tma.cu
  bool tma_blocks = false;  // stage 1 on hisa_blocks_tma.cu (block scores + select_kept)
  bool filter = false;      // filtered stage 2a, pair rows (hisa_tokens_filter.cu)
  int blocks_ld = 0;        // its block-score rows (floats)
  int64_t chunk = 0;    // queries per launch
  size_t off_used = 0, off_pooled = 0, off_kept = 0, off_seq = 0, total = 0;
  size_t off_scores = 0, off_ranges = 0;
  size_t off_mask = 0, off_pos = 0, off_tau = 0;  // the filter's A masks, positions, taus
};

Plan make_plan(const Problem& p, const Config& cfg) {
  if (p.T > INT32_MAX || p.H * p.D > INT32_MAX)
    throw ArgumentError("q", "CUDA HISA needs T and H*D below 2^31");
  Plan plan;
  HisaParams& b = plan.base;
  const int64_t m_cfg = cfg.method == Method::block ? cfg.topk / cfg.block_size : cfg.blocks;
  // A block longer than the longest row changes nothing (every row is one block): clamp to S.
  const int64_t B = std::min<int64_t>(cfg.block_size, std::max<int64_t>(p.S, 1));
  const int64_t nbmax = (p.S + B - 1) / B;
  // m beyond nbmax changes nothing (every row keeps all its blocks): clamp to stay in int.
  const int64_t m = std::min<int64_t>(m_cfg, nbmax + 1);
  const int64_t topk = cfg.topk;
  const int64_t cmax = std::max(std::min(m * B, p.S), std::min(topk, p.S));
  const int64_t Q = cfg.method == Method::hisa ? cfg.shared_candidates : 1;
  const bool shared = Q > 1 || (g_force_shared_tiles && cfg.method == Method::hisa);
  b.dtype = p.dtype;
  b.H = static_cast<int>(p.H);
  b.D = static_cast<int>(p.D);
  b.S = static_cast<int>(p.S);
  b.q = p.q;
  b.k = p.k;
  b.k_scale = p.k_scale;
  b.w = p.w;
  b.ks = p.ks;
  b.ke = p.ke;
  b.B = static_cast<int>(B);
  b.m = static_cast<int>(m);
  b.topk = static_cast<int>(topk);
  b.cmax = static_cast<int>(cmax);
  b.kpad = hisa_ops::next_pow2(static_cast<int>(std::max<int64_t>(1, std::min(topk, cmax))));
  b.nbmax = static_cast<int>(nbmax);
  b.order = cfg.order == Order::index ? 1 : 0;

  const DeviceInfo dev = device_info();
  plan.need_blocks = p.S > topk && nbmax > m;
  const bool sm90 = !g_force_portable && dev.major == 9 && dev.minor == 0 && sm90_supported(b);
  if (shared) {
    // shared_candidates: a row's candidates are its tile's union, any number of blocks up to
    // Q lists (or all of its own): only the streaming kernel bounds that.
    const int64_t own = std::max<int64_t>(m, (std::min(topk, p.S) + B - 1) / B);
    b.shared_tiles = true;
    b.shared_q = static_cast<int>(std::min<int64_t>(Q, INT32_MAX));
    b.list_max = static_cast<int>(std::min<int64_t>(std::min<int64_t>(Q, nbmax) * own, nbmax));
    if (!sm90)
      throw BackendError(
          "CUDA HISA with shared_candidates > 1 needs the sm_90a kernels (compute capability "
          "9.0, H=64, D=128, FP8 or bf16); use the CPU backend");
    b.stream_cap = sm90_stream_cap(b);
  } else if (sm90) {
    const int mode = streaming_mode();
    if (mode == 1 || (mode == -1 && sm90_tokens_smem(b) > static_cast<size_t>(dev.smem_optin)))
      b.stream_cap = sm90_stream_cap(b);
  }
  plan.fast = sm90 && sm90_tokens_smem(b) <= static_cast<size_t>(dev.smem_optin) &&
              (!plan.need_blocks || sm90_blocks_smem(b) <= static_cast<size_t>(dev.smem_optin));
  if (shared && !plan.fast)
    throw BackendError("CUDA HISA with shared_candidates = " + std::to_string(Q) +
                       ": one row's working set needs " + std::to_string(sm90_tokens_smem(b)) +
                       " bytes of shared memory, the device allows " +
                       std::to_string(dev.smem_optin) + "; use a smaller Q or the CPU backend");
  if (!plan.fast) b.stream_cap = 0;
  plan.pair = plan.fast && b.stream_cap == 0 && pairing_wanted() && sm90_pair_supported(b) &&
              sm90_pair_tokens_smem(b) <= static_cast<size_t>(dev.smem_optin) &&
              (!plan.need_blocks || sm90_pair_blocks_smem(b) <= static_cast<size_t>(dev.smem_optin));
  // Two-pass: one query per CTA, own kept blocks, topk within the radix top-k's limit. The
  // kernel then keeps no per-candidate state in shared memory (no stream buffer needed).
  if (sm90 && !shared && topk <= kRadixTopkMaxK && two_pass_wanted(cfg.method)) {
    HisaParams t = b;
    t.stream_cap = 0;
    t.scores_ld = static_cast<int>((cmax + 63) / 64 * 64);  // > 0: sized as two-pass
    if (sm90_tokens_smem(t) <= static_cast<size_t>(dev.smem_optin) &&
        (!plan.need_blocks || sm90_blocks_smem(t) <= static_cast<size_t>(dev.smem_optin))) {
      b.stream_cap = 0;
      b.scores_ld = t.scores_ld;
      plan.two_pass = plan.fast = true;
      plan.pair = false;
      plan.tma_tokens = tma_tokens_wanted() && sm90_tma_tokens_supported(b);
    }
  }
  if (!plan.fast) {
    const size_t need = std::max(portable_tokens_smem(b),
                                 plan.need_blocks ? portable_blocks_smem(b) : size_t(0));
    if (need > static_cast<size_t>(dev.smem_optin))
      throw BackendError(
          "CUDA HISA: one query's working set needs " + std::to_string(need) +
          " bytes of shared memory, the device allows " + std::to_string(dev.smem_optin) +
          " (H=" + std::to_string(p.H) + ", D=" + std::to_string(p.D) +
          ", candidates max(m*B, topk)=" + std::to_string(cmax) + ", blocks=" +
          std::to_string(nbmax) + "); use a larger block size, fewer kept blocks or the CPU");
  }

  // Stage 1 as block scores + select_kept (sm_90a kernels, one query per item, own lists).
  plan.tma_blocks = plan.fast && !plan.pair && plan.need_blocks && !shared &&
                    tma_blocks_wanted() && sm90_tma_blocks_supported(b);
  if (plan.tma_blocks) plan.blocks_ld = static_cast<int>((nbmax + 63) / 64 * 64);

  // Filtered stage 2a: where A (filter_a_blocks) is a strict subset of the kept blocks,
  // positions fit 16 bits and the pair rows the short-row top-k (k <= 2048, <= 16384 columns).
  if (cfg.method == Method::hisa && plan.two_pass && plan.tma_tokens && plan.need_blocks &&
      tokens_filter_wanted() && b.order == 0 && m > filter_a_blocks(topk, B) &&
      b.scores_ld <= 16384 && topk <= 2048 && sm90_filter_tokens_supported(b)) {
    plan.filter = true;
    b.a_words = static_cast<int>((m + 31) / 32);
    b.a_blocks = filter_a_blocks(topk, B);
  }

  plan.chunk = std::max<int64_t>(1, p.T);
  // Q > 1: stage 2 reads the kept lists of a row's whole tile, so one chunk holds every row.
  if (plan.need_blocks && !shared)
    plan.chunk = std::clamp<int64_t>((int64_t(64) << 20) / (4 * m), 1, std::max<int64_t>(1, p.T));
  // One f32 score area serves stage 1's block scores and the two-pass stage 2a in turn.
  const int64_t area_ld = std::max<int64_t>(plan.two_pass ? b.scores_ld : 0, plan.blocks_ld);
  // (4 bytes per entry; the filter adds a 2-byte position per entry.)
  if (area_ld > 0)
    plan.chunk = std::clamp<int64_t>((int64_t(512) << 20) / ((plan.filter ? 6 : 4) * area_ld), 1,
                                     plan.chunk);
  size_t o = 0;
  plan.off_used = o;
  o = align256(o + sizeof(uint32_t) * static_cast<size_t>(b.B));
  if (plan.need_blocks) {
    plan.off_pooled = o;
    o = align256(o + static_cast<size_t>(p.S) * p.D * (plan.fast ? 2 : 4));
    plan.off_kept = o;
    o = align256(o + sizeof(int32_t) * static_cast<size_t>(plan.chunk) * m);
    if (shared) {
      plan.off_seq = o;
      o = align256(o + sizeof(int32_t) * (static_cast<size_t>(p.S) + 1));
    }
  }
  if (area_ld > 0) {
    plan.off_scores = o;
    o = align256(o + sizeof(float) * static_cast<size_t>(plan.chunk) * area_ld);
  }
  if (plan.two_pass || plan.blocks_ld > kTmaBlocksSelectKeptMax) {
    plan.off_ranges = o;
    o = align256(o + sizeof(int32_t) * 2 * static_cast<size_t>(plan.chunk));
  }
  if (plan.filter) {
    plan.off_mask = o;
    o = align256(o + sizeof(uint32_t) * static_cast<size_t>(plan.chunk) * b.a_words);
    plan.off_pos = o;
    o = align256(o + sizeof(uint16_t) * static_cast<size_t>(plan.chunk) * b.scores_ld);
    plan.off_tau = o;
    o = align256(o + sizeof(uint32_t) * static_cast<size_t>(plan.chunk));
  }
  plan.total = o;
  return plan;
}

}  // namespace

void hisa_force_portable(bool on) { g_force_portable = on; }
void hisa_set_pairing(int mode) { g_pairing = mode; }
void hisa_set_streaming(int mode) { g_streaming = mode; }
void hisa_force_shared_tiles(bool on) { g_force_shared_tiles = on; }
void hisa_set_two_pass(int mode) { g_two_pass = mode; }
void hisa_set_tma_tokens(int mode) { g_tma_tokens = mode; }
void hisa_set_tokens_epi(int mode) { g_tokens_epi = mode; }
void hisa_set_tokens_union(int mode) { g_tokens_union = mode; }
void hisa_set_tma_blocks(int mode) { g_tma_blocks = mode; }
void hisa_set_tokens_filter(int mode) { g_tokens_filter = mode; }
void hisa_set_blocks_pair(int mode) { g_blocks_pair = mode; }
void hisa_set_stage_events(cudaEvent_t* ev) { g_stage_events = ev; }

std::size_t hisa_workspace_bytes(const Problem& p, const Config& cfg) {
  return make_plan(p, cfg).total;
}

void hisa_select(const Problem& p, const Config& cfg, int32_t* out, void* ws, cudaStream_t st) {
  if (p.T == 0) return;
  if (p.ks == nullptr || p.ke == nullptr)
    throw ArgumentError("ks", "hisa_select needs device ks/ke (the backend materialises them)");
  const Plan plan = make_plan(p, cfg);
  if (ws == nullptr && plan.total > 0)
    throw ArgumentError("workspace", "null workspace for " + std::to_string(plan.total) + " bytes");
  unsigned char* base = static_cast<unsigned char*>(ws);
  HisaParams par = plan.base;
  par.out = out;
  mark(0, st);
  if (plan.need_blocks) {
    uint32_t* used = reinterpret_cast<uint32_t*>(base + plan.off_used);
    par.pooled = base + plan.off_pooled;
    par.kept = reinterpret_cast<int32_t*>(base + plan.off_kept);
    launch_mark_residues(par, static_cast<int>(p.T), used, st);
    launch_pool_keys(par, used, base + plan.off_pooled, plan.fast, st);
    if (par.shared_tiles) {
      int32_t* seq = reinterpret_cast<int32_t*>(base + plan.off_seq);
      launch_seq_first(par, static_cast<int>(p.T), seq, st);
      par.seq_first = seq;
    }
  }
  mark(1, st);
  for (int64_t t0 = 0; t0 < p.T; t0 += plan.chunk) {
    par.t0 = static_cast<int>(t0);
    par.T = static_cast<int>(std::min<int64_t>(plan.chunk, p.T - t0));
    if (plan.filter) {
      // Every row's A is all of its kept blocks unless select_kept marks it (rows it does not
      // select: long rows, or stage 1 on another kernel).
      par.a_mask = reinterpret_cast<uint32_t*>(base + plan.off_mask);
      HISA_CUDA_CHECK(cudaMemsetAsync(par.a_mask, 0xFF,
                                      sizeof(uint32_t) * static_cast<size_t>(par.T) * par.a_words,
                                      st));
      par.cand_pos = reinterpret_cast<uint16_t*>(base + plan.off_pos);
      par.cand_tau = reinterpret_cast<uint32_t*>(base + plan.off_tau);
    }
    if (plan.tma_blocks) {
      HisaParams b1 = par;
      b1.scores = reinterpret_cast<float*>(base + plan.off_scores);
      b1.scores_ld = plan.blocks_ld;
      if (plan.blocks_ld > kTmaBlocksSelectKeptMax) {  // long rows: the radix top-k selects
        b1.cand_begin = reinterpret_cast<int32_t*>(base + plan.off_ranges);
        b1.cand_end = b1.cand_begin + plan.chunk;
      }
      launch_sm90_tma_blocks(b1, st, blocks_pair_wanted());  // block scores, then kept lists
    } else if (plan.need_blocks) {
      if (plan.pair)
        launch_sm90_pair_blocks(par, st);
      else if (plan.fast)
        launch_sm90_blocks(par, st);
      else
        launch_portable_blocks(par, st);
    }
    if (t0 == 0) mark(2, st);
    if (plan.two_pass) {
      par.scores = reinterpret_cast<float*>(base + plan.off_scores);
      par.cand_begin = reinterpret_cast<int32_t*>(base + plan.off_ranges);
      par.cand_end = par.cand_begin + plan.chunk;
      const int union_rows = tokens_union_rows();
      if (plan.filter)
        launch_sm90_filter_tokens(par, st);
      else if (plan.tma_tokens && tokens_epi_wanted() && sm90_wide_tokens_supported(par))
        launch_sm90_wide_tokens(par, st);
      else if (plan.tma_tokens && union_rows > 0 && sm90_union_tokens_supported(par))
        launch_sm90_union_tokens(par, st, union_rows, tokens_union_row_wg());
      else if (plan.tma_tokens)
        launch_sm90_tma_tokens(par, st);
      else
        launch_sm90_tokens(par, st);
      TopkRowsArgs a;
      a.scores = par.scores;
      a.ld = par.scores_ld;
      a.rows = par.T;
      a.cols = par.scores_ld;
      a.begin = par.cand_begin;
      a.end = par.cand_end;
      a.k = par.topk;
      a.out = out + t0 * par.topk;
      a.out_ld = par.topk;
      a.by_index = par.order != 0;
      a.columns.kept = par.kept;  // positions -> tokens in the same kernel
      a.columns.ks = par.ks;
      a.columns.ke = par.ke;
      a.columns.t0 = par.t0;
      a.columns.S = par.S;
      a.columns.B = par.B;
      a.columns.m = par.m;
      a.columns.topk = par.topk;
      if (plan.filter) {  // pair rows (TopkRowsArgs::positions)
        a.positions = par.cand_pos;
        a.min_key = par.cand_tau;
      }
      if (!hisa_bench_score_only_enabled()) radix_topk_rows(a, st);
    } else if (plan.pair)
      launch_sm90_pair_tokens(par, st);
    else if (plan.fast)
      launch_sm90_tokens(par, st);
    else
      launch_portable_tokens(par, st);
  }
  mark(3, st);
}

}  // namespace hisa::cuda
