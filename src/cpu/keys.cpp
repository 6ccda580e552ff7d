// Packing keys into panels, pooled block keys, gathered panels (keys.hpp).
#include "cpu/keys.hpp"

#include <algorithm>

#include "cpu/parallel.hpp"
#include "cpu/score.hpp"

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace hisa::cpu {
namespace {

// Writes element d of key row `s` to dst[d * kLanes] for d < D (one lane of a panel).
template <class Decode>
void put_lane(const Problem& p, int64_t s, float* dst, Decode decode) {
  for (int64_t d = 0; d < p.D; ++d) dst[d * kLanes] = decode(s * p.D + d);
}

void put_key_lane(const Problem& p, int64_t s, float* dst) {
  switch (p.dtype) {
    case DType::f32: {
      const float* k = static_cast<const float*>(p.k);
      put_lane(p, s, dst, [k](int64_t i) { return k[i]; });
      return;
    }
    case DType::bf16:
      put_lane(p, s, dst, [&p](int64_t i) { return decode_element(DType::bf16, p.k, i); });
      return;
    case DType::fp8_e4m3: {
      const uint8_t* k = static_cast<const uint8_t*>(p.k);
      const float* table = fp8_table();
      put_lane(p, s, dst, [k, table](int64_t i) { return table[k[i]]; });
      return;
    }
  }
}

// panel[d * kLanes + r] = rows[r * D + d] for r < kLanes, d < D (pure data movement).
void transpose_rows(const float* rows, int64_t D, float* panel) {
  int64_t d0 = 0;
#if defined(__AVX__)
  for (; d0 + 8 <= D; d0 += 8) {
    for (int64_t half = 0; half < kLanes; half += 8) {
      const float* src = rows + half * D + d0;
      const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + D);
      const __m256 r2 = _mm256_loadu_ps(src + 2 * D), r3 = _mm256_loadu_ps(src + 3 * D);
      const __m256 r4 = _mm256_loadu_ps(src + 4 * D), r5 = _mm256_loadu_ps(src + 5 * D);
      const __m256 r6 = _mm256_loadu_ps(src + 6 * D), r7 = _mm256_loadu_ps(src + 7 * D);
      const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
      const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
      const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
      const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
      const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float* dst = panel + d0 * kLanes + half;
      _mm256_storeu_ps(dst + 0 * kLanes, _mm256_permute2f128_ps(u0, u4, 0x20));
      _mm256_storeu_ps(dst + 1 * kLanes, _mm256_permute2f128_ps(u1, u5, 0x20));
      _mm256_storeu_ps(dst + 2 * kLanes, _mm256_permute2f128_ps(u2, u6, 0x20));
      _mm256_storeu_ps(dst + 3 * kLanes, _mm256_permute2f128_ps(u3, u7, 0x20));
      _mm256_storeu_ps(dst + 4 * kLanes, _mm256_permute2f128_ps(u0, u4, 0x31));
      _mm256_storeu_ps(dst + 5 * kLanes, _mm256_permute2f128_ps(u1, u5, 0x31));
      _mm256_storeu_ps(dst + 6 * kLanes, _mm256_permute2f128_ps(u2, u6, 0x31));
      _mm256_storeu_ps(dst + 7 * kLanes, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
  }
#endif
  for (; d0 < D; ++d0)
    for (int64_t r = 0; r < kLanes; ++r) panel[d0 * kLanes + r] = rows[r * D + d0];
}

}  // namespace

KeyPanels pack_keys(const Problem& p, int threads) {
  KeyPanels kp;
  kp.count = p.S;
  kp.D = p.D;
  const int64_t panels = (p.S + kLanes - 1) / kLanes;
  kp.data.assign(panels * p.D * kLanes, 0.0f);
  if (p.k_scale != nullptr) {
    kp.scale.assign(panels * kLanes, 0.0f);
    std::copy(p.k_scale, p.k_scale + p.S, kp.scale.begin());
  }
  constexpr int64_t kPanelsPerItem = 64;
  const int64_t items = (panels + kPanelsPerItem - 1) / kPanelsPerItem;
  if (items == 0) return kp;
  parallel_for(items, worker_count(threads, items), [&](int64_t item, int) {
    const int64_t first = item * kPanelsPerItem, last = std::min(panels, first + kPanelsPerItem);
    for (int64_t pi = first; pi < last; ++pi)
      for (int64_t l = 0; l < kLanes && pi * kLanes + l < p.S; ++l)
        put_key_lane(p, pi * kLanes + l, kp.data.data() + pi * p.D * kLanes + l);
  });
  return kp;
}

void PooledKeys::ensure(const Problem& p, int64_t B, int64_t ks, int64_t count) {
  if (ks != ks_ || B != B_ || p.D != D_) {
    ks_ = ks;
    B_ = B;
    D_ = p.D;
    count_ = 0;
    data_.clear();
  }
  if (count <= count_) return;
  const int64_t panels = (count + kLanes - 1) / kLanes;
  data_.resize(panels * D_ * kLanes, 0.0f);
  acc_.resize(D_);
  row_.resize(D_);
  const float n = static_cast<float>(B);
  for (int64_t j = count_; j < count; ++j) {
    std::fill(acc_.begin(), acc_.end(), 0.0f);
    for (int64_t s = ks + j * B; s < ks + (j + 1) * B; ++s) {
      decode_run(p.dtype, p.k, s * D_, D_, row_.data());
      if (p.k_scale != nullptr) {
        const float sc = p.k_scale[s];
        for (int64_t d = 0; d < D_; ++d) acc_[d] = acc_[d] + sc * row_[d];
      } else {
        for (int64_t d = 0; d < D_; ++d) acc_[d] = acc_[d] + row_[d];
      }
    }
    float* dst = data_.data() + (j / kLanes) * D_ * kLanes + j % kLanes;
    for (int64_t d = 0; d < D_; ++d) dst[d * kLanes] = acc_[d] / n;
  }
  count_ = count;
}

void gather_panel(const Problem& p, const int32_t* idx, int64_t n, float* panel, float* scale,
                  float* rows) {
  for (int64_t i = 0; i < n; ++i) decode_run(p.dtype, p.k, idx[i] * p.D, p.D, rows + i * p.D);
  std::fill(rows + n * p.D, rows + kLanes * p.D, 0.0f);
  transpose_rows(rows, p.D, panel);
  if (p.k_scale != nullptr)
    for (int64_t i = 0; i < kLanes; ++i) scale[i] = i < n ? p.k_scale[idx[i]] : 0.0f;
}

}  // namespace hisa::cpu
