// Workload views, the Gaussian workload, dtype conversions and packing (workload.hpp).
// The structured workload lives in structured.cpp.
#include "hisa/workload.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "eval/fp8_encode.hpp"
#include "eval/parallel_rows.hpp"
#include "eval/rng.hpp"
#include "eval/workload_shape.hpp"
#include "hisa/error.hpp"
#include "hisa/numeric.hpp"

namespace hisa {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

// Stream tags of the Gaussian workload (see rng.hpp stream_seed).
constexpr uint64_t kTagGaussQ = 101, kTagGaussK = 102, kTagGaussW = 103;

const float* f32_data(const std::vector<uint8_t>& bytes) {
  return reinterpret_cast<const float*>(bytes.data());
}

void require_f32(const Workload& w, const char* what) {
  if (w.dtype != DType::f32)
    throw ArgumentError("workload",
                        std::string(what) + " needs an f32 workload, got " + to_string(w.dtype));
  w.problem();  // size checks
}

// Rejects NaN/Inf before quantisation: a scale computed from them would be meaningless.
void require_finite(const float* v, int64_t n, const char* name) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i]))
      throw ArgumentError(name, "element " + str(i) + " is NaN or Inf; cannot quantise");
}

// Per-row FP8 quantisation of n values: scale = amax / 448 (1 for an all-zero row).
float quantize_row(const float* x, int64_t n, uint8_t* codes) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float scale = amax > 0.0f ? amax / 448.0f : 1.0f;
  for (int64_t i = 0; i < n; ++i) codes[i] = eval::encode_fp8_e4m3(x[i] / scale);
  return scale;
}

}  // namespace

Problem Workload::problem() const {
  const std::size_t es = dtype_size(dtype);
  if (T < 0 || S < 0 || H < 1 || D < 1)
    throw ArgumentError("workload",
                        "bad sizes T=" + str(T) + " S=" + str(S) + " H=" + str(H) + " D=" + str(D));
  if (q.size() != static_cast<std::size_t>(T * H * D) * es)
    throw ArgumentError("workload.q", "expected " + str(T * H * D) + " elements");
  if (k.size() != static_cast<std::size_t>(S * D) * es)
    throw ArgumentError("workload.k", "expected " + str(S * D) + " elements");
  if (w.size() != static_cast<std::size_t>(T * H))
    throw ArgumentError("workload.w", "expected " + str(T * H) + " elements");
  if (!k_scale.empty() && k_scale.size() != static_cast<std::size_t>(S))
    throw ArgumentError("workload.k_scale", "expected empty or " + str(S) + " elements");
  if (ks.size() != ke.size() || (!ks.empty() && ks.size() != static_cast<std::size_t>(T)))
    throw ArgumentError("workload.ks", "ks and ke must both be empty or both have T elements");
  if (!q_scale.empty() && q_scale.size() != static_cast<std::size_t>(T * H))
    throw ArgumentError("workload.q_scale", "expected empty or " + str(T * H) + " elements");
  Problem p;
  p.dtype = dtype;
  p.T = T;
  p.S = S;
  p.H = H;
  p.D = D;
  p.q = q.data();
  p.k = k.data();
  p.k_scale = k_scale.empty() ? nullptr : k_scale.data();
  p.w = w.data();
  p.ks = ks.empty() ? nullptr : ks.data();
  p.ke = ke.empty() ? nullptr : ke.data();
  p.memory = Device::cpu;
  return p;
}

