// Block diagnostics of an exact selection (docs/fidelity.md "Block diagnostics"): how spread
// over B-token blocks flat's top-k is, and how much of it the best m blocks could hold. They
// bound every block method: HISA's recall against flat equals the share of flat's top-k that
// lies in its kept blocks (a token of flat's top-k that is a candidate always makes the top-k
// of the candidates), so HISA's recall <= the oracle coverage at the same (B, m).
#pragma once

#include <cstdint>
#include <vector>

#include "eval/compare.hpp"
#include "hisa/metrics.hpp"

namespace hisa::eval {

// Per-row values (summarize() them; rows of several cases can be concatenated first).
struct BlockDiagnostics {
  int64_t B = 0;
  std::vector<double> touched;  // distinct blocks (aligned to ks, as HISA's) holding flat's picks
  std::vector<double> visible;  // blocks of the visible range, nb = ceil(n / B)
  std::vector<int64_t> m;
  std::vector<std::vector<double>> oracle;  // per m: oracle coverage of flat's picks (below)
  void append(const BlockDiagnostics& other);  // concatenates the rows of the same (B, m)
};

// Oracle coverage of row t at (B, m): the largest share of flat's picks that m blocks can hold
// under HISA's rule that block 0 and the local block nb-1 are always kept (so: the picks in
// those two blocks plus the m-2 fullest other blocks), over the number of picks; 1 when
// nb <= m or the row has no picks. Rows are every row of `p`.
BlockDiagnostics block_diagnostics(const Problem& p, IndexList flat, int64_t B,
                                   const std::vector<int64_t>& m, int threads = 0);

}  // namespace hisa::eval
