// A prefill Problem read from .npy files (the inputs of `hisa select`), with every dtype and
// shape checked against the others before any pointer is handed to the library.
#pragma once

#include <cstdint>
#include <string>

#include "hisa/npy.hpp"
#include "hisa/types.hpp"

namespace hisa::cli {

// Paths of the input files; an empty path means "not given".
struct NpyProblemPaths {
  std::string q, k, w;        // required
  std::string k_scale;        // optional
  std::string ks, ke;         // optional, both or neither
};

// Owns the arrays. Not copyable: problem() hands out pointers into them.
class NpyProblem {
 public:
  // Reads and cross-checks the files. Errors are ArgumentErrors naming the CLI flag
  // ("--q", "--k", "--w", "--k-scale", "--ks", "--ke").
  explicit NpyProblem(const NpyProblemPaths& paths);
  NpyProblem(const NpyProblem&) = delete;
  NpyProblem& operator=(const NpyProblem&) = delete;

  // Views of the arrays (default causal range when ks/ke were not given).
  Problem problem() const;

 private:
  NpyArray q_, k_, w_, k_scale_, ks_, ke_;
  DType dtype_ = DType::f32;
  int64_t T_ = 0, S_ = 0, H_ = 0, D_ = 0;
  bool has_k_scale_ = false, has_ranges_ = false;
};

}  // namespace hisa::cli