namespace eval {

void validate_workload_sizes(int64_t T, int64_t S, int64_t H, int64_t D) {
  if (T < 0) throw ArgumentError("T", "must be >= 0, got " + str(T));
  if (S < T)
    throw ArgumentError("S",
                        "must be >= T for the causal default (S=" + str(S) + ", T=" + str(T) + ")");
  if (S > std::numeric_limits<int32_t>::max()) throw ArgumentError("S", "must fit int32");
  if (H < 1) throw ArgumentError("H", "must be >= 1, got " + str(H));
  if (D < 1) throw ArgumentError("D", "must be >= 1, got " + str(D));
}

Workload allocate_f32_workload(int64_t T, int64_t S, int64_t H, int64_t D) {
  Workload wl;
  wl.dtype = DType::f32;
  wl.T = T;
  wl.S = S;
  wl.H = H;
  wl.D = D;
  wl.q.resize(static_cast<std::size_t>(T * H * D) * 4);
  wl.k.resize(static_cast<std::size_t>(S * D) * 4);
  wl.w.resize(static_cast<std::size_t>(T * H));
  return wl;
}

}  // namespace eval

Workload make_gaussian(const GaussianSpec& spec) {
  eval::validate_workload_sizes(spec.T, spec.S, spec.H, spec.D);
  Workload wl = eval::allocate_f32_workload(spec.T, spec.S, spec.H, spec.D);
  float* q = reinterpret_cast<float*>(wl.q.data());
  float* k = reinterpret_cast<float*>(wl.k.data());
  const int64_t D = spec.D, H = spec.H;
  eval::parallel_rows(spec.T * H, 0, [&](int64_t row) {
    eval::Rng rng(eval::stream_seed(spec.seed, kTagGaussQ, row));
    for (int64_t d = 0; d < D; ++d) q[row * D + d] = static_cast<float>(rng.normal());
  });
  eval::parallel_rows(spec.S, 0, [&](int64_t s) {
    eval::Rng rng(eval::stream_seed(spec.seed, kTagGaussK, s));
    for (int64_t d = 0; d < D; ++d) k[s * D + d] = static_cast<float>(rng.normal());
  });
  const double inv_sqrt_h = 1.0 / std::sqrt(static_cast<double>(H));
  eval::parallel_rows(spec.T, 0, [&](int64_t t) {
    eval::Rng rng(eval::stream_seed(spec.seed, kTagGaussW, t));
    for (int64_t h = 0; h < H; ++h) wl.w[t * H + h] = static_cast<float>(rng.normal() * inv_sqrt_h);
  });
  wl.description = "gaussian T=" + str(spec.T) + " S=" + str(spec.S) + " H=" + str(spec.H) +
                   " D=" + str(spec.D) + " seed=" + std::to_string(spec.seed) + " f32";
  return wl;
}

Workload quantize_fp8(const Workload& in) {
  require_f32(in, "quantize_fp8");
  const float* q = f32_data(in.q);
  const float* k = f32_data(in.k);
  require_finite(q, in.T * in.H * in.D, "q");
  require_finite(k, in.S * in.D, "k");
  Workload out;
  out.dtype = DType::fp8_e4m3;
  out.T = in.T;
  out.S = in.S;
  out.H = in.H;
  out.D = in.D;
  out.ks = in.ks;
  out.ke = in.ke;
  out.needles = in.needles;
  out.q.resize(static_cast<std::size_t>(in.T * in.H * in.D));
  out.k.resize(static_cast<std::size_t>(in.S * in.D));
  out.k_scale.resize(static_cast<std::size_t>(in.S));
  out.w.resize(in.w.size());
  out.q_scale.resize(in.w.size());
  const int64_t D = in.D;
  // Keys: one scale per token (DSA's per-128-element block is the whole row for D = 128).
  eval::parallel_rows(in.S, 0, [&](int64_t s) {
    const float scale = quantize_row(k + s * D, D, out.k.data() + s * D);
    out.k_scale[s] = in.k_scale.empty() ? scale : scale * in.k_scale[s];
  });
  // Queries: one scale per (token, head), folded into the head weight as DSA does.
  eval::parallel_rows(in.T * in.H, 0, [&](int64_t row) {
    const float scale = quantize_row(q + row * D, D, out.q.data() + row * D);
    out.w[row] = in.w[row] * scale;
    out.q_scale[row] = in.q_scale.empty() ? scale : scale * in.q_scale[row];
  });
  out.description = in.description + " -> fp8_e4m3 (k per-token scale, q per-(t,h) scale in w)";
  return out;
}

