// scored_triples (cost.hpp): each branch follows the method's definition in SPEC.md and the
// CPU reference's fallbacks (a row that equals flat costs what flat costs).
#include "eval/cost.hpp"

#include <algorithm>

namespace hisa::eval {
namespace {

// Products per (head, block) of a block summary: the mean needs one D-long dot product, bound
// and emax two (q against lo and hi; q . kbar and q^2 . var).
int64_t summary_factor(const Config& cfg) {
  return cfg.block_summary == BlockSummary::mean ? 1 : 2;
}

// Candidate tokens of HISA's m kept blocks when nb > m: m-1 full blocks and the local block.
int64_t kept_tokens(int64_t n, int64_t B, int64_t m) {
  const int64_t nb = (n + B - 1) / B;
  return (m - 1) * B + (n - (nb - 1) * B);
}

// HISA with m kept blocks: stage 1 scores the middle blocks 1..nb-2 (the first and the local
// block are kept unscored), stage 2 every token of the m kept blocks.
double hisa_triples(const Problem& p, const Config& cfg, int64_t n, int64_t m) {
  const int64_t B = cfg.block_size, nb = (n + B - 1) / B, H = p.H;
  if (n <= cfg.topk || nb <= m) return static_cast<double>(n * H);
  return static_cast<double>((nb - 2) * H * summary_factor(cfg) + kept_tokens(n, B, m) * H);
}

// HISA's filter (stage 1 as above), MISA's router, routed scores of the kept tokens, the
// exact re-rank of c*topk of them (hisa_misa.cpp's fallbacks included).
double hisa_misa_triples(const Problem& p, const Config& cfg, int64_t n) {
  const int64_t B = cfg.block_size, nb = (n + B - 1) / B, H = p.H, m = cfg.blocks;
  const int64_t topk = cfg.topk, c = cfg.candidates;
  if (n <= topk) return static_cast<double>(n * H);
  const bool filtered = nb > m;
  const int64_t stage1 = filtered ? (nb - 2) * H * summary_factor(cfg) : 0;
  const int64_t nc = filtered ? kept_tokens(n, B, m) : n;
  if (c >= (nc + topk - 1) / topk) return static_cast<double>(stage1 + nc * H);
  const int64_t nfull = nb - 1;
  // The router's q . kbar_j over the full blocks: stage 1 already has blocks 1..nb-2 when it
  // used the mean summary, so only block 0 is new.
  const int64_t router =
      filtered && cfg.block_summary == BlockSummary::mean ? H : nfull * H;
  const int64_t heads = nfull == 0 ? H : cfg.heads;
  return static_cast<double>(stage1 + router + nc * heads + std::min(c * topk, nc) * H);
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
    case Method::proj: {
      if (cfg.candidates >= (n + topk - 1) / topk) return static_cast<double>(n * H);
      // Query projection (H x d' D-long products), reduced scores of the tokens outside the
      // first and the local block (d'/D of a triple each), the exact re-rank of c*topk of them
      // plus those two blocks. The per-sequence basis and key projection (about d' products
      // per key, shared by the sequence's queries) are not counted.
      const int64_t B = cfg.block_size, nb = (n + B - 1) / B;
      const int64_t first = std::min(n, B), forced = first + (n - std::max(first, (nb - 1) * B));
      const double dp = static_cast<double>(cfg.proj_dim);
      return dp * static_cast<double>(H) +
             static_cast<double>((n - forced) * H) * dp / static_cast<double>(p.D) +
             static_cast<double>((std::min(cfg.candidates * topk, n - forced) + forced) * H);
    }
    case Method::hisa_misa:
      return hisa_misa_triples(p, cfg, n);
  }
  return 0;
}

}  // namespace hisa::eval
