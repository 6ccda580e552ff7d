// Reads the .npy inputs of `hisa select` and checks them against each other (npy_problem.hpp).
// The library validates a Problem's sizes, but it has to trust that the buffers behind the
// pointers are as large as T, S, H, D say: that is what these checks guarantee.
#include "io/npy_problem.hpp"

#include <string>
#include <vector>

#include "hisa/error.hpp"
#include "io/npy_header.hpp"

namespace hisa::io {
namespace {

std::string s(int64_t v) { return std::to_string(v); }

std::string dtype_words(const std::string& descr) {
  const NpyDType* d = find_npy_dtype(descr);
  return "'" + descr + "'" + (d ? std::string(" (") + d->meaning + ")" : "");
}

// read_npy, with the flag's own expectation added to an unsupported-dtype message.
NpyArray read_input(const std::string& path, const std::string& flag, const std::string& wanted) {
  try {
    return read_npy(path, flag);
  } catch (const DTypeError& e) {
    std::string what = e.what();
    what.erase(0, flag.size() + 2);  // ArgumentError::what() is "<flag>: <what>"
    throw DTypeError(flag, what + "; " + flag + " must be " + wanted);
  }
}

void require_dtype(const NpyArray& a, const std::string& flag, const std::string& descr,
                   const std::string& hint) {
  if (a.descr != descr)
    throw DTypeError(flag, "dtype " + dtype_words(a.descr) + " must be " + dtype_words(descr) + hint);
}

void require_shape(const NpyArray& a, const std::string& flag, const std::vector<int64_t>& want,
                   const std::string& against) {
  if (a.shape != want)
    throw ArgumentError(flag, "shape " + shape_to_string(a.shape) + " does not match " + against);
}

}  // namespace

NpyProblem::NpyProblem(const NpyProblemPaths& paths) {
  auto arg = [&paths](const char* flag, const std::string& path) {
    return paths.name_files ? path : std::string(flag);
  };
  const std::string q_arg = arg("--q", paths.q), k_arg = arg("--k", paths.k),
                    w_arg = arg("--w", paths.w), scale_arg = arg("--k-scale", paths.k_scale),
                    ks_arg = arg("--ks", paths.ks), ke_arg = arg("--ke", paths.ke);
  const std::string query_types = "'<f4' (f32), '<u2' (bf16 bits as uint16) or '|u1' (FP8 e4m3 bytes)";
  q_ = read_input(paths.q, q_arg, query_types);
  if (q_.descr == "<f4") {
    dtype_ = DType::f32;
  } else if (q_.descr == "<u2") {
    dtype_ = DType::bf16;
  } else if (q_.descr == "|u1") {
    dtype_ = DType::fp8_e4m3;
  } else {
    throw DTypeError(q_arg, "dtype " + dtype_words(q_.descr) + " is not a query type; --q must be " +
                                query_types);
  }
  if (q_.shape.size() != 3)
    throw ArgumentError(q_arg, "expected a 3-D array [T, H, D], got shape " + shape_to_string(q_.shape));
  T_ = q_.shape[0];
  H_ = q_.shape[1];
  D_ = q_.shape[2];
  const std::string q_desc = "q's [T=" + s(T_) + ", H=" + s(H_) + ", D=" + s(D_) + "]";

  k_ = read_input(paths.k, k_arg, dtype_words(q_.descr) + " like --q");
  require_dtype(k_, k_arg, q_.descr, " (k must have the same dtype as q)");
  if (k_.shape.size() != 2 || k_.shape[1] != D_)
    throw ArgumentError(k_arg, "shape " + shape_to_string(k_.shape) + " does not match " + q_desc +
                                   ": expected [S, " + s(D_) + "]");
  S_ = k_.shape[0];

  w_ = read_input(paths.w, w_arg, "'<f4' (float32)");
  require_dtype(w_, w_arg, "<f4", "");
  require_shape(w_, w_arg, {T_, H_}, "q's [T=" + s(T_) + ", H=" + s(H_) + "]");

  has_k_scale_ = !paths.k_scale.empty();
  if (has_k_scale_) {
    k_scale_ = read_input(paths.k_scale, scale_arg, "'<f4' (float32)");
    require_dtype(k_scale_, scale_arg, "<f4", "");
    require_shape(k_scale_, scale_arg, {S_}, "k's [S=" + s(S_) + "]");
  }

  if (paths.ks.empty() != paths.ke.empty())
    throw ArgumentError(paths.ks.empty() ? ks_arg : ke_arg,
                        "--ks and --ke must be given together (omit both for the causal default "
                        "ks=0, ke=S-T+t+1)");
  has_ranges_ = !paths.ks.empty();
  if (has_ranges_) {
    const std::string i32_hint = " (e.g. np.save(path, ks.astype(np.int32)))";
    ks_ = read_input(paths.ks, ks_arg, "'<i4' (int32)");
    require_dtype(ks_, ks_arg, "<i4", i32_hint);
    require_shape(ks_, ks_arg, {T_}, "q's [T=" + s(T_) + "]");
    ke_ = read_input(paths.ke, ke_arg, "'<i4' (int32)");
    require_dtype(ke_, ke_arg, "<i4", i32_hint);
    require_shape(ke_, ke_arg, {T_}, "q's [T=" + s(T_) + "]");
  }
}

Problem NpyProblem::problem() const {
  Problem p;
  p.dtype = dtype_;
  p.T = T_;
  p.S = S_;
  p.H = H_;
  p.D = D_;
  p.q = q_.data.data();
  p.k = k_.data.data();
  p.w = reinterpret_cast<const float*>(w_.data.data());
  if (has_k_scale_) p.k_scale = reinterpret_cast<const float*>(k_scale_.data.data());
  if (has_ranges_) {
    p.ks = reinterpret_cast<const int32_t*>(ks_.data.data());
    p.ke = reinterpret_cast<const int32_t*>(ke_.data.data());
  }
  p.memory = Device::cpu;
  return p;
}

}  // namespace hisa::io
