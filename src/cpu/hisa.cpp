// HISA (and block-sparse, m = topk / B): score the blocks, keep block 0, the local block and
// the m-2 best middle blocks, then score only the kept blocks' tokens and keep the top k.
// With shared_candidates, a tile of queries selects from the union of its kept blocks.
#include <algorithm>

#include "cpu/methods.hpp"
#include "cpu/score.hpp"
#include "cpu/topk.hpp"

namespace hisa::cpu {
namespace {

// Appends the kept blocks of query t to `ids`: all of its nb blocks when nb <= m (or when it
// sees at most topk keys), else HISA's m. Leaves t's decoded rows in ws.rows.
void append_kept(const Context& ctx, Workspace& ws, int64_t t, int64_t m,
                 std::vector<int32_t>& ids) {
  const Problem& p = ctx.p;
  const int64_t B = ctx.cfg.block_size;
  const Range r = range_of(p, t);
  const int64_t nb = (r.n() + B - 1) / B;
  if (r.n() <= ctx.cfg.topk || nb <= m) {
    for (int64_t j = 0; j < nb; ++j) ids.push_back(static_cast<int32_t>(j));
    return;
  }
  load_queries(p, &t, 1, ws);
  const QueryRows q{ws.rows.data(), p.w + t * p.H, p.H};
  kept_blocks(ctx, ws, q, r, nb, m);
  ids.insert(ids.end(), ws.ids.begin(), ws.ids.end());
}

// The top topk of query t over the tokens of `blocks` (ascending block ids, aligned to its
// ks) that lie in its visible range.
void select_from_blocks(const Context& ctx, Workspace& ws, int64_t t,
                        const std::vector<int32_t>& blocks, int32_t* out) {
  const Problem& p = ctx.p;
  const int64_t topk = ctx.cfg.topk, B = ctx.cfg.block_size;
  const Range r = range_of(p, t);
  load_queries(p, &t, 1, ws);
  const QueryRows q{ws.rows.data(), p.w + t * p.H, p.H};
  // Candidates scored straight from the packed key panels (no gather), ascending j.
  ws.ranked.clear();
  for (int32_t j : blocks) {
    const int64_t first = r.ks + j * B, last = std::min(r.ke, first + B);
    if (first < last) append_ranked(key_panels(ctx), q, first, last, ws);
  }
  keep_top(ws.ranked, topk);
  write_ranked(ws.ranked, out + t * topk, topk);
}

}  // namespace

void hisa_rows(const Context& ctx, Workspace& ws, const int64_t* ts, int64_t n, int64_t m,
               int32_t* out) {
  if (n == 1) {
    const int64_t t = ts[0], B = ctx.cfg.block_size;
    const Range r = range_of(ctx.p, t);
    // Every visible token fits, or every block is kept: the answer is flat's (SPEC.md).
    if (r.n() <= ctx.cfg.topk || (r.n() + B - 1) / B <= m) {
      flat_rows(ctx, ws, &t, 1, out);
      return;
    }
    ws.union_ids.clear();
    append_kept(ctx, ws, t, m, ws.union_ids);
    select_from_blocks(ctx, ws, t, ws.union_ids, out);
    return;
  }
  // A shared_candidates tile (one sequence): the union of every query's kept blocks.
  ws.union_ids.clear();
  for (int64_t i = 0; i < n; ++i) append_kept(ctx, ws, ts[i], m, ws.union_ids);
  std::sort(ws.union_ids.begin(), ws.union_ids.end());
  ws.union_ids.erase(std::unique(ws.union_ids.begin(), ws.union_ids.end()), ws.union_ids.end());
  for (int64_t i = 0; i < n; ++i) select_from_blocks(ctx, ws, ts[i], ws.union_ids, out);
}

}  // namespace hisa::cpu
