// The CPU scoring micro-kernels. Keys are packed in PANELS of kLanes keys, transposed
// (panel[d * kLanes + lane] = element d of key `lane`), so one vector register holds element d
// of 8 keys and the kernel vectorises across keys: each lane runs exactly the sequential fma
// of score.hpp, which keeps every path bitwise identical to the scalar contract.
#pragma once

#include <cstdint>

namespace hisa::cpu {

constexpr int64_t kLanes = 16;  // keys per panel (two AVX2 registers)

// dots[r * kLanes + l] = dot_sequential(rows[r], key l of `panel`) for r < nrows.
// `rows` are f32 query rows of length D (e.g. the heads of one query).
void panel_dots(const float* const* rows, int64_t nrows, const float* panel, int64_t D,
                float* dots);

// Head sum over the rows of `dots`, r ascending: sc = fma(w[r], relu(dots[r][l]), sc) from 0;
// out[l] = scale[l] * sc (scale == nullptr: out[l] = sc).
void head_sum(const float* dots, const float* w, int64_t nrows, const float* scale, float* out);

// Both steps: out[l] = score of panel key l for the given rows and weights.
void panel_scores(const float* const* rows, const float* w, int64_t nrows, const float* panel,
                  int64_t D, const float* scale, float* dots, float* out);

// racc[r] += relu(dots[r][l]) for l = 0..lanes-1 ascending (MISA router sums).
void add_relu_rows(const float* dots, int64_t nrows, int64_t lanes, float* racc);

}  // namespace hisa::cpu
