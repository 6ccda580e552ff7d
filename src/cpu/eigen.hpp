// Symmetric eigen-decomposition for small dense matrices (the key basis of proj), by cyclic
// Jacobi rotations in double: deterministic, no LAPACK.
#pragma once

#include <cstdint>
#include <vector>

namespace hisa::cpu {

// A is n x n symmetric, row-major. On return: values[i] the eigenvalues in descending order
// (ties: lower original index first) and vectors[d * n + i] component d of eigenvector i, each
// of unit length with its largest-magnitude component positive (the first such on ties).
void symmetric_eigen(std::vector<double> A, int64_t n, std::vector<double>& values,
                     std::vector<double>& vectors);

}  // namespace hisa::cpu
