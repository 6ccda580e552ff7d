// hisa_misa: HISA's block filter, then MISA's routed heads over the kept tokens, then the
// exact re-rank. Stage 1 keeps m blocks as HISA does (block 0, the local block, the m-2 best
// by the block summary); the router picks the a heads of MISA; the kept blocks' tokens are
// scored with those heads only (I_A), the best c*topk re-ranked by I, the top topk kept.
// c*topk >= the candidates gives HISA's answer; m >= nb gives hierarchical MISA's.
#include <algorithm>
#include <utility>
#include <vector>

#include "cpu/methods.hpp"
#include "cpu/score.hpp"
#include "cpu/topk.hpp"

namespace hisa::cpu {

void hisa_misa_row(const Context& ctx, Workspace& ws, int64_t t, int32_t* out) {
  const Problem& p = ctx.p;
  const int64_t topk = ctx.cfg.topk, B = ctx.cfg.block_size, m = ctx.cfg.blocks;
  const int64_t c = ctx.cfg.candidates;
  const Range r = range_of(p, t);
  const int64_t n = r.n(), nb = (n + B - 1) / B;
  if (n <= topk) {
    flat_rows(ctx, ws, &t, 1, out);
    return;
  }
  load_queries(p, &t, 1, ws);
  const QueryRows q{ws.rows.data(), p.w + t * p.H, p.H};

  // Candidates: the tokens of the kept blocks (every visible token when nb <= m), as runs.
  std::vector<std::pair<int64_t, int64_t>>& runs = ws.runs;
  runs.clear();
  if (nb <= m) {
    runs.emplace_back(r.ks, r.ke);
  } else {
    kept_blocks(ctx, ws, q, r, nb, m);
    for (int32_t j : ws.ids) runs.emplace_back(r.ks + j * B, std::min(r.ke, r.ks + (j + 1) * B));
  }
  int64_t nc = 0;
  for (const auto& [first, last] : runs) nc += last - first;
  if (c >= (nc + topk - 1) / topk) {  // every candidate is re-ranked: HISA's answer
    ws.tokens.clear();
    for (const auto& [first, last] : runs)
      for (int64_t s = first; s < last; ++s) ws.tokens.push_back(static_cast<int32_t>(s));
    rerank_tokens(ctx, ws, t, out);
    return;
  }

  // Routed scores I_A of the candidates, straight from the key panels; keep the best c*topk
  // (unordered), then the exact re-rank by I.
  route(ctx, ws, t, r, nb - 1);
  const QueryRows routed{ws.active_rows.data(), ws.active_w.data(),
                         static_cast<int64_t>(ws.active_rows.size())};
  ws.ranked.clear();
  for (const auto& [first, last] : runs) append_ranked(key_panels(ctx), routed, first, last, ws);
  rerank_best(ctx, ws, t, c * topk, out);
}

}  // namespace hisa::cpu
