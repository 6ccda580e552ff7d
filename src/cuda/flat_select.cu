// flat (exact DSA) on the GPU: queries in chunks; per chunk one scoring kernel writes the
// logits of the visible (query, key) pairs into a [chunk, ld] f32 buffer, then the radix
// top-k ranks each row. The logits workspace is O(chunk * S), never O(T * S).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cuda/common.cuh"
#include "cuda/flat_score.cuh"
#include "cuda/flat_stages.hpp"
#include "cuda/methods.cuh"
#include "cuda/topk_radix.cuh"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

// Logits budget per chunk: large enough that a chunk fills the GPU many times over at every
// context length (4096 rows at S = 128K), small enough to leave the memory to the model.
constexpr int64_t kLogitsBudgetBytes = int64_t{2} << 30;
constexpr int64_t kMaxChunkRows = 32768;  // also keeps grid.y of the simt scorer legal

FlatScorer scorer_from_env() {
  const char* v = std::getenv("HISA_FLAT_SCORER");
  if (v == nullptr || *v == '\0') return FlatScorer::automatic;
  if (std::strcmp(v, "wgmma") == 0) return FlatScorer::wgmma;
  if (std::strcmp(v, "wide") == 0) return FlatScorer::wgmma_wide;
  if (std::strcmp(v, "n128") == 0) return FlatScorer::wgmma_n128;
  if (std::strcmp(v, "mma") == 0) return FlatScorer::mma;
  if (std::strcmp(v, "simt") == 0) return FlatScorer::simt;
  throw ArgumentError("HISA_FLAT_SCORER", std::string("expected wgmma, wide, n128, mma or simt, got '") + v +
                                              "'");
}

bool supports(FlatScorer s, const Problem& p) {
  switch (s) {
    case FlatScorer::wgmma: return wgmma_scorer_supports(p);
    case FlatScorer::wgmma_wide: return wide_scorer_supports(p);
    case FlatScorer::wgmma_n128: return n128_scorer_supports(p);
    case FlatScorer::mma: return mma_scorer_supports(p);
    case FlatScorer::simt: return simt_scorer_supports(p);
    case FlatScorer::automatic: return true;
  }
  return false;
}

}  // namespace

const char* to_string(FlatScorer s) {
  switch (s) {
    case FlatScorer::automatic: return "automatic";
    case FlatScorer::wgmma: return "wgmma";
    case FlatScorer::wgmma_wide: return "wide";
    case FlatScorer::wgmma_n128: return "n128";
    case FlatScorer::mma: return "mma";
    case FlatScorer::simt: return "simt";
  }
  return "?";
}

FlatScorer resolve_flat_scorer(const Problem& p, FlatScorer requested) {
  if (requested == FlatScorer::automatic) requested = scorer_from_env();
  if (requested != FlatScorer::automatic) {
    if (!supports(requested, p))
      throw BackendError(std::string("flat: the ") + to_string(requested) +
                         " scorer cannot run this problem on this GPU (" + shape_string(p) + ")");
    return requested;
  }
  // The wide shape first: same-run A/B, H100, 48f8710 (bench/results/h100_2026-12-07_48f8710_arms.md):
  // scorer 11.07 -> 9.29 ms at 32K, 177.2 -> 145.9 ms at 128K.
  for (FlatScorer s : {FlatScorer::wgmma_wide, FlatScorer::wgmma, FlatScorer::mma, FlatScorer::simt})
    if (supports(s, p)) return s;
  throw BackendError("flat: no CUDA scorer supports this problem (" + shape_string(p) +
                     "); use the CPU backend");
}

int64_t flat_logits_ld(const Problem& p) { return align_up(std::max<int64_t>(p.S, 1), 64); }

int64_t flat_chunk_rows(const Problem& p) {
  if (p.T <= 0) return 0;
  const int64_t rows = kLogitsBudgetBytes / (flat_logits_ld(p) * int64_t{sizeof(float)});
  return std::clamp<int64_t>(rows, 2, std::min(p.T, kMaxChunkRows));
}

std::size_t flat_score_scratch_bytes(int64_t rows) { return wgmma_scratch_bytes(rows); }

std::size_t flat_workspace_bytes(const Problem& p, const Config&) {
  const int64_t rows = flat_chunk_rows(p);
  WorkspaceCarver c(nullptr);
  c.take<float>(rows * flat_logits_ld(p));
  c.take<unsigned char>(flat_score_scratch_bytes(rows));
  return c.used();
}

void flat_score_rows(const Problem& p, const int32_t* ks, const int32_t* ke, int64_t t0,
                     int64_t rows, float* logits, int64_t ld, void* scratch, FlatScorer scorer,
                     cudaStream_t stream) {
  const ScoreRowsArgs a{&p, ks, ke, t0, rows, logits, ld, scratch};
  switch (resolve_flat_scorer(p, scorer)) {
    case FlatScorer::wgmma: wgmma_score_rows(a, stream); return;
    case FlatScorer::wgmma_wide: wide_score_rows(a, stream); return;
    case FlatScorer::wgmma_n128: n128_score_rows(a, stream); return;
    case FlatScorer::mma: mma_score_rows(a, stream); return;
    case FlatScorer::simt: simt_score_rows(a, stream); return;
    case FlatScorer::automatic: break;
  }
  throw BackendError("flat: unresolved scorer");
}

void flat_topk_rows(const float* logits, int64_t ld, int64_t S, const int32_t* ks,
                    const int32_t* ke, int64_t t0, int64_t rows, int64_t topk, int32_t* out,
                    cudaStream_t stream, bool by_index) {
  TopkRowsArgs a;
  a.scores = logits;
  a.ld = ld;
  a.rows = rows;
  a.cols = S;
  a.begin = ks + t0;
  a.end = ke + t0;
  a.k = topk;
  a.out = out + t0 * topk;
  a.out_ld = topk;
  a.by_index = by_index;
  radix_topk_rows(a, stream);
}

void flat_select_with(const Problem& p, const Config& cfg, int32_t* out, void* ws,
                      FlatScorer scorer, cudaStream_t stream) {
  if (p.T <= 0) return;
  if (cfg.topk > kRadixTopkMaxK)
    throw ArgumentError("topk", "the CUDA backend supports topk <= " +
                                    std::to_string(kRadixTopkMaxK) + ", got " +
                                    std::to_string(cfg.topk) + " (use the CPU backend)");
  const FlatScorer resolved = resolve_flat_scorer(p, scorer);
  const int64_t rows = flat_chunk_rows(p), ld = flat_logits_ld(p);
  WorkspaceCarver c(ws);
  float* logits = c.take<float>(rows * ld);
  void* scratch = c.take<unsigned char>(flat_score_scratch_bytes(rows));
  for (int64_t t0 = 0; t0 < p.T; t0 += rows) {
    const int64_t n = std::min(rows, p.T - t0);
    flat_score_rows(p, p.ks, p.ke, t0, n, logits, ld, scratch, resolved, stream);
    flat_topk_rows(logits, ld, p.S, p.ks, p.ke, t0, n, cfg.topk, out, stream,
                   cfg.order == Order::index);
  }
}

void flat_select(const Problem& p, const Config& cfg, int32_t* out, void* ws, cudaStream_t st) {
  flat_select_with(p, cfg, out, ws, FlatScorer::automatic, st);
}

}  // namespace hisa::cuda
