// scored_triples (cost.hpp): each branch follows the method's definition in SPEC.md and the
// CPU reference's fallbacks (a row that equals flat costs what flat costs).
#include "eval/cost.hpp"

#include <algorithm>

namespace hisa::eval {
namespace {

// HISA with m kept blocks: stage 1 scores the middle blocks 1..nb-2 (the first and the local
// block are kept unscored), stage 2 every token of the m kept blocks.
double hisa_triples(const Problem& p, const Config& cfg, int64_t n, int64_t m) {
  const int64_t B = cfg.block_size, nb = (n + B - 1) / B, H = p.H;
  if (n <= cfg.topk || nb <= m) return static_cast<double>(n * H);
  const int64_t candidates = (m - 1) * B + (n - (nb - 1) * B);  // m-1 full blocks + the local
  return static_cast<double>((nb - 2) * H + candidates * H);
}

}  // namespace

double scored_triples(const Problem& p, const Config& cfg, int64_t t) {
  const int64_t n = range_of(p, t).n(), H = p.H, topk = cfg.topk;
  switch (cfg.method) {
    case Method::flat:
      return static_cast<double>(n * H);
    case Method::hisa:
      return hisa_triples(p, cfg, n, cfg.blocks);
    case Method::block:
      return hisa_triples(p, cfg, n, topk / cfg.block_size);
    case Method::misa: {
      const int64_t c = cfg.candidates, nfull = (n + cfg.block_size - 1) / cfg.block_size - 1;
      if (c >= (n + topk - 1) / topk || nfull <= 0 || cfg.heads >= H)
        return static_cast<double>(n * H);
      // Router over the full blocks, routed scores of every token, the exact re-rank of the
      // c*topk candidates with all heads (plain MISA, c = 1, also orders its picks by I).
      return static_cast<double>(nfull * H + n * cfg.heads + std::min(c * topk, n) * H);
    }
  }
  return 0;
}

}  // namespace hisa::eval
