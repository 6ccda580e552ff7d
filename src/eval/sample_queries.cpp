// sample_queries (sample_queries.hpp).
#include "eval/sample_queries.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "eval/compare.hpp"

namespace hisa::eval {

Workload sample_queries(const Workload& wl, int64_t count) {
  const Problem p = wl.problem();  // size checks
  if (count <= 0 || count >= wl.T) return wl;
  std::vector<int64_t> rows = spread_rows(wl.T, count);
  for (const Needle& n : wl.needles) rows.push_back(n.t);
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());

  Workload out;
  out.dtype = wl.dtype;
  out.T = static_cast<int64_t>(rows.size());
  out.S = wl.S;
  out.H = wl.H;
  out.D = wl.D;
  out.k = wl.k;
  out.k_scale = wl.k_scale;
  const std::size_t q_row = static_cast<std::size_t>(wl.H * wl.D) * dtype_size(wl.dtype);
  out.q.resize(rows.size() * q_row);
  out.w.resize(rows.size() * static_cast<std::size_t>(wl.H));
  for (std::size_t j = 0; j < rows.size(); ++j) {
    const int64_t t = rows[j];
    std::copy_n(wl.q.begin() + t * q_row, q_row, out.q.begin() + j * q_row);
    std::copy_n(wl.w.begin() + t * wl.H, wl.H, out.w.begin() + j * wl.H);
    if (!wl.q_scale.empty())
      out.q_scale.insert(out.q_scale.end(), wl.q_scale.begin() + t * wl.H,
                         wl.q_scale.begin() + (t + 1) * wl.H);
    const Range r = range_of(p, t);
    out.ks.push_back(static_cast<int32_t>(r.ks));
    out.ke.push_back(static_cast<int32_t>(r.ke));
  }
  for (const Needle& n : wl.needles) {
    const auto at = std::lower_bound(rows.begin(), rows.end(), n.t);
    out.needles.push_back({at - rows.begin(), n.s});
  }
  out.description = wl.description + " [" + std::to_string(out.T) + " of " + std::to_string(wl.T) +
                    " query rows]";
  return out;
}

}  // namespace hisa::eval
