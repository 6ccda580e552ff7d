// The CPU arithmetic contract, in scalar code. Every CPU path (the vectorised kernels in
// kernel.cpp, token_score, the brute-force references in tests/cpu) produces results that are
// BITWISE identical to these definitions, so tests can demand exact equality.
//
//   decode      q and k are decoded to f32 (exact for bf16 and FP8 e4m3).
//   dot         dot(q, k) = sequential f32 fma: acc = 0; acc = fma(q[d], k[d], acc), d = 0..D-1.
//               The kernels vectorise ACROSS KEYS, never across d, so each lane runs exactly
//               this sequence.
//   relu        relu(x) = x < 0 ? 0 : x   (keeps NaN, so a NaN input gives a NaN score).
//   head sum    sc = 0; sc = fma(w[h], relu(dot_h), sc) for h ascending (MISA's routed score:
//               h ascending over the active set only).
//   score       I = k_scale[s] * sc  (no multiply when k_scale is null).
//   pooled key  kbar_j[d] = (sum_{s in block j, ascending} f32(k_scale[s] * k[s,d])) / f32(n_j):
//               each dequantised product is rounded to f32 and then added (no fma); one plain
//               f32 division by the count. Full blocks only, so n_j = B.
//   block score J(t,j) = the head sum above on kbar_j, with scale 1 (no multiply).
//   MISA router r(t,h) = |w[t,h]| * (sum over j < nb-1 ascending of relu(dot(q[t,h], kbar_j))),
//               a plain f32 sum.
//   ranking     score descending, ties to the larger index, NaN below everything (-inf
//               included); -0 and +0 are the same score. One comparator (rank_key) serves
//               tokens, blocks and heads.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/score_key.hpp"
#include "hisa/types.hpp"

namespace hisa::cpu {

// f32 value of every FP8 e4m3fn code (index = code), filled from hisa::fp8_e4m3_to_float.
const float* fp8_table();

// Element i of a raw q/k array of `dtype`, decoded to f32 (exact).
inline float decode_element(DType dtype, const void* base, int64_t i) {
  switch (dtype) {
    case DType::f32: return static_cast<const float*>(base)[i];
    case DType::bf16: {
      const uint32_t u = static_cast<uint32_t>(static_cast<const uint16_t*>(base)[i]) << 16;
      float f;
      std::memcpy(&f, &u, 4);
      return f;
    }
    case DType::fp8_e4m3: return fp8_table()[static_cast<const uint8_t*>(base)[i]];
  }
  return 0.0f;
}

// n consecutive elements starting at element `first`, decoded into out[0..n).
void decode_run(DType dtype, const void* base, int64_t first, int64_t n, float* out);

inline float relu(float x) { return x < 0.0f ? 0.0f : x; }

// The contract's dot product: sequential fma over d from 0.
inline float dot_sequential(const float* q, const float* k, int64_t D) {
  float acc = 0.0f;
  for (int64_t d = 0; d < D; ++d) acc = std::fma(q[d], k[d], acc);
  return acc;
}

// Ranking key: a larger key ranks first. High 32 bits: an order-preserving map of the score
// (NaN -> 0, below every other score; -0 folded into +0); low 32 bits: the index, so equal
// scores rank the larger index first. Comparing keys is the one comparator of the CPU backend.
inline uint64_t rank_key(float score, int64_t index) {
  uint32_t u;
  std::memcpy(&u, &score, 4);
  return (static_cast<uint64_t>(score_key_bits(u)) << 32) | static_cast<uint32_t>(index);
}
inline int32_t index_of(uint64_t key) { return static_cast<int32_t>(key & 0xFFFFFFFFu); }

// True when (sa, ia) ranks before (sb, ib).
inline bool ranks_before(float sa, int64_t ia, float sb, int64_t ib) {
  return rank_key(sa, ia) > rank_key(sb, ib);
}

}  // namespace hisa::cpu
