// Stage 1 of HISA-style methods: block scores J(t, j) by the configured block summary, and the
// kept-block rule (methods.hpp). The arithmetic of each summary is fixed in docs/semantics.md.
#include <algorithm>
#include <cmath>

#include "cpu/block_stats.hpp"
#include "cpu/kernel.hpp"
#include "cpu/methods.hpp"
#include "cpu/score.hpp"
#include "cpu/topk.hpp"

namespace hisa::cpu {
namespace {

// Head sum of per-head block values x[h]: sc = fma(w[h], relu(x[h]), sc), h ascending.
float head_total(const float* x, const QueryRows& q) {
  float sc = 0.0f;
  for (int64_t h = 0; h < q.n; ++h) sc = std::fma(q.w[h], relu(x[h]), sc);
  return sc;
}

// Quest's bound of q . k over the block: sum_d max(q_d * lo_d, q_d * hi_d), d ascending.
float bound_dot(const float* q, const float* lo, const float* hi, int64_t D) {
  float u = 0.0f;
  for (int64_t d = 0; d < D; ++d) {
    const float a = q[d] * lo[d], b = q[d] * hi[d];
    u = u + ((a != a || b != b) ? a + b : std::max(a, b));
  }
  return u;
}

// sum_d (q_d * q_d) * var_d as a sequential fma chain, d ascending.
float spread_dot(const float* q, const float* var, int64_t D) {
  float s2 = 0.0f;
  for (int64_t d = 0; d < D; ++d) s2 = std::fma(q[d] * q[d], var[d], s2);
  return s2;
}

}  // namespace

void block_scores(const Context& ctx, Workspace& ws, const QueryRows& q, int64_t ks,
                  int64_t first, int64_t last, float* out) {
  const Problem& p = ctx.p;
  const int64_t B = ctx.cfg.block_size, D = p.D;
  const BlockSummary kind = ctx.cfg.block_summary;
  ws.pooled.ensure(p, B, ks, last);
  if (kind == BlockSummary::mean) {
    const RangeJob job{q, first, last, out};
    score_ranges(PanelSource{ws.pooled.panel(0), D, nullptr}, &job, 1, ws);
    return;
  }
  ws.stats.ensure(p, B, ks, last, kind, ws.pooled);
  ws.head_values.resize(std::max<int64_t>(ws.head_values.size(), q.n));
  float* x = ws.head_values.data();  // per-head values of one block
  if (kind == BlockSummary::bound) {
    for (int64_t j = first; j < last; ++j) {
      for (int64_t h = 0; h < q.n; ++h)
        x[h] = bound_dot(q.rows[h], ws.stats.lo(j), ws.stats.hi(j), D);
      out[j - first] = head_total(x, q);
    }
    return;
  }
  // emax: x_h = dot(q_h, kbar_j) + gamma * sqrt(sum_d q_hd^2 var_jd).
  const float gamma = emax_gamma(B);
  ws.dots.resize(std::max<int64_t>(ws.dots.size(), q.n * kLanes));
  for (int64_t pj = first / kLanes; pj * kLanes < last; ++pj) {
    panel_dots(q.rows, q.n, ws.pooled.panel(pj), D, ws.dots.data());
    const int64_t lo = std::max(first, pj * kLanes), hi = std::min(last, (pj + 1) * kLanes);
    for (int64_t j = lo; j < hi; ++j) {
      for (int64_t h = 0; h < q.n; ++h)
        x[h] = ws.dots[h * kLanes + j % kLanes] +
               gamma * std::sqrt(spread_dot(q.rows[h], ws.stats.var(j), D));
      out[j - first] = head_total(x, q);
    }
  }
}

void kept_blocks(const Context& ctx, Workspace& ws, const QueryRows& q, const Range& r,
                 int64_t nb, int64_t m) {
  ws.scores.resize(std::max<int64_t>(ws.scores.size(), nb));
  block_scores(ctx, ws, q, r.ks, 1, nb - 1, ws.scores.data());
  ws.ranked.resize(nb - 2);
  for (int64_t j = 1; j < nb - 1; ++j) ws.ranked[j - 1] = rank_key(ws.scores[j - 1], j);
  keep_top(ws.ranked, m - 2, /*ranked=*/false);
  ws.ids.clear();
  ws.ids.push_back(0);
  for (uint64_t key : ws.ranked) ws.ids.push_back(index_of(key));
  ws.ids.push_back(static_cast<int32_t>(nb - 1));
  std::sort(ws.ids.begin(), ws.ids.end());
}

}  // namespace hisa::cpu
