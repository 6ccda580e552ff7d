// A prefill Problem read from .npy files (the inputs of `hisa select`, or a case directory of
// `hisa eval --inputs`), with every dtype and
// shape checked against the others before any pointer is handed to the library.
#pragma once

#include <cstdint>
#include <string>

#include "hisa/npy.hpp"
#include "hisa/types.hpp"

namespace hisa::io {

// Paths of the input files; an empty path means "not given".
struct NpyProblemPaths {
  std::string q, k, w;        // required
  std::string k_scale;        // optional
  std::string ks, ke;         // optional, both or neither
  bool name_files = false;    // errors name the file path (a case directory) instead of the
                              // CLI flag (`hisa select`)
};

// Owns the arrays. Not copyable: problem() hands out pointers into them.
class NpyProblem {
 public:
  // Reads and cross-checks the files. Errors are ArgumentErrors naming the CLI flag
  // ("--q", "--k", "--w", "--k-scale", "--ks", "--ke") or, with name_files, the file.
  explicit NpyProblem(const NpyProblemPaths& paths);
  NpyProblem(const NpyProblem&) = delete;
  NpyProblem& operator=(const NpyProblem&) = delete;

  // Views of the arrays (default causal range when ks/ke were not given).
  Problem problem() const;
  // The raw arrays, for callers that take ownership of the data (eval's case loader).
  NpyArray& q() { return q_; }
  NpyArray& k() { return k_; }
  NpyArray& w() { return w_; }
  NpyArray& k_scale() { return k_scale_; }
  NpyArray& ks() { return ks_; }
  NpyArray& ke() { return ke_; }
  DType dtype() const { return dtype_; }

 private:
  NpyArray q_, k_, w_, k_scale_, ks_, ke_;
  DType dtype_ = DType::f32;
  int64_t T_ = 0, S_ = 0, H_ = 0, D_ = 0;
  bool has_k_scale_ = false, has_ranges_ = false;
};

}  // namespace hisa::io
