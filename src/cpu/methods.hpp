// Per-query pieces of the CPU backend: shared context, per-worker workspace, the two scoring
// loops (dense key ranges on panels, gathered token lists) and the per-method row writers.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "cpu/block_stats.hpp"
#include "cpu/keys.hpp"
#include "cpu/projection.hpp"
#include "hisa/types.hpp"

namespace hisa::cpu {

// Read-only state of one select() call, shared by all workers.
struct Context {
  const Problem& p;
  const Config& cfg;
  KeyPanels keys;                       // every key, decoded and packed once
  std::vector<Projection> projections;  // proj: one per sequence start, ascending ks
};

// Per-worker scratch, reused from query to query: O(S + tile * H * D) floats plus the pooled
// key cache. Never a T x S buffer.
struct Workspace {
  std::vector<float> q;               // decoded queries of the tile [tile][H][D]
  std::vector<const float*> rows;     // q row pointers [tile][H]
  std::vector<const float*> active_rows;
  std::vector<float> active_w;
  std::vector<float> dots;            // [H][kLanes]
  std::vector<float> scores;          // score buffers of the tile
  std::vector<float> router;          // MISA router sums [H]
  std::vector<float> head_values;     // per-head values of one block (block_scores)
  std::vector<float> qp;              // projected queries [H][d'] (proj)
  std::vector<const float*> qp_rows;
  std::vector<uint64_t> ranked;       // rank keys (score.hpp)
  std::vector<int32_t> tokens;        // candidate tokens
  std::vector<int32_t> ids;           // kept block ids (HISA), active head ids (MISA)
  std::vector<std::pair<int64_t, int64_t>> runs;  // candidate token runs [first, last)
  std::vector<int32_t> union_ids;     // kept blocks of a shared_candidates tile
  std::vector<float> panel, panel_scale, panel_rows;  // one gathered panel, its scratch
  PooledKeys pooled;
  BlockStats stats;                   // spread statistics for bound / emax summaries
};

// The rows (heads, ascending) and weights that make up one query's score.
struct QueryRows {
  const float* const* rows;
  const float* w;
  int64_t n;
};

// Panels to score against: the packed keys (with their scales), pooled keys or projected keys
// (scale 1). `first` is the index of the first panel held (the projected keys of a sequence
// start at its own panel).
struct PanelSource {
  const float* data;
  int64_t D;
  const float* scale;  // padded per-panel scales or null
  int64_t first = 0;
  const float* panel(int64_t pi) const { return data + (pi - first) * D * kLanes; }
  const float* panel_scale(int64_t pi) const {
    return scale ? scale + (pi - first) * kLanes : nullptr;
  }
};

inline PanelSource key_panels(const Context& ctx) {
  return PanelSource{ctx.keys.data.data(), ctx.keys.D,
                     ctx.keys.scale.empty() ? nullptr : ctx.keys.scale.data()};
}

// out[s - lo] = score of key s for s in [lo, hi), for every job of a tile. Each panel is
// loaded once and reused by all jobs of the tile that overlap it.
struct RangeJob {
  QueryRows q;
  int64_t lo, hi;
  float* out;
};
void score_ranges(const PanelSource& src, const RangeJob* jobs, int64_t njobs, Workspace& ws);

// out[i] = score of key idx[i] (k_scale applied), keys gathered kLanes at a time.
void score_tokens(const Problem& p, const QueryRows& q, const int32_t* idx, int64_t n,
                  Workspace& ws, float* out);

// Decodes queries ts[0..n) into ws.q / ws.rows (rows of query i start at ws.rows[i * H]).
void load_queries(const Problem& p, const int64_t* ts, int64_t n, Workspace& ws);

// Stage 1: out[j - first] = J(t, j) for the full blocks j in [first, last) of the sequence
// starting at ks, by cfg.block_summary (docs/semantics.md "Block summaries").
void block_scores(const Context& ctx, Workspace& ws, const QueryRows& q, int64_t ks,
                  int64_t first, int64_t last, float* out);
// HISA's kept blocks of a query with nb > m visible blocks (SPEC.md HISA 4): block 0, block
// nb-1 and the m-2 best of 1..nb-2, into ws.ids ascending.
void kept_blocks(const Context& ctx, Workspace& ws, const QueryRows& q, const Range& r,
                 int64_t nb, int64_t m);
// MISA's router (SPEC.md MISA 1): the active heads of query t (queries loaded in ws.rows),
// ascending, into ws.active_rows / ws.active_w; all heads when nfull == 0.
void route(const Context& ctx, Workspace& ws, int64_t t, const Range& r, int64_t nfull);
// Scores the keys [first, last) of `src` for `q` and appends their rank keys to ws.ranked.
void append_ranked(const PanelSource& src, const QueryRows& q, int64_t first, int64_t last,
                   Workspace& ws);
// The exact re-rank shared by the candidate methods: scores ws.tokens (n of them) by the full
// score I of query t and writes the top topk, ranked.
void rerank_tokens(const Context& ctx, Workspace& ws, int64_t t, int32_t* out);
// Keeps the best `keep` of ws.ranked (a cheap score's rank keys), then rerank_tokens.
void rerank_best(const Context& ctx, Workspace& ws, int64_t t, int64_t keep, int32_t* out);

// Row writers: each fills out[t * topk .. (t+1) * topk) for its queries.
// flat_rows takes a tile of at most kFlatTile queries (they share each key panel from L1).
constexpr int64_t kFlatTile = 4;
void flat_rows(const Context& ctx, Workspace& ws, const int64_t* ts, int64_t n, int32_t* out);
// HISA with m kept blocks; block-sparse is this with m = topk / B (its candidates never
// exceed topk, so "top topk of the candidates" outputs all of them, ranked). A tile of n > 1
// queries (one shared_candidates tile, same ks) selects from the union of their kept blocks.
void hisa_rows(const Context& ctx, Workspace& ws, const int64_t* ts, int64_t n, int64_t m,
               int32_t* out);
void misa_row(const Context& ctx, Workspace& ws, int64_t t, int32_t* out);
void proj_row(const Context& ctx, Workspace& ws, int64_t t, int32_t* out);
void hisa_misa_row(const Context& ctx, Workspace& ws, int64_t t, int32_t* out);

}  // namespace hisa::cpu
