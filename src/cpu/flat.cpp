// flat (DSA): score every visible key, keep the top min(topk, n_t). A tile of queries shares
// each key panel while it is in L1.
#include <algorithm>

#include "cpu/methods.hpp"
#include "cpu/score.hpp"
#include "cpu/topk.hpp"

namespace hisa::cpu {

void flat_rows(const Context& ctx, Workspace& ws, const int64_t* ts, int64_t n, int32_t* out) {
  const Problem& p = ctx.p;
  const int64_t topk = ctx.cfg.topk;
  load_queries(p, ts, n, ws);

  int64_t stride = 0;
  for (int64_t i = 0; i < n; ++i) stride = std::max(stride, range_of(p, ts[i]).n());
  if (static_cast<int64_t>(ws.scores.size()) < n * stride) ws.scores.resize(n * stride);

  RangeJob jobs[kFlatTile];
  for (int64_t i = 0; i < n; ++i) {
    const Range r = range_of(p, ts[i]);
    jobs[i] = RangeJob{QueryRows{ws.rows.data() + i * p.H, p.w + ts[i] * p.H, p.H}, r.ks, r.ke,
                       ws.scores.data() + i * stride};
  }
  score_ranges(key_panels(ctx), jobs, n, ws);

  for (int64_t i = 0; i < n; ++i) {
    const RangeJob& job = jobs[i];
    ws.ranked.resize(job.hi - job.lo);
    for (int64_t s = job.lo; s < job.hi; ++s)
      ws.ranked[s - job.lo] = rank_key(job.out[s - job.lo], s);
    keep_top(ws.ranked, topk);
    write_ranked(ws.ranked, out + ts[i] * topk, topk);
  }
}

}  // namespace hisa::cpu
