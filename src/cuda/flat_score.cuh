// Internal launchers of the three flat scorers (flat_stages.hpp describes them). Each writes
// logits[(t - t0) * ld + s] for the visible keys of rows [t0, t0 + rows) only.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "hisa/types.hpp"

namespace hisa::cuda {

struct ScoreRowsArgs {
  const Problem* p = nullptr;  // device pointers
  const int32_t* ks = nullptr;  // device [T], absolute (the whole problem)
  const int32_t* ke = nullptr;
  int64_t t0 = 0, rows = 0;
  float* logits = nullptr;
  int64_t ld = 0;
  void* scratch = nullptr;
};

// sm_90a FP8 tensor-core scorer: flat_score_wgmma.cu.
bool wgmma_scorer_supports(const Problem& p);           // shape/dtype/alignment + device + binary
std::size_t wgmma_scratch_bytes(int64_t rows);
void wgmma_score_rows(const ScoreRowsArgs& a, cudaStream_t st);
// The same scorer on one CTA per SM (flat_score_wide.cu); scratch: wgmma_scratch_bytes(rows).
bool wide_scorer_supports(const Problem& p);
void wide_score_rows(const ScoreRowsArgs& a, cudaStream_t st);
// The same scorer with one wgmma m64n128 per k-step for the pair (flat_score_n128.cu; an A/B
// candidate, HISA_FLAT_SCORER=n128); scratch: wgmma_scratch_bytes(rows).
bool n128_scorer_supports(const Problem& p);
void n128_score_rows(const ScoreRowsArgs& a, cudaStream_t st);

// MISA's routed scoring on the same sm_90a kernel (misa_select.cu): every query has kA =
// heads_per_query (8, 16 or 32) gathered FP8 head rows, so one 64-column N tile holds 64 / kA
// queries. q: [rows_pad, kA, 128] bytes, w: [rows_pad, kA] f32 (rows_pad a multiple of
// 2 * 64 / kA; padding rows with zero weights), ks/ke: the chunk's rows. Writes row r's scores
// (x k_scale) to logits + r * ld (f32, or f16 when `f16`) for every key of its visible range;
// other columns below S may be written too.
struct RoutedScoreArgs {
  const void* q = nullptr;
  const float* w = nullptr;
  int64_t rows = 0, rows_pad = 0;
  int heads_per_query = 8;
  const void* k = nullptr;
  const float* k_scale = nullptr;
  int64_t S = 0;
  const int32_t* ks = nullptr;
  const int32_t* ke = nullptr;
  void* logits = nullptr;
  int64_t ld = 0;
  bool f16 = false;
  void* scratch = nullptr;  // wgmma_scratch_bytes(rows)
};
bool wgmma_routed_supported();  // an sm_90 device with the sm_90a image loaded
void wgmma_score_routed(const RoutedScoreArgs& a, cudaStream_t st);

// Portable mma.sync scorer (sm_80+): flat_score_mma.cu.
bool mma_scorer_supports(const Problem& p);
void mma_score_rows(const ScoreRowsArgs& a, cudaStream_t st);

// CUDA-core scorer, bitwise equal to the CPU contract: flat_score_simt.cu.
bool simt_scorer_supports(const Problem& p);
void simt_score_rows(const ScoreRowsArgs& a, cudaStream_t st);

}  // namespace hisa::cuda
