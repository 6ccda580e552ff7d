// symmetric_eigen (eigen.hpp): the classical cyclic Jacobi method (Golub & Van Loan 8.5).
#include "cpu/eigen.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace hisa::cpu {

void symmetric_eigen(std::vector<double> A, int64_t n, std::vector<double>& values,
                     std::vector<double>& vectors) {
  std::vector<double> V(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) V[i * n + i] = 1.0;
  auto at = [&A, n](int64_t i, int64_t j) -> double& { return A[i * n + j]; };
  double total = 0;
  for (double x : A) total += x * x;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) off += 2 * at(i, j) * at(i, j);
    if (off <= 1e-30 * total || off == 0) break;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = at(p, q);
        if (apq == 0) continue;
        // Rotation that zeroes A[p][q]: t = sgn(theta) / (|theta| + sqrt(theta^2 + 1)).
        const double theta = (at(q, q) - at(p, p)) / (2 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // A <- A J (columns p, q)
          const double akp = at(k, p), akq = at(k, q);
          at(k, p) = c * akp - s * akq;
          at(k, q) = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {  // A <- J^T A (rows p, q)
          const double apk = at(p, k), aqk = at(q, k);
          at(p, k) = c * apk - s * aqk;
          at(q, k) = s * apk + c * aqk;
        }
        for (int64_t k = 0; k < n; ++k) {  // V <- V J
          const double vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return at(a, a) > at(b, b); });
  values.resize(n);
  vectors.assign(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t src = order[i];
    values[i] = at(src, src);
    int64_t big = 0;
    for (int64_t d = 1; d < n; ++d)
      if (std::fabs(V[d * n + src]) > std::fabs(V[big * n + src])) big = d;
    const double sign = V[big * n + src] < 0 ? -1.0 : 1.0;
    for (int64_t d = 0; d < n; ++d) vectors[d * n + i] = sign * V[d * n + src];
  }
}

}  // namespace hisa::cpu