Workload to_bf16(const Workload& in) {
  require_f32(in, "to_bf16");
  Workload out = in;
  out.dtype = DType::bf16;
  auto convert = [](const std::vector<uint8_t>& f32) {
    const std::size_t n = f32.size() / 4;
    const float* src = reinterpret_cast<const float*>(f32.data());
    std::vector<uint8_t> dst(n * 2);
    uint16_t* d = reinterpret_cast<uint16_t*>(dst.data());
    for (std::size_t i = 0; i < n; ++i) d[i] = float_to_bf16(src[i]);
    return dst;
  };
  out.q = convert(in.q);
  out.k = convert(in.k);
  out.description = in.description + " -> bf16";
  return out;
}

Workload pack_sequences(const std::vector<Workload>& seqs) {
  if (seqs.empty()) throw ArgumentError("seqs", "need at least one sequence");
  const Workload& first = seqs.front();
  Workload out;
  out.dtype = first.dtype;
  out.H = first.H;
  out.D = first.D;
  bool any_scale = false, any_q_scale = false;
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    const Workload& s = seqs[i];
    s.problem();  // size checks
    if (s.ks.empty() && s.T > s.S)
      throw ArgumentError("seqs", "sequence " + std::to_string(i) + " has T > S and no ks/ke");
    if (s.dtype != first.dtype || s.H != first.H || s.D != first.D)
      throw ArgumentError(
          "seqs", "sequence " + std::to_string(i) + " differs in dtype, H or D from sequence 0");
    out.T += s.T;
    out.S += s.S;
    any_scale = any_scale || !s.k_scale.empty();
    any_q_scale = any_q_scale || !s.q_scale.empty();
  }
  if (out.S > std::numeric_limits<int32_t>::max())
    throw ArgumentError("seqs", "total S=" + str(out.S) + " does not fit int32 indices");
  out.q.reserve(static_cast<std::size_t>(out.T * out.H * out.D) * dtype_size(out.dtype));
  out.k.reserve(static_cast<std::size_t>(out.S * out.D) * dtype_size(out.dtype));
  out.w.reserve(static_cast<std::size_t>(out.T * out.H));
  out.ks.reserve(static_cast<std::size_t>(out.T));
  out.ke.reserve(static_cast<std::size_t>(out.T));
  if (any_scale) out.k_scale.reserve(static_cast<std::size_t>(out.S));
  int64_t t_off = 0, s_off = 0;
  for (const Workload& s : seqs) {
    const Problem p = s.problem();
    out.q.insert(out.q.end(), s.q.begin(), s.q.end());
    out.k.insert(out.k.end(), s.k.begin(), s.k.end());
    out.w.insert(out.w.end(), s.w.begin(), s.w.end());
    if (any_q_scale) {
      if (s.q_scale.empty())
        out.q_scale.insert(out.q_scale.end(), s.w.size(), 1.0f);
      else
        out.q_scale.insert(out.q_scale.end(), s.q_scale.begin(), s.q_scale.end());
    }
    if (any_scale) {
      if (s.k_scale.empty())
        out.k_scale.insert(out.k_scale.end(), static_cast<std::size_t>(s.S), 1.0f);
      else
        out.k_scale.insert(out.k_scale.end(), s.k_scale.begin(), s.k_scale.end());
    }
    for (int64_t t = 0; t < s.T; ++t) {
      const Range r = range_of(p, t);
      out.ks.push_back(static_cast<int32_t>(s_off + r.ks));
      out.ke.push_back(static_cast<int32_t>(s_off + r.ke));
    }
    for (const Needle& nd : s.needles) out.needles.push_back({nd.t + t_off, nd.s + s_off});
    t_off += s.T;
    s_off += s.S;
  }
  out.description = "packed " + std::to_string(seqs.size()) + " sequences T=" + str(out.T) +
                    " S=" + str(out.S) + " [" + first.description +
                    (seqs.size() > 1 ? ", ..." : "") + "]";
  return out;
}

}  // namespace hisa
