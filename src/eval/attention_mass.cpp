// AttentionMass (attention_mass.hpp).
#include "eval/attention_mass.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "cpu/score.hpp"
#include "eval/parallel_rows.hpp"
#include "hisa/error.hpp"

namespace hisa::eval {
namespace {

// Dot product of two f32 rows in double, 4 independent partial sums (order fixed: the result
// does not depend on threads).
double dot(const float* a, const float* b, int64_t D) {
  double acc[4] = {0, 0, 0, 0};
  int64_t d = 0;
  for (; d + 4 <= D; d += 4)
    for (int i = 0; i < 4; ++i) acc[i] += static_cast<double>(a[d + i]) * b[d + i];
  for (; d < D; ++d) acc[0] += static_cast<double>(a[d]) * b[d];
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

}  // namespace

AttentionMass::AttentionMass(const Workload& wl, double attn_scale, std::vector<int64_t> rows,
                             int threads)
    : p_(wl.problem()), rows_(std::move(rows)) {
  const Problem& p = p_;
  scale_ = attn_scale > 0 ? attn_scale : 1.0 / std::sqrt(static_cast<double>(p.D));
  if (rows_.empty()) rows_ = spread_rows(p.T, 0);
  for (int64_t t : rows_)
    if (t < 0 || t >= p.T)
      throw ArgumentError("rows", "row " + std::to_string(t) + " outside [0, T=" +
                                      std::to_string(p.T) + ")");
  // Keys dequantized once: k[s,:] * k_scale[s].
  std::vector<float> keys(static_cast<std::size_t>(p.S * p.D));
  parallel_rows(p.S, threads, [&](int64_t s) {
    float* row = keys.data() + s * p.D;
    cpu::decode_run(p.dtype, p.k, s * p.D, p.D, row);
    if (p.k_scale)
      for (int64_t d = 0; d < p.D; ++d) row[d] *= p.k_scale[s];
  });
  mass_.resize(rows_.size());
  parallel_rows(static_cast<int64_t>(rows_.size()), threads, [&](int64_t j) {
    const int64_t t = rows_[j];
    const Range r = range_of(p, t);
    const int64_t n = r.n();
    std::vector<float>& out = mass_[j];
    out.assign(static_cast<std::size_t>(n), 0.0f);
    if (n == 0) return;
    std::vector<float> q(static_cast<std::size_t>(p.D));
    std::vector<double> logit(static_cast<std::size_t>(n)), acc(static_cast<std::size_t>(n), 0.0);
    for (int64_t h = 0; h < p.H; ++h) {
      cpu::decode_run(p.dtype, p.q, (t * p.H + h) * p.D, p.D, q.data());
      const double qs = wl.q_scale.empty() ? 1.0 : wl.q_scale[t * p.H + h];
      double top = -INFINITY;
      for (int64_t i = 0; i < n; ++i) {
        logit[i] = scale_ * qs * dot(q.data(), keys.data() + (r.ks + i) * p.D, p.D);
        top = std::max(top, logit[i]);
      }
      double z = 0;
      for (int64_t i = 0; i < n; ++i) z += (logit[i] = std::exp(logit[i] - top));
      for (int64_t i = 0; i < n; ++i) acc[i] += logit[i] / z;
    }
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(acc[i] / static_cast<double>(p.H));
  });
}

std::vector<double> AttentionMass::share(IndexList sel, int threads) const {
  if (p_.T > 0 && (sel.idx == nullptr || sel.k < 0))
    throw ArgumentError("sel", "null or negative-length index list");
  const int64_t n = static_cast<int64_t>(rows_.size());
  std::vector<double> out(n, 0.0);
  parallel_rows(n, threads, [&](int64_t j) {
    const int64_t t = rows_[j];
    const int64_t ks = range_of(p_, t).ks;
    double m = 0;
    for (int32_t s : row_entries(p_, sel, t, "sel")) m += mass_[j][s - ks];
    out[j] = std::min(1.0, m);
  });
  return out;
}

}  // namespace hisa::eval
