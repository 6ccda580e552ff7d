// Per-query pieces of the CPU backend: shared context, per-worker workspace, the two scoring
// loops (dense key ranges on panels, gathered token lists) and the per-method row writers.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/keys.hpp"
#include "hisa/types.hpp"

namespace hisa::cpu {

// Read-only state of one select() call, shared by all workers.
struct Context {
  const Problem& p;
  const Config& cfg;
  KeyPanels keys;  // every key, decoded and packed once
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
  std::vector<uint64_t> ranked;       // rank keys (score.hpp)
  std::vector<int32_t> tokens;        // candidate tokens
  std::vector<int32_t> ids;           // kept block ids (HISA), active head ids (MISA)
  std::vector<float> panel, panel_scale, panel_rows;  // one gathered panel, its scratch
  PooledKeys pooled;
};

// The rows (heads, ascending) and weights that make up one query's score.
struct QueryRows {
  const float* const* rows;
  const float* w;
  int64_t n;
};

// Panels to score against: the packed keys (with their scales) or pooled keys (scale 1).
struct PanelSource {
  const float* data;
  int64_t D;
  const float* scale;  // padded per-panel scales or null
  const float* panel(int64_t pi) const { return data + pi * D * kLanes; }
  const float* panel_scale(int64_t pi) const { return scale ? scale + pi * kLanes : nullptr; }
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

// Row writers: each fills out[t * topk .. (t+1) * topk) for its queries.
// flat_rows takes a tile of at most kFlatTile queries (they share each key panel from L1).
constexpr int64_t kFlatTile = 4;
void flat_rows(const Context& ctx, Workspace& ws, const int64_t* ts, int64_t n, int32_t* out);
// HISA with m kept blocks; block-sparse is this with m = topk / B (its candidates never
// exceed topk, so "top topk of the candidates" outputs all of them, ranked).
void hisa_row(const Context& ctx, Workspace& ws, int64_t t, int64_t m, int32_t* out);
void misa_row(const Context& ctx, Workspace& ws, int64_t t, int32_t* out);

}  // namespace hisa::cpu
