// HISA (and block-sparse, m = topk / B): score the blocks, keep block 0, the local block and
// the m-2 best middle blocks, then score only the kept blocks' tokens and keep the top k.
#include <algorithm>

#include "cpu/methods.hpp"
#include "cpu/score.hpp"
#include "cpu/topk.hpp"

namespace hisa::cpu {

void hisa_row(const Context& ctx, Workspace& ws, int64_t t, int64_t m, int32_t* out) {
  const Problem& p = ctx.p;
  const int64_t topk = ctx.cfg.topk, B = ctx.cfg.block_size;
  const Range r = range_of(p, t);
  const int64_t n = r.n(), nb = (n + B - 1) / B;
  // Every visible token fits, or every block is kept: the answer is flat's (SPEC.md).
  if (n <= topk || nb <= m) {
    flat_rows(ctx, ws, &t, 1, out);
    return;
  }
  load_queries(p, &t, 1, ws);
  const QueryRows q{ws.rows.data(), p.w + t * p.H, p.H};
  kept_blocks(ctx, ws, q, r, nb, m);

  // Candidates: the tokens of the kept blocks (only the local block can be cut by ke), scored
  // straight from the packed key panels (no gather); ascending j for locality.
  const PanelSource keys = key_panels(ctx);
  ws.scores.resize(std::max<int64_t>(ws.scores.size(), B));
  ws.ranked.clear();
  for (int32_t j : ws.ids) {
    const int64_t first = r.ks + j * B, last = std::min(r.ke, first + B);
    const RangeJob job{q, first, last, ws.scores.data()};
    score_ranges(keys, &job, 1, ws);
    for (int64_t s = first; s < last; ++s) ws.ranked.push_back(rank_key(ws.scores[s - first], s));
  }
  keep_top(ws.ranked, topk);
  write_ranked(ws.ranked, out + t * topk, topk);
}

}  // namespace hisa::cpu
