// Scalar decoding and the readable exact score I(t, s) (score.hpp has the contract).
#include "cpu/score.hpp"

#include <array>
#include <limits>
#include <vector>

#include "cpu/cpu_backend.hpp"
#include "hisa/numeric.hpp"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace hisa::cpu {

const float* fp8_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int c = 0; c < 256; ++c) t[c] = fp8_e4m3_to_float(static_cast<uint8_t>(c));
    return t;
  }();
  return table.data();
}

#if defined(__AVX2__)
namespace {
// 8 FP8 e4m3fn codes to f32 with integer ops, bitwise equal to fp8_table(): a normal code
// (e, m) has f32 exponent e + 120 and mantissa m << 20; a subnormal is m * 2^-9 (exact);
// 0x7F / 0xFF are the NaN of the table with the code's sign.
inline __m256 fp8x8_to_float(const uint8_t* src) {
  const __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(src)));
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(c, _mm256_set1_epi32(0x80)), 24);
  const __m256i em = _mm256_and_si256(c, _mm256_set1_epi32(0x7F));
  const __m256i normal = _mm256_add_epi32(_mm256_slli_epi32(em, 20), _mm256_set1_epi32(120 << 23));
  const __m256 subnormal = _mm256_mul_ps(_mm256_cvtepi32_ps(em), _mm256_set1_ps(0.001953125f));
  const __m256 is_sub = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(8), em));
  const __m256 is_nan = _mm256_castsi256_ps(_mm256_cmpeq_epi32(em, _mm256_set1_epi32(0x7F)));
  __m256 mag = _mm256_blendv_ps(_mm256_castsi256_ps(normal), subnormal, is_sub);
  mag = _mm256_blendv_ps(mag, _mm256_set1_ps(std::numeric_limits<float>::quiet_NaN()), is_nan);
  return _mm256_or_ps(mag, _mm256_castsi256_ps(sign));
}
}  // namespace
#endif

void decode_run(DType dtype, const void* base, int64_t first, int64_t n, float* out) {
  switch (dtype) {
    case DType::f32: {
      std::memcpy(out, static_cast<const float*>(base) + first, sizeof(float) * n);
      return;
    }
    case DType::bf16: {
      const uint16_t* b = static_cast<const uint16_t*>(base) + first;
      for (int64_t i = 0; i < n; ++i) {
        const uint32_t u = static_cast<uint32_t>(b[i]) << 16;
        std::memcpy(out + i, &u, 4);
      }
      return;
    }
    case DType::fp8_e4m3: {
      const uint8_t* c = static_cast<const uint8_t*>(base) + first;
      int64_t i = 0;
#if defined(__AVX2__)
      for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, fp8x8_to_float(c + i));
#endif
      const float* table = fp8_table();
      for (; i < n; ++i) out[i] = table[c[i]];
      return;
    }
  }
}

float token_score(const Problem& p, int64_t t, int64_t s) {
  std::vector<float> q(p.D), k(p.D);
  decode_run(p.dtype, p.k, s * p.D, p.D, k.data());
  float sc = 0.0f;
  for (int64_t h = 0; h < p.H; ++h) {
    decode_run(p.dtype, p.q, (t * p.H + h) * p.D, p.D, q.data());
    sc = std::fma(p.w[t * p.H + h], relu(dot_sequential(q.data(), k.data(), p.D)), sc);
  }
  return p.k_scale != nullptr ? p.k_scale[s] * sc : sc;
}

}  // namespace hisa::cpu
