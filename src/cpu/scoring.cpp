// The two scoring loops of methods.hpp and query decoding.
#include <algorithm>

#include "cpu/methods.hpp"
#include "cpu/score.hpp"

namespace hisa::cpu {

void load_queries(const Problem& p, const int64_t* ts, int64_t n, Workspace& ws) {
  const int64_t HD = p.H * p.D;
  if (static_cast<int64_t>(ws.q.size()) < n * HD) ws.q.resize(n * HD);
  if (static_cast<int64_t>(ws.rows.size()) < n * p.H) ws.rows.resize(n * p.H);
  for (int64_t i = 0; i < n; ++i) {
    decode_run(p.dtype, p.q, ts[i] * HD, HD, ws.q.data() + i * HD);
    for (int64_t h = 0; h < p.H; ++h) ws.rows[i * p.H + h] = ws.q.data() + i * HD + h * p.D;
  }
}

namespace {
void ensure_dots(Workspace& ws, int64_t rows) {
  if (static_cast<int64_t>(ws.dots.size()) < rows * kLanes) ws.dots.resize(rows * kLanes);
}
}  // namespace

void score_ranges(const PanelSource& src, const RangeJob* jobs, int64_t njobs, Workspace& ws) {
  int64_t lo = INT64_MAX, hi = 0, max_rows = 0;
  for (int64_t i = 0; i < njobs; ++i) {
    if (jobs[i].lo >= jobs[i].hi) continue;
    lo = std::min(lo, jobs[i].lo);
    hi = std::max(hi, jobs[i].hi);
    max_rows = std::max(max_rows, jobs[i].q.n);
  }
  if (lo >= hi) return;
  ensure_dots(ws, max_rows);
  alignas(32) float lane_scores[kLanes];
  for (int64_t pi = lo / kLanes; pi * kLanes < hi; ++pi) {
    const int64_t base = pi * kLanes;
    for (int64_t i = 0; i < njobs; ++i) {
      const RangeJob& job = jobs[i];
      if (job.hi <= base || job.lo >= base + kLanes) continue;
      panel_scores(job.q.rows, job.q.w, job.q.n, src.panel(pi), src.D, src.panel_scale(pi),
                   ws.dots.data(), lane_scores);
      const int64_t first = std::max(job.lo, base), last = std::min(job.hi, base + kLanes);
      for (int64_t s = first; s < last; ++s) job.out[s - job.lo] = lane_scores[s - base];
    }
  }
}

void append_ranked(const PanelSource& src, const QueryRows& q, int64_t first, int64_t last,
                   Workspace& ws) {
  if (static_cast<int64_t>(ws.scores.size()) < last - first) ws.scores.resize(last - first);
  const RangeJob job{q, first, last, ws.scores.data()};
  score_ranges(src, &job, 1, ws);
  for (int64_t s = first; s < last; ++s) ws.ranked.push_back(rank_key(ws.scores[s - first], s));
}

void score_tokens(const Problem& p, const QueryRows& q, const int32_t* idx, int64_t n,
                  Workspace& ws, float* out) {
  ensure_dots(ws, q.n);
  ws.panel.resize(p.D * kLanes);
  ws.panel_scale.resize(kLanes);
  ws.panel_rows.resize(kLanes * p.D);
  const float* scale = p.k_scale != nullptr ? ws.panel_scale.data() : nullptr;
  alignas(32) float lane_scores[kLanes];
  for (int64_t i = 0; i < n; i += kLanes) {
    const int64_t c = std::min(kLanes, n - i);
    gather_panel(p, idx + i, c, ws.panel.data(), ws.panel_scale.data(), ws.panel_rows.data());
    panel_scores(q.rows, q.w, q.n, ws.panel.data(), p.D, scale, ws.dots.data(), lane_scores);
    std::copy(lane_scores, lane_scores + c, out + i);
  }
}

}  // namespace hisa::cpu
