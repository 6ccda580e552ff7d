// Mass recall with shared flat scores, row sampling, needle recall (compare.hpp).
#include "eval/compare.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "cpu/cpu_backend.hpp"
#include "eval/parallel_rows.hpp"
#include "hisa/error.hpp"
#include "hisa/select.hpp"

namespace hisa::eval {
namespace {

// Positive part of the exact score; NaN counts as no mass.
double positive_score(const Problem& p, int64_t t, int64_t s) {
  const float v = cpu::token_score(p, t, s);
  return v > 0.0f ? static_cast<double>(v) : 0.0;
}

}  // namespace

std::vector<int32_t> row_entries(const Problem& p, IndexList list, int64_t t, const char* name) {
  const Range r = range_of(p, t);
  std::vector<int32_t> v;
  v.reserve(static_cast<std::size_t>(list.k));
  for (int64_t j = 0; j < list.k; ++j) {
    const int32_t s = list.idx[t * list.k + j];
    if (s == -1) continue;
    if (s < r.ks || s >= r.ke)
      throw ArgumentError(name, "row " + std::to_string(t) + " holds index " + std::to_string(s) +
                                    " outside its visible range [" + std::to_string(r.ks) + ", " +
                                    std::to_string(r.ke) + ")");
    v.push_back(s);
  }
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

FlatMass::FlatMass(const Problem& p, IndexList flat, std::vector<int64_t> rows, int threads)
    : p_(p), rows_(std::move(rows)) {
  if (p.memory != Device::cpu) throw ArgumentError("problem", "mass recall needs host memory");
  validate_shapes(p, Config{});
  if (rows_.empty()) rows_ = spread_rows(p.T, 0);
  for (int64_t t : rows_)
    if (t < 0 || t >= p.T)
      throw ArgumentError(
          "rows", "row " + std::to_string(t) + " outside [0, T=" + std::to_string(p.T) + ")");
  if (p.T > 0 && (flat.idx == nullptr || flat.k < 0))
    throw ArgumentError("flat", "null or negative-length index list");
  const int64_t n = static_cast<int64_t>(rows_.size());
  tokens_.resize(n);
  score_.resize(n);
  mass_.assign(n, 0.0);
  parallel_rows(n, threads, [&](int64_t j) {
    const int64_t t = rows_[j];
    tokens_[j] = row_entries(p_, flat, t, "flat");
    score_[j].resize(tokens_[j].size());
    for (std::size_t i = 0; i < tokens_[j].size(); ++i) {
      score_[j][i] = positive_score(p_, t, tokens_[j][i]);
      mass_[j] += score_[j][i];
    }
  });
}

std::vector<double> FlatMass::recall(IndexList approx, int threads) const {
  if (p_.T > 0 && (approx.idx == nullptr || approx.k < 0))
    throw ArgumentError("approx", "null or negative-length index list");
  const int64_t n = static_cast<int64_t>(rows_.size());
  std::vector<double> out(n, 1.0);
  parallel_rows(n, threads, [&](int64_t j) {
    const int64_t t = rows_[j];
    const std::vector<int32_t>& f = tokens_[j];
    double mass = 0;
    for (int32_t s : row_entries(p_, approx, t, "approx")) {
      auto it = std::lower_bound(f.begin(), f.end(), s);
      mass += (it != f.end() && *it == s) ? score_[j][it - f.begin()] : positive_score(p_, t, s);
    }
    out[j] = mass_[j] > 0 ? mass / mass_[j] : 1.0;
  });
  return out;
}

std::vector<int64_t> spread_rows(int64_t T, int64_t count) {
  std::vector<int64_t> rows;
  if (T <= 0) return rows;
  if (count <= 0 || count >= T) {
    rows.resize(T);
    for (int64_t t = 0; t < T; ++t) rows[t] = t;
    return rows;
  }
  // Row j of count: the middle of the j-th of `count` equal slices (distinct since count < T).
  rows.resize(count);
  for (int64_t j = 0; j < count; ++j) rows[j] = (2 * j + 1) * T / (2 * count);
  return rows;
}

double needle_recall(IndexList sel, int64_t T, const std::vector<Needle>& needles) {
  if (needles.empty()) return -1.0;
  int64_t found = 0;
  for (const Needle& nd : needles) {
    if (nd.t < 0 || nd.t >= T)
      throw ArgumentError("needles", "query row " + std::to_string(nd.t) + " outside [0, T)");
    const int32_t* row = sel.idx + nd.t * sel.k;
    if (std::find(row, row + sel.k, static_cast<int32_t>(nd.s)) != row + sel.k) ++found;
  }
  return static_cast<double>(found) / static_cast<double>(needles.size());
}

}  // namespace hisa::eval
