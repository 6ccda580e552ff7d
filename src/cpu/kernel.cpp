// Micro-kernels of kernel.hpp: AVX2/FMA intrinsics when the compiler targets them, else plain
// scalar loops with std::fma. Both run the same per-lane operation sequence as score.hpp.
#include "cpu/kernel.hpp"

#include <cmath>

#include "cpu/score.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define HISA_CPU_AVX2 1
#endif

namespace hisa::cpu {
namespace {

#ifdef HISA_CPU_AVX2
// R (<= 6) rows x 16 keys of f32 accumulators in registers (2R of the 16 ymm registers). Per d:
// two panel loads, R broadcasts, 2R fmas. _mm256_fmadd_ps(q, k, acc) is the exact
// fma(q, k, acc). Named accumulators, not an array: GCC spills arrays to the stack each step.
template <int R>
inline void dots_block(const float* const* rows, const float* panel, int64_t D, float* dots) {
  static_assert(R >= 1 && R <= 6);
  const __m256 zero = _mm256_setzero_ps();
  __m256 l0 = zero, h0 = zero, l1 = zero, h1 = zero, l2 = zero, h2 = zero;
  __m256 l3 = zero, h3 = zero, l4 = zero, h4 = zero, l5 = zero, h5 = zero;
  const float* q0 = rows[0];
  const float* q1 = R > 1 ? rows[1] : q0;
  const float* q2 = R > 2 ? rows[2] : q0;
  const float* q3 = R > 3 ? rows[3] : q0;
  const float* q4 = R > 4 ? rows[4] : q0;
  const float* q5 = R > 5 ? rows[5] : q0;
  for (int64_t d = 0; d < D; ++d) {
    const __m256 k0 = _mm256_loadu_ps(panel + d * kLanes);
    const __m256 k1 = _mm256_loadu_ps(panel + d * kLanes + 8);
#define HISA_ROW_STEP(i)                                 \
    if constexpr (R > i) {                               \
      const __m256 b = _mm256_broadcast_ss(q##i + d);    \
      l##i = _mm256_fmadd_ps(b, k0, l##i);               \
      h##i = _mm256_fmadd_ps(b, k1, h##i);               \
    }
    HISA_ROW_STEP(0) HISA_ROW_STEP(1) HISA_ROW_STEP(2)
    HISA_ROW_STEP(3) HISA_ROW_STEP(4) HISA_ROW_STEP(5)
#undef HISA_ROW_STEP
  }
#define HISA_ROW_STORE(i)                                \
  if constexpr (R > i) {                                 \
    _mm256_storeu_ps(dots + i * kLanes, l##i);           \
    _mm256_storeu_ps(dots + i * kLanes + 8, h##i);       \
  }
  HISA_ROW_STORE(0) HISA_ROW_STORE(1) HISA_ROW_STORE(2)
  HISA_ROW_STORE(3) HISA_ROW_STORE(4) HISA_ROW_STORE(5)
#undef HISA_ROW_STORE
}
#else
template <int R>
inline void dots_block(const float* const* rows, const float* panel, int64_t D, float* dots) {
  float acc[R][kLanes] = {};
  for (int64_t d = 0; d < D; ++d)
    for (int r = 0; r < R; ++r)
      for (int64_t l = 0; l < kLanes; ++l)
        acc[r][l] = std::fma(rows[r][d], panel[d * kLanes + l], acc[r][l]);
  for (int r = 0; r < R; ++r)
    for (int64_t l = 0; l < kLanes; ++l) dots[r * kLanes + l] = acc[r][l];
}
#endif

}  // namespace

void panel_dots(const float* const* rows, int64_t nrows, const float* panel, int64_t D,
                float* dots) {
  int64_t r = 0;
  for (; r + 6 <= nrows; r += 6) dots_block<6>(rows + r, panel, D, dots + r * kLanes);
  switch (nrows - r) {
    case 5: dots_block<5>(rows + r, panel, D, dots + r * kLanes); break;
    case 4: dots_block<4>(rows + r, panel, D, dots + r * kLanes); break;
    case 3: dots_block<3>(rows + r, panel, D, dots + r * kLanes); break;
    case 2: dots_block<2>(rows + r, panel, D, dots + r * kLanes); break;
    case 1: dots_block<1>(rows + r, panel, D, dots + r * kLanes); break;
    default: break;
  }
}

void head_sum(const float* dots, const float* w, int64_t nrows, const float* scale, float* out) {
#ifdef HISA_CPU_AVX2
  const __m256 zero = _mm256_setzero_ps();
  __m256 s0 = zero, s1 = zero;
  for (int64_t r = 0; r < nrows; ++r) {
    const __m256 wr = _mm256_set1_ps(w[r]);
    // max_ps(0, x) returns x when x is NaN or -0, exactly like relu(): x < 0 ? 0 : x.
    const __m256 d0 = _mm256_max_ps(zero, _mm256_loadu_ps(dots + r * kLanes));
    const __m256 d1 = _mm256_max_ps(zero, _mm256_loadu_ps(dots + r * kLanes + 8));
    s0 = _mm256_fmadd_ps(wr, d0, s0);
    s1 = _mm256_fmadd_ps(wr, d1, s1);
  }
  if (scale != nullptr) {
    s0 = _mm256_mul_ps(_mm256_loadu_ps(scale), s0);
    s1 = _mm256_mul_ps(_mm256_loadu_ps(scale + 8), s1);
  }
  _mm256_storeu_ps(out, s0);
  _mm256_storeu_ps(out + 8, s1);
#else
  float sc[kLanes] = {};
  for (int64_t r = 0; r < nrows; ++r)
    for (int64_t l = 0; l < kLanes; ++l)
      sc[l] = std::fma(w[r], relu(dots[r * kLanes + l]), sc[l]);
  for (int64_t l = 0; l < kLanes; ++l) out[l] = scale != nullptr ? scale[l] * sc[l] : sc[l];
#endif
}

void panel_scores(const float* const* rows, const float* w, int64_t nrows, const float* panel,
                  int64_t D, const float* scale, float* dots, float* out) {
  panel_dots(rows, nrows, panel, D, dots);
  head_sum(dots, w, nrows, scale, out);
}

void add_relu_rows(const float* dots, int64_t nrows, int64_t lanes, float* racc) {
  for (int64_t r = 0; r < nrows; ++r) {
    float acc = racc[r];
    for (int64_t l = 0; l < lanes; ++l) acc = acc + relu(dots[r * kLanes + l]);
    racc[r] = acc;
  }
}

}  // namespace hisa::cpu
