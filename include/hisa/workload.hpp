// Seeded synthetic workloads for tests, the demo, eval and benchmarks. Deterministic for a
// given spec on every platform (own RNG, no std::*_distribution).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hisa/types.hpp"

namespace hisa {

// A needle: query `t` must retrieve key row `s` (planted so that flat selects it).
struct Needle {
  int64_t t, s;
};

// Owns host arrays; problem() returns views into them (default causal range when ks/ke empty).
struct Workload {
  DType dtype = DType::f32;
  int64_t T = 0, S = 0, H = 0, D = 0;
  std::vector<uint8_t> q;        // [T,H,D] raw elements of `dtype`
  std::vector<uint8_t> k;        // [S,D] raw elements of `dtype`
  std::vector<float> k_scale;    // [S] or empty
  std::vector<float> w;          // [T,H]
  std::vector<int32_t> ks, ke;   // [T] or empty
  std::vector<float> q_scale;    // [T,H] or empty: FP8 q's per-(token, head) dequant scale (DSA
                                 // folds it into w). Not part of the selection problem; used
                                 // to recover true attention logits (eval's attention mass).
  std::vector<Needle> needles;
  std::string description;       // one line: kind, sizes, seed
  Problem problem() const;
};

// i.i.d. standard normal q, k; w ~ N(0,1)/sqrt(H); f32.
struct GaussianSpec {
  int64_t T = 1024, S = 1024, H = 64, D = 128;
  uint64_t seed = 1;
};
Workload make_gaussian(const GaussianSpec& spec);

// Structured long-context workload: keys cluster around `topics` topic directions; the
// active topic drifts with position (runs of ~`segment` tokens), so blocks of keys are
// coherent. Each query mixes a few topics it "remembers". `needles` tokens are planted:
// a needle key s gets a rare direction and a chosen query t >= s attends to it strongly,
// so flat ranks it in its top-k. f32.
struct StructuredSpec {
  int64_t T = 4096, S = 4096, H = 64, D = 128;
  int64_t topics = 32;
  int64_t segment = 256;
  int64_t needles = 16;
  uint64_t seed = 1;
};
Workload make_structured(const StructuredSpec& spec);

// FP8 e4m3 quantisation as DSA does it: k per token with scale amax/448 (k_scale), q per
// (token, head) with scale amax/448 folded into w (and kept in q_scale). Input must be f32.
Workload quantize_fp8(const Workload& f32);
// bf16 rounding of q and k (w, k_scale stay f32). Input must be f32.
Workload to_bf16(const Workload& f32);

// Packs several causal sequences into one problem (ks/ke set per sequence), keys concatenated.
Workload pack_sequences(const std::vector<Workload>& seqs);

}  // namespace hisa
