// Row input/output shared by the top-k kernels (topk_radix.cu, topk_short.cu): reading a
// row's scores spread over the CTA, and turning candidate positions into tokens.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/hisa_launch.cuh"
#include "cuda/topk_radix.cuh"

namespace hisa::cuda::topk_io {

// Calls f(score, column) for every column of [begin, end) of `row`, spread over the CTA.
// TE is float or uint16_t (IEEE half bits, decoded exactly to f32). kVec: the row base is
// 16-byte aligned, so the aligned middle is read as 16-byte vectors, four loads in flight per
// thread (the passes are bandwidth-bound).
__device__ __forceinline__ float score_of(float v) { return v; }
__device__ __forceinline__ float score_of(uint16_t h) { return __half2float(__ushort_as_half(h)); }

template <int kThreads, bool kVec, typename TE, typename F>
__device__ __forceinline__ void for_each_score(const TE* row, int begin, int end, F&& f) {
  if constexpr (kVec) {
    constexpr int kPer = 16 / sizeof(TE);  // elements per 16-byte vector
    const int a = min((begin + kPer - 1) & ~(kPer - 1), end);
    const int b = max(end & ~(kPer - 1), a);
    for (int i = begin + static_cast<int>(threadIdx.x); i < a; i += kThreads) f(score_of(row[i]), i);
    const uint4* v = reinterpret_cast<const uint4*>(row + a);
    const int nv = (b - a) / kPer;
    int j = threadIdx.x;
    auto emit = [&](const uint4& x, int i) {
      if constexpr (sizeof(TE) == 4) {
        f(__uint_as_float(x.x), i);
        f(__uint_as_float(x.y), i + 1);
        f(__uint_as_float(x.z), i + 2);
        f(__uint_as_float(x.w), i + 3);
      } else {
        const uint32_t words[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          f(score_of(static_cast<uint16_t>(words[e] & 0xFFFFu)), i + 2 * e);
          f(score_of(static_cast<uint16_t>(words[e] >> 16)), i + 2 * e + 1);
        }
      }
    };
    for (; j + 3 * kThreads < nv; j += 4 * kThreads) {
      const uint4 x0 = __ldcg(v + j);
      const uint4 x1 = __ldcg(v + j + kThreads);
      const uint4 x2 = __ldcg(v + j + 2 * kThreads);
      const uint4 x3 = __ldcg(v + j + 3 * kThreads);
      emit(x0, a + kPer * j);
      emit(x1, a + kPer * (j + kThreads));
      emit(x2, a + kPer * (j + 2 * kThreads));
      emit(x3, a + kPer * (j + 3 * kThreads));
    }
    for (; j < nv; j += kThreads) emit(__ldcg(v + j), a + kPer * j);
    for (int i = b + static_cast<int>(threadIdx.x); i < end; i += kThreads) f(score_of(row[i]), i);
  } else {
    for (int i = begin + static_cast<int>(threadIdx.x); i < end; i += kThreads) f(score_of(row[i]), i);
  }
}

// Candidate positions -> tokens (TopkRowsArgs::columns), after the row is written: the
// block's own writes are visible to it after the barrier.
template <int kThreads>
__device__ void write_tokens(const TopkRowsArgs& a, int64_t r) {
  const KeptBlockColumns& c = a.columns;
  const int64_t t = c.t0 + r;
  int ks = c.ks[t], ke = c.ke[t];
  ks = ks < 0 ? 0 : (ks > c.S ? c.S : ks);
  ke = ke < ks ? ks : (ke > c.S ? c.S : ke);
  const RowGeometry g = row_geometry(ks, ke, c.B, c.m, c.topk);
  const int32_t* kept = c.kept + r * c.m;
  int32_t* out = a.out + r * a.out_ld;
  for (int j = threadIdx.x; j < a.k; j += kThreads) {
    const int pos = out[j];
    if (pos < 0) continue;
    const int i = pos / c.B;
    out[j] = g.ks + (g.all_blocks ? i : kept[i]) * c.B + (pos - i * c.B);
  }
}

// Candidate position -> token of one row, applied as the row is written (the short-row
// kernel; write_tokens' mapping without re-reading the row): pos / B by a multiply-high with
// ceil(2^32 / B), exact while pos * B < 2^32 (callers keep rows <= 2^16 positions and B <=
// kMaxB).
struct TokenMap {
  static constexpr int kMaxB = 1 << 16;
  const int32_t* kept;  // null: every block of the row is kept (i -> i)
  int ks, B;
  uint32_t magic;  // ceil(2^32 / B); 0 for B = 1
  __device__ int32_t operator()(int32_t pos) const {
    const int i = magic == 0 ? pos : static_cast<int>(__umulhi(static_cast<uint32_t>(pos), magic));
    return ks + (kept == nullptr ? i : kept[i]) * B + (pos - i * B);
  }
};

// Row r's geometry (TopkRowsArgs::columns must be set): its clamped range and kept blocks.
__device__ __forceinline__ RowGeometry columns_geometry(const TopkRowsArgs& a, int64_t r) {
  const KeptBlockColumns& c = a.columns;
  const int64_t t = c.t0 + r;
  int ks = c.ks[t], ke = c.ke[t];
  ks = ks < 0 ? 0 : (ks > c.S ? c.S : ks);
  ke = ke < ks ? ks : (ke > c.S ? c.S : ke);
  return row_geometry(ks, ke, c.B, c.m, c.topk);
}

// Row r's map (TopkRowsArgs::columns must be set, with 1 <= B <= TokenMap::kMaxB).
__device__ __forceinline__ TokenMap token_map(const TopkRowsArgs& a, int64_t r) {
  const KeptBlockColumns& c = a.columns;
  const RowGeometry g = columns_geometry(a, r);
  TokenMap m;
  m.kept = g.all_blocks ? nullptr : c.kept + r * c.m;
  m.ks = g.ks;
  m.B = c.B;
  m.magic = c.B == 1 ? 0u : 0xFFFFFFFFu / static_cast<uint32_t>(c.B) + 1u;
  return m;
}

// Row `row` of a top-k launch: its clamped column range, its scores and its output row.
template <typename TE>
struct RowView {
  const TE* scores;
  int32_t* out;
  int begin, end;
};

template <typename TE>
__device__ __forceinline__ RowView<TE> row_view(const TopkRowsArgs& a, int64_t row) {
  RowView<TE> v;
  v.begin = 0;
  v.end = static_cast<int>(a.cols);
  if (a.begin != nullptr) clamped_range(a.begin, a.end, row, a.cols, v.begin, v.end);
  if constexpr (sizeof(TE) == 2) v.scores = a.scores_f16 + row * a.ld;
  else v.scores = a.scores + row * a.ld;
  v.out = a.out + row * a.out_ld;
  return v;
}

}  // namespace hisa::cuda::topk_io
