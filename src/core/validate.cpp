// Shape, config and value validation. Every message names the argument and the expectation.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "hisa/error.hpp"
#include "hisa/numeric.hpp"
#include "hisa/select.hpp"

namespace hisa {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

void require(bool ok, const char* argument, const std::string& what) {
  if (!ok) throw ArgumentError(argument, what);
}

// Index of the first non-finite element of `n` raw elements of `dtype`, or -1.
int64_t first_nonfinite(const void* data, DType dtype, int64_t n) {
  switch (dtype) {
    case DType::f32: {
      const float* f = static_cast<const float*>(data);
      for (int64_t i = 0; i < n; ++i)
        if (!std::isfinite(f[i])) return i;
      return -1;
    }
    case DType::bf16: {
      const uint16_t* b = static_cast<const uint16_t*>(data);
      for (int64_t i = 0; i < n; ++i)
        if ((b[i] & 0x7F80) == 0x7F80) return i;
      return -1;
    }
    case DType::fp8_e4m3: {
      const uint8_t* c = static_cast<const uint8_t*>(data);
      for (int64_t i = 0; i < n; ++i)
        if ((c[i] & 0x7F) == 0x7F) return i;
      return -1;
    }
  }
  return -1;
}

void require_finite(const void* data, DType dtype, int64_t n, const char* argument) {
  const int64_t i = first_nonfinite(data, dtype, n);
  if (i >= 0)
    throw ArgumentError(argument, "element " + str(i) +
                                      " is NaN or Inf (rejected by default; pass "
                                      "allow_nonfinite / --allow-nonfinite to accept)");
}

}  // namespace

void validate_shapes(const Problem& p, const Config& cfg) {
  require(p.dtype == DType::f32 || p.dtype == DType::bf16 || p.dtype == DType::fp8_e4m3, "q",
          "dtype must be f32, bf16 or fp8_e4m3");
  require(p.T >= 0, "q", "T (dim 0) must be >= 0, got " + str(p.T));
  require(p.S >= 0, "k", "S (dim 0) must be >= 0, got " + str(p.S));
  require(p.S <= std::numeric_limits<int32_t>::max(), "k",
          "S must fit int32 indices, got " + str(p.S));
  require(p.H >= 1, "q", "H (dim 1) must be >= 1, got " + str(p.H));
  require(p.D >= 1, "q", "D (dim 2) must be >= 1, got " + str(p.D));
  if (p.T > 0) {
    require(p.q != nullptr, "q", "null data for T=" + str(p.T));
    require(p.w != nullptr, "w", "null data for T=" + str(p.T));
  }
  if (p.S > 0) require(p.k != nullptr, "k", "null data for S=" + str(p.S));
  require((p.ks == nullptr) == (p.ke == nullptr), p.ks == nullptr ? "ks" : "ke",
          "ks and ke must be given together (or both omitted for the causal default)");
  if (p.ks == nullptr)
    require(p.T <= p.S, "k",
            "default causal range needs T <= S (T=" + str(p.T) + ", S=" + str(p.S) +
                "); pass ks/ke for other layouts");

  require(cfg.topk >= 1, "topk", "must be >= 1, got " + str(cfg.topk));
  require(cfg.topk <= std::numeric_limits<int32_t>::max(), "topk", "too large");
  const bool blocky = cfg.method != Method::flat;
  if (blocky) require(cfg.block_size >= 1, "block_size", "B must be >= 1, got " + str(cfg.block_size));
  switch (cfg.method) {
    case Method::flat: break;
    case Method::hisa:
      require(cfg.blocks >= 2, "blocks", "m must be >= 2 (first and local block are always kept), got " +
                                             str(cfg.blocks));
      break;
    case Method::block:
      require(cfg.topk % cfg.block_size == 0, "topk",
              "block-sparse needs topk % B == 0 (topk=" + str(cfg.topk) +
                  ", B=" + str(cfg.block_size) + ")");
      require(cfg.topk / cfg.block_size >= 2, "topk",
              "block-sparse keeps m = topk / B blocks and needs m >= 2 (topk=" + str(cfg.topk) +
                  ", B=" + str(cfg.block_size) + ")");
      break;
    case Method::misa:
      require(cfg.heads >= 1 && cfg.heads <= p.H, "heads",
              "a must be in [1, H=" + str(p.H) + "], got " + str(cfg.heads));
      require(cfg.candidates >= 1, "candidates", "c must be >= 1, got " + str(cfg.candidates));
      break;
    case Method::proj:
      require(cfg.proj_dim >= 1 && cfg.proj_dim <= p.D, "proj_dim",
              "d' must be in [1, D=" + str(p.D) + "], got " + str(cfg.proj_dim));
      require(cfg.candidates >= 1, "candidates", "c must be >= 1, got " + str(cfg.candidates));
      break;
    case Method::hisa_misa:
      require(cfg.blocks >= 2, "blocks", "m must be >= 2 (first and local block are always kept), got " +
                                             str(cfg.blocks));
      require(cfg.heads >= 1 && cfg.heads <= p.H, "heads",
              "a must be in [1, H=" + str(p.H) + "], got " + str(cfg.heads));
      require(cfg.candidates >= 1, "candidates", "c must be >= 1, got " + str(cfg.candidates));
      break;
    default: throw ArgumentError("method", "unknown method");
  }
  require(cfg.shared_candidates >= 1, "shared_candidates",
          "Q must be >= 1, got " + str(cfg.shared_candidates));
  require(cfg.shared_candidates == 1 || cfg.method == Method::hisa, "shared_candidates",
          "Q > 1 applies to method hisa only (got method " + std::string(to_string(cfg.method)) + ")");
  require(cfg.block_summary == BlockSummary::mean || cfg.block_summary == BlockSummary::bound ||
              cfg.block_summary == BlockSummary::emax,
          "block_summary", "must be mean, bound or emax");
}

void validate_host_values(const Problem& p, const Options& opts) {
  if (p.ks != nullptr) {
    for (int64_t t = 0; t < p.T; ++t) {
      const int64_t a = p.ks[t], b = p.ke[t];
      if (a < 0) throw ArgumentError("ks", "ks[" + str(t) + "]=" + str(a) + " is negative");
      if (a > b)
        throw ArgumentError("ks", "ks[" + str(t) + "]=" + str(a) + " > ke[" + str(t) + "]=" +
                                      str(b) + " (need 0 <= ks <= ke <= S)");
      if (b > p.S)
        throw ArgumentError("ke", "ke[" + str(t) + "]=" + str(b) + " > S=" + str(p.S));
    }
  }
  if (!opts.allow_nonfinite) {
    require_finite(p.q, p.dtype, p.T * p.H * p.D, "q");
    require_finite(p.k, p.dtype, p.S * p.D, "k");
    require_finite(p.w, DType::f32, p.T * p.H, "w");
    if (p.k_scale != nullptr) require_finite(p.k_scale, DType::f32, p.S, "k_scale");
  }
}

}  // namespace hisa
