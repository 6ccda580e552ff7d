// hisa::cpu::select: packs the keys once, orders queries by sequence start, cuts them into
// tiles and runs the tiles on std::thread workers (parallel.hpp), each with its own workspace.
#include <algorithm>
#include <numeric>
#include <vector>

#include "cpu/cpu_backend.hpp"
#include "cpu/methods.hpp"
#include "cpu/parallel.hpp"

namespace hisa::cpu {

void select(const Problem& p, const Config& cfg, int32_t* out, const Options& opts) {
  if (p.T == 0) return;
  Context ctx{p, cfg, pack_keys(p, opts.threads), {}};

  // Queries sorted by (ks, t): a tile never mixes sequences and a worker's pooled-key cache
  // (keyed by ks) is reused by the next tiles it takes.
  std::vector<int64_t> order(p.T);
  std::iota(order.begin(), order.end(), 0);
  if (p.ks != nullptr)
    std::stable_sort(order.begin(), order.end(),
                     [&p](int64_t a, int64_t b) { return p.ks[a] < p.ks[b]; });

  // Tiles: [begin, end) into `order`. flat tiles hold up to kFlatTile queries of one ks;
  // hisa with shared_candidates = Q > 1 cuts each sequence into the tiles of SPEC.md (rows
  // [iQ, (i+1)Q) counted from the sequence's first query row).
  const int64_t Q = cfg.method == Method::hisa ? cfg.shared_candidates : 1;
  const int64_t tile_max = cfg.method == Method::flat ? kFlatTile : 1;
  std::vector<int64_t> tile_begin;
  int64_t seq_first = 0;  // first query row of the current sequence
  for (int64_t i = 0; i < p.T; ++i) {
    const bool same_seq = i > 0 && range_of(p, order[i]).ks == range_of(p, order[i - 1]).ks;
    if (!same_seq) seq_first = order[i];
    const bool new_tile =
        Q > 1 ? !same_seq || (order[i] - seq_first) / Q != (order[i - 1] - seq_first) / Q
              : !same_seq || i - tile_begin.back() >= tile_max;
    if (tile_begin.empty() || new_tile) tile_begin.push_back(i);
  }
  const int64_t tiles = static_cast<int64_t>(tile_begin.size());
  tile_begin.push_back(p.T);

  // proj: the reduced key space of every sequence (queries sharing ks), from its keys
  // [ks, largest ke of its queries), in ascending ks.
  if (cfg.method == Method::proj) {
    for (int64_t i = 0; i < tiles; ++i) {
      const int64_t ks = range_of(p, order[tile_begin[i]]).ks;
      if (!ctx.projections.empty() && ctx.projections.back().ks == ks) continue;
      int64_t kend = ks;
      for (int64_t j = tile_begin[i]; j < p.T && range_of(p, order[j]).ks == ks; ++j)
        kend = std::max(kend, range_of(p, order[j]).ke);
      ctx.projections.push_back(make_projection(p, ks, kend, cfg.proj_dim, opts.threads));
    }
  }

  const int workers = worker_count(opts.threads, tiles);
  std::vector<Workspace> spaces(workers);
  parallel_for(tiles, workers, [&](int64_t tile, int worker) {
    Workspace& ws = spaces[worker];
    const int64_t* ts = order.data() + tile_begin[tile];
    const int64_t n = tile_begin[tile + 1] - tile_begin[tile];
    switch (cfg.method) {
      case Method::flat: flat_rows(ctx, ws, ts, n, out); break;
      case Method::hisa: hisa_rows(ctx, ws, ts, n, cfg.blocks, out); break;
      case Method::block: hisa_rows(ctx, ws, ts, n, cfg.topk / cfg.block_size, out); break;
      case Method::misa: misa_row(ctx, ws, ts[0], out); break;
      case Method::proj: proj_row(ctx, ws, ts[0], out); break;
      case Method::hisa_misa: hisa_misa_row(ctx, ws, ts[0], out); break;
    }
  });
}

}  // namespace hisa::cpu
