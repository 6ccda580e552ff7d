// proj's reduced key space (docs/semantics.md "proj"): per sequence, the d' leading
// eigenvectors of its keys' second-moment matrix, and every key of the sequence projected
// onto them, packed in panels (kernel.hpp) for the reduced scoring.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/kernel.hpp"
#include "hisa/types.hpp"

namespace hisa::cpu {

struct Projection {
  int64_t ks = 0, kend = 0;  // the sequence's keys [ks, kend)
  int64_t dim = 0, D = 0;    // d', D
  std::vector<double> basis;  // [D][dim]: column i is eigenvector i (eigen.hpp conventions)
  int64_t first_panel = 0;    // keys: panels first_panel .. (kend-1)/kLanes, [dim][kLanes] each
  std::vector<float> keys;    // lanes outside [ks, kend) are zero
};

// The basis: eigenvectors of M = sum_{s in [ks, kend)} k'_s k'_s^T (k'_s = f32(k_scale[s] *
// k[s,:]), M accumulated in double over fixed chunks of 4096 keys, chunks summed in order, so
// the result does not depend on `threads`), the `dim` largest first. Projected key i of s:
// f32(sum_d basis[d][i] * k'[s,d]) accumulated in double, d ascending.
Projection make_projection(const Problem& p, int64_t ks, int64_t kend, int64_t dim, int threads);

// out[i] = f32(sum_d basis[d][i] * x[d]), double accumulation, d ascending (x: a query row).
void project_row(const Projection& proj, const float* x, float* out);

}  // namespace hisa::cpu
