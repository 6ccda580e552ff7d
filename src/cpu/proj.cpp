// proj: a token-level candidate generator cheaper than flat. The first and the local block (B
// tokens aligned to ks, as HISA's) are always candidates; every other visible token is scored
// in the sequence's d'-dimensional key space (projection.hpp) with all heads, the best c*topk
// of them by that reduced score join the candidates, which are re-ranked by the exact score I;
// the top topk are kept.
#include <algorithm>

#include "cpu/methods.hpp"
#include "cpu/score.hpp"
#include "cpu/topk.hpp"

namespace hisa::cpu {

void proj_row(const Context& ctx, Workspace& ws, int64_t t, int32_t* out) {
  const Problem& p = ctx.p;
  const int64_t topk = ctx.cfg.topk, c = ctx.cfg.candidates;
  const Range r = range_of(p, t);
  const int64_t n = r.n();
  // c*topk >= n keeps every token before the exact re-rank: the answer is flat's.
  if (c >= (n + topk - 1) / topk) {
    flat_rows(ctx, ws, &t, 1, out);
    return;
  }
  const auto it = std::lower_bound(
      ctx.projections.begin(), ctx.projections.end(), r.ks,
      [](const Projection& pr, int64_t ks) { return pr.ks < ks; });
  const Projection& proj = *it;  // select() made one for every sequence start
  load_queries(p, &t, 1, ws);
  const int64_t dim = proj.dim;
  ws.qp.resize(p.H * dim);
  ws.qp_rows.resize(p.H);
  for (int64_t h = 0; h < p.H; ++h) {
    project_row(proj, ws.rows[h], ws.qp.data() + h * dim);
    ws.qp_rows[h] = ws.qp.data() + h * dim;
  }

  // Reduced scores of the tokens between the first and the local block; the best c*topk of
  // them and every token of those two blocks are re-ranked by I.
  const int64_t B = ctx.cfg.block_size, nb = (n + B - 1) / B;
  const int64_t first_end = std::min(r.ke, r.ks + B);
  const int64_t local_begin = std::max(first_end, r.ks + (nb - 1) * B);
  const QueryRows reduced{ws.qp_rows.data(), p.w + t * p.H, p.H};
  ws.ranked.clear();
  append_ranked(PanelSource{proj.keys.data(), dim, nullptr, proj.first_panel}, reduced,
                first_end, local_begin, ws);
  keep_top(ws.ranked, c * topk, /*ranked=*/false);
  ws.tokens.clear();
  for (int64_t s = r.ks; s < first_end; ++s) ws.tokens.push_back(static_cast<int32_t>(s));
  for (uint64_t key : ws.ranked) ws.tokens.push_back(index_of(key));
  for (int64_t s = local_begin; s < r.ke; ++s) ws.tokens.push_back(static_cast<int32_t>(s));
  rerank_tokens(ctx, ws, t, out);
}

}  // namespace hisa::cpu
