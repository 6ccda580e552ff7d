// block_diagnostics (block_diagnostics.hpp).
#include "eval/block_diagnostics.hpp"

#include <algorithm>
#include <functional>
#include <string>
#include <utility>

#include "eval/parallel_rows.hpp"
#include "hisa/error.hpp"

namespace hisa::eval {

BlockDiagnostics block_diagnostics(const Problem& p, IndexList flat, int64_t B,
                                   const std::vector<int64_t>& m, int threads) {
  if (B < 1) throw ArgumentError("B", "must be >= 1, got " + std::to_string(B));
  for (int64_t x : m)
    if (x < 2) throw ArgumentError("m", "must be >= 2, got " + std::to_string(x));
  const int64_t T = p.T;
  std::vector<double> touched(T), visible(T);
  std::vector<std::vector<double>> oracle(m.size(), std::vector<double>(T));
  parallel_rows(T, threads, [&](int64_t t) {
    const Range r = range_of(p, t);
    const int64_t nb = (r.n() + B - 1) / B;
    std::vector<int64_t> count(static_cast<std::size_t>(nb), 0);
    const std::vector<int32_t> picks = row_entries(p, flat, t, "flat");
    for (int32_t s : picks) ++count[(s - r.ks) / B];
    visible[t] = static_cast<double>(nb);
    touched[t] = static_cast<double>(std::count_if(count.begin(), count.end(),
                                                   [](int64_t c) { return c > 0; }));
    const double total = static_cast<double>(picks.size());
    // Middle blocks 1..nb-2, fullest first.
    std::vector<int64_t> middle(count.begin() + std::min<int64_t>(1, nb),
                                count.begin() + std::max<int64_t>(std::min<int64_t>(1, nb), nb - 1));
    std::sort(middle.begin(), middle.end(), std::greater<>());
    for (std::size_t i = 0; i < m.size(); ++i) {
      if (nb <= m[i] || picks.empty()) {
        oracle[i][t] = 1.0;
        continue;
      }
      int64_t held = count[0] + count[nb - 1];
      for (int64_t j = 0; j < m[i] - 2; ++j) held += middle[j];
      oracle[i][t] = static_cast<double>(held) / total;
    }
  });
  BlockDiagnostics out;
  out.B = B;
  out.touched = std::move(touched);
  out.visible = std::move(visible);
  out.m = m;
  out.oracle = std::move(oracle);
  return out;
}

void BlockDiagnostics::append(const BlockDiagnostics& o) {
  if (o.B != B || o.m != m) throw ArgumentError("diagnostics", "appending a different (B, m) set");
  touched.insert(touched.end(), o.touched.begin(), o.touched.end());
  visible.insert(visible.end(), o.visible.begin(), o.visible.end());
  for (std::size_t i = 0; i < m.size(); ++i)
    oracle[i].insert(oracle[i].end(), o.oracle[i].begin(), o.oracle[i].end());
}

}  // namespace hisa::eval
