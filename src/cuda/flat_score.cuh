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

// Portable mma.sync scorer (sm_80+): flat_score_mma.cu.
bool mma_scorer_supports(const Problem& p);
void mma_score_rows(const ScoreRowsArgs& a, cudaStream_t st);

// CUDA-core scorer, bitwise equal to the CPU contract: flat_score_simt.cu.
bool simt_scorer_supports(const Problem& p);
void simt_score_rows(const ScoreRowsArgs& a, cudaStream_t st);

}  // namespace hisa::cuda
