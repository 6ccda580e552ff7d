// MISA: route each query to its a most useful heads (router statistics on pooled keys), keep
// the top c*topk tokens by the routed score I_A, then the top topk of those by the full score I.
// Plain MISA is c = 1: its picks are returned ranked by I (see docs/cpu_backend.md).
#include <algorithm>
#include <cmath>

#include "cpu/kernel.hpp"
#include "cpu/methods.hpp"
#include "cpu/score.hpp"
#include "cpu/topk.hpp"

namespace hisa::cpu {

// Active heads of query t in ascending order, into ws.active_rows / ws.active_w.
// r(t,h) = |w[t,h]| * sum_{j < nfull} relu(dot(q[t,h], kbar_j)); the top a by (r, h).
void route(const Context& ctx, Workspace& ws, int64_t t, const Range& r, int64_t nfull) {
  const Problem& p = ctx.p;
  const float* w = p.w + t * p.H;
  std::vector<int32_t>& heads = ws.ids;
  heads.clear();
  if (nfull == 0) {  // no full block: SPEC.md says all heads are active
    for (int64_t h = 0; h < p.H; ++h) heads.push_back(static_cast<int32_t>(h));
  } else {
    ws.pooled.ensure(p, ctx.cfg.block_size, r.ks, nfull);
    ws.router.assign(p.H, 0.0f);
    ws.dots.resize(std::max<int64_t>(ws.dots.size(), p.H * kLanes));
    for (int64_t pj = 0; pj * kLanes < nfull; ++pj) {
      panel_dots(ws.rows.data(), p.H, ws.pooled.panel(pj), p.D, ws.dots.data());
      add_relu_rows(ws.dots.data(), p.H, std::min(kLanes, nfull - pj * kLanes),
                    ws.router.data());
    }
    ws.ranked.resize(p.H);
    for (int64_t h = 0; h < p.H; ++h) ws.ranked[h] = rank_key(std::fabs(w[h]) * ws.router[h], h);
    keep_top(ws.ranked, ctx.cfg.heads, /*ranked=*/false);
    for (uint64_t key : ws.ranked) heads.push_back(index_of(key));
    std::sort(heads.begin(), heads.end());  // the routed head sum runs h ascending
  }
  ws.active_rows.clear();
  ws.active_w.clear();
  for (int32_t h : heads) {
    ws.active_rows.push_back(ws.rows[h]);
    ws.active_w.push_back(w[h]);
  }
}

void rerank_tokens(const Context& ctx, Workspace& ws, int64_t t, int32_t* out) {
  const Problem& p = ctx.p;
  const int64_t nc = static_cast<int64_t>(ws.tokens.size()), topk = ctx.cfg.topk;
  const QueryRows full{ws.rows.data(), p.w + t * p.H, p.H};
  ws.scores.resize(std::max<int64_t>(ws.scores.size(), nc));
  score_tokens(p, full, ws.tokens.data(), nc, ws, ws.scores.data());
  ws.ranked.resize(nc);
  for (int64_t i = 0; i < nc; ++i) ws.ranked[i] = rank_key(ws.scores[i], ws.tokens[i]);
  keep_top(ws.ranked, topk);
  write_ranked(ws.ranked, out + t * topk, topk);
}

void rerank_best(const Context& ctx, Workspace& ws, int64_t t, int64_t keep, int32_t* out) {
  keep_top(ws.ranked, keep, /*ranked=*/false);
  ws.tokens.resize(ws.ranked.size());
  for (std::size_t i = 0; i < ws.ranked.size(); ++i) ws.tokens[i] = index_of(ws.ranked[i]);
  rerank_tokens(ctx, ws, t, out);
}

void misa_row(const Context& ctx, Workspace& ws, int64_t t, int32_t* out) {
  const Problem& p = ctx.p;
  const int64_t topk = ctx.cfg.topk, B = ctx.cfg.block_size, c = ctx.cfg.candidates;
  const Range r = range_of(p, t);
  const int64_t n = r.n();
  // c*topk >= n keeps every token before the exact re-rank: the answer is flat's.
  // (Compared as c >= ceil(n / topk) so that c*topk cannot overflow.)
  if (c >= (n + topk - 1) / topk) {
    flat_rows(ctx, ws, &t, 1, out);
    return;
  }
  load_queries(p, &t, 1, ws);
  route(ctx, ws, t, r, (n + B - 1) / B - 1);
  if (static_cast<int64_t>(ws.active_rows.size()) == p.H) {  // I_A == I: flat's answer
    flat_rows(ctx, ws, &t, 1, out);
    return;
  }

  // Routed scores I_A over the whole visible range; the top c*topk re-ranked by I.
  const QueryRows routed{ws.active_rows.data(), ws.active_w.data(),
                         static_cast<int64_t>(ws.active_rows.size())};
  ws.ranked.clear();
  append_ranked(key_panels(ctx), routed, r.ks, r.ke, ws);
  rerank_best(ctx, ws, t, c * topk, out);
}

}  // namespace hisa::cpu
