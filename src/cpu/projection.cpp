// make_projection, project_row (projection.hpp).
#include "cpu/projection.hpp"

#include <algorithm>

#include "cpu/eigen.hpp"
#include "cpu/parallel.hpp"
#include "cpu/score.hpp"

namespace hisa::cpu {
namespace {

constexpr int64_t kChunk = 4096;  // keys per partial second-moment sum

// k'[s, :] into row (D floats).
void dequantized_key(const Problem& p, int64_t s, float* row) {
  decode_run(p.dtype, p.k, s * p.D, p.D, row);
  if (p.k_scale != nullptr)
    for (int64_t d = 0; d < p.D; ++d) row[d] = p.k_scale[s] * row[d];
}

}  // namespace

Projection make_projection(const Problem& p, int64_t ks, int64_t kend, int64_t dim, int threads) {
  const int64_t D = p.D;
  Projection proj;
  proj.ks = ks;
  proj.kend = kend;
  proj.dim = dim;
  proj.D = D;

  // Second moment, upper triangle, per chunk; then the chunks in order.
  const int64_t chunks = (kend - ks + kChunk - 1) / kChunk;
  std::vector<std::vector<double>> partial(chunks);
  parallel_for(chunks, worker_count(threads, chunks), [&](int64_t c, int) {
    std::vector<double>& M = partial[c];
    M.assign(D * D, 0.0);
    std::vector<float> row(D);
    for (int64_t s = ks + c * kChunk; s < std::min(kend, ks + (c + 1) * kChunk); ++s) {
      dequantized_key(p, s, row.data());
      for (int64_t a = 0; a < D; ++a)
        for (int64_t b = a; b < D; ++b) M[a * D + b] += static_cast<double>(row[a]) * row[b];
    }
  });
  std::vector<double> M(D * D, 0.0);
  for (const std::vector<double>& part : partial)
    for (int64_t i = 0; i < D * D; ++i) M[i] += part[i];
  for (int64_t a = 0; a < D; ++a)
    for (int64_t b = 0; b < a; ++b) M[a * D + b] = M[b * D + a];

  std::vector<double> values, vectors;
  symmetric_eigen(std::move(M), D, values, vectors);
  proj.basis.resize(D * dim);
  for (int64_t d = 0; d < D; ++d)
    for (int64_t i = 0; i < dim; ++i) proj.basis[d * dim + i] = vectors[d * D + i];

  // Projected keys, in panels.
  proj.first_panel = ks / kLanes;
  const int64_t panels = kend > ks ? (kend - 1) / kLanes - proj.first_panel + 1 : 0;
  proj.keys.assign(panels * dim * kLanes, 0.0f);
  parallel_for(panels, worker_count(threads, panels), [&](int64_t pi, int) {
    std::vector<float> row(D), out(dim);
    const int64_t base = (proj.first_panel + pi) * kLanes;
    for (int64_t l = 0; l < kLanes; ++l) {
      const int64_t s = base + l;
      if (s < ks || s >= kend) continue;
      dequantized_key(p, s, row.data());
      project_row(proj, row.data(), out.data());
      for (int64_t i = 0; i < dim; ++i) proj.keys[(pi * dim + i) * kLanes + l] = out[i];
    }
  });
  return proj;
}

void project_row(const Projection& proj, const float* x, float* out) {
  for (int64_t i = 0; i < proj.dim; ++i) {
    double acc = 0;
    for (int64_t d = 0; d < proj.D; ++d) acc += proj.basis[d * proj.dim + i] * x[d];
    out[i] = static_cast<float>(acc);
  }
}

}  // namespace hisa::cpu
