// Fidelity metrics (metrics.hpp, SPEC.md "Fidelity metrics"): set overlap per row, score-mass
// recall with the exact CPU score, nearest-rank summaries.
#include "hisa/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "eval/compare.hpp"
#include "eval/parallel_rows.hpp"
#include "hisa/error.hpp"

namespace hisa {
namespace {

// Checks one [T, k] list: non-null when it has elements, every entry -1 or >= 0. Returns the
// largest index (or -1).
int64_t check_list(const int32_t* idx, int64_t k, int64_t T, const char* name) {
  if (k < 0) throw ArgumentError(name, "row length k must be >= 0, got " + std::to_string(k));
  if (T < 0) throw ArgumentError("T", "must be >= 0, got " + std::to_string(T));
  if (k > 0 && T > 0 && idx == nullptr) throw ArgumentError(name, "null index list");
  int64_t largest = -1;
  for (int64_t i = 0; i < T * k; ++i) {
    const int32_t v = idx[i];
    if (v < -1)
      throw ArgumentError(name, "row " + std::to_string(i / k) + " holds index " +
                                    std::to_string(v) + " (valid: -1 padding or >= 0)");
    largest = std::max<int64_t>(largest, v);
  }
  return largest;
}

struct Overlap {
  int64_t a = 0, f = 0, both = 0;  // distinct valid entries of A, of F, of A n F
};

// Overlap of one row by sorting (used when indices are too spread for a stamp array).
Overlap sorted_overlap(const int32_t* a, int64_t ka, const int32_t* f, int64_t kf) {
  auto distinct = [](const int32_t* v, int64_t k) {
    std::vector<int32_t> out;
    for (int64_t j = 0; j < k; ++j)
      if (v[j] >= 0) out.push_back(v[j]);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  };
  const std::vector<int32_t> A = distinct(a, ka), F = distinct(f, kf);
  Overlap o;
  o.a = static_cast<int64_t>(A.size());
  o.f = static_cast<int64_t>(F.size());
  for (std::size_t i = 0, j = 0; i < A.size() && j < F.size();) {
    if (A[i] < F[j]) {
      ++i;
    } else if (F[j] < A[i]) {
      ++j;
    } else {
      ++o.both;
      ++i;
      ++j;
    }
  }
  return o;
}

// Per-row overlap counts with a stamp array per worker: O(k) per row, duplicates counted once.
// stamp[i] == 3r+1: i in F of row r; 3r+2: in F and seen in A; 3r+3: in A only. When the
// largest index is far beyond the number of entries (not a selection over S keys; the stamp
// array would be huge), rows are sorted instead.
std::vector<Overlap> row_overlaps(const int32_t* approx, int64_t k_approx, const int32_t* flat,
                                  int64_t k_flat, int64_t T) {
  const int64_t largest =
      std::max(check_list(approx, k_approx, T, "approx"), check_list(flat, k_flat, T, "flat"));
  std::vector<Overlap> out(std::max<int64_t>(T, 0));
  if (T <= 0) return out;
  const int workers = static_cast<int>(std::min<int64_t>(eval::worker_count(0), T));
  if (largest >= std::max<int64_t>(int64_t{1} << 24, 64 * T * (k_approx + k_flat))) {
    eval::parallel_rows(T, workers, [&](int64_t r) {
      out[r] = sorted_overlap(approx + r * k_approx, k_approx, flat + r * k_flat, k_flat);
    });
    return out;
  }
  eval::parallel_rows(workers, workers, [&](int64_t w) {
    std::vector<uint64_t> stamp(static_cast<std::size_t>(largest + 1), 0);
    const int64_t begin = T * w / workers, end = T * (w + 1) / workers;
    for (int64_t r = begin; r < end; ++r) {
      const uint64_t in_f = 3 * static_cast<uint64_t>(r) + 1;
      Overlap o;
      for (int64_t j = 0; j < k_flat; ++j) {
        const int32_t v = flat[r * k_flat + j];
        if (v >= 0 && stamp[v] != in_f) {
          stamp[v] = in_f;
          ++o.f;
        }
      }
      for (int64_t j = 0; j < k_approx; ++j) {
        const int32_t v = approx[r * k_approx + j];
        if (v < 0) continue;
        if (stamp[v] == in_f) {
          stamp[v] = in_f + 1;
          ++o.a;
          ++o.both;
        } else if (stamp[v] != in_f + 1 && stamp[v] != in_f + 2) {
          stamp[v] = in_f + 2;
          ++o.a;
        }
      }
      out[r] = o;
    }
  });
  return out;
}

}  // namespace

std::vector<double> row_iou(const int32_t* approx, int64_t k_approx, const int32_t* flat,
                            int64_t k_flat, int64_t T) {
  const std::vector<Overlap> o = row_overlaps(approx, k_approx, flat, k_flat, T);
  std::vector<double> iou(o.size());
  for (std::size_t r = 0; r < o.size(); ++r) {
    const int64_t uni = o[r].a + o[r].f - o[r].both;
    iou[r] = uni == 0 ? 1.0 : static_cast<double>(o[r].both) / static_cast<double>(uni);
  }
  return iou;
}

std::vector<double> row_recall(const int32_t* approx, int64_t k_approx, const int32_t* flat,
                               int64_t k_flat, int64_t T) {
  const std::vector<Overlap> o = row_overlaps(approx, k_approx, flat, k_flat, T);
  std::vector<double> recall(o.size());
  for (std::size_t r = 0; r < o.size(); ++r)
    recall[r] = o[r].f == 0 ? 1.0 : static_cast<double>(o[r].both) / static_cast<double>(o[r].f);
  return recall;
}

std::vector<double> row_mass_recall(const Problem& p, const int32_t* approx, int64_t k_approx,
                                    const int32_t* flat, int64_t k_flat) {
  check_list(approx, k_approx, p.T, "approx");
  check_list(flat, k_flat, p.T, "flat");
  const eval::FlatMass reference(p, {flat, k_flat}, {});
  return reference.recall({approx, k_approx});
}

Summary summarize(const std::vector<double>& per_row) {
  Summary s;
  s.rows = static_cast<int64_t>(per_row.size());
  if (per_row.empty()) return s;
  for (std::size_t i = 0; i < per_row.size(); ++i)
    if (std::isnan(per_row[i]))
      throw ArgumentError("per_row", "value " + std::to_string(i) + " is NaN");
  std::vector<double> v(per_row);
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  // Nearest rank: rank ceil(X * n / 100) (1-based), in integers so no rounding can shift it.
  const int64_t n = s.rows;
  auto rank = [n](int64_t x) { return std::max<int64_t>(1, (x * n + 99) / 100); };
  s.p1 = v[rank(1) - 1];
  s.p5 = v[rank(5) - 1];
  s.min = v.front();
  return s;
}

}  // namespace hisa
