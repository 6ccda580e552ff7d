// The two stages of the CUDA flat selector (scoring into a logits buffer, then a row-wise
// top-k), exposed separately so that the benchmark can time them apart and the tests can
// compare the scorers. Host-compilable (no device code); callers pass device pointers.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "hisa/types.hpp"

namespace hisa::cuda {

// Which kernel computes the logits I(t, s).
//   wgmma: sm_90a FP8 tensor cores (H=64, D=128, FP8 only): TMA loads, 64 keys x 64 heads per
//          warpgroup, fused ReLU * w head reduction. The fast path on H100/H200.
//   wgmma_wide: the same arithmetic (bitwise equal logits) on one CTA per SM with four math
//          warpgroups, weights in registers and a separate epilogue warpgroup
//          (flat_score_wide.cu). The default since 77cb7bd.
//   wgmma_n128: the same arithmetic (bitwise equal logits, if the tensor core's sum of an
//          element does not depend on N) with one m64n128 wgmma per k-step for the query pair
//          and the epilogue in the math warpgroups, DeepGEMM's organisation
//          (flat_score_n128.cu). Opt-in until timed: HISA_FLAT_SCORER=n128.
//   mma:   portable tensor cores (sm_80+, mma.sync): FP8 decoded exactly to f16, or bf16.
//   simt:  CUDA cores, f32 sequential fma: bitwise identical to the CPU backend (any dtype).
//   automatic: wide when it applies, else wgmma, else mma, else simt. The environment variable
//          HISA_FLAT_SCORER=wgmma|wide|n128|mma|simt overrides the automatic choice.
enum class FlatScorer : int {
  automatic = 0, wgmma = 1, mma = 2, simt = 3, wgmma_wide = 4, wgmma_n128 = 5
};
const char* to_string(FlatScorer s);

// The scorer `requested` resolves to for `p` on the current device. Throws BackendError when a
// specific scorer was requested that cannot run this problem here.
FlatScorer resolve_flat_scorer(const Problem& p, FlatScorer requested);

// Logits buffer geometry of flat_select: rows per chunk and floats per row (>= S, padded).
int64_t flat_chunk_rows(const Problem& p);
int64_t flat_logits_ld(const Problem& p);
// Scratch bytes flat_score_rows needs for `rows` rows (the wgmma scorer's work plan).
std::size_t flat_score_scratch_bytes(int64_t rows);

// logits[(t - t0) * ld + s] = I(t, s) for t in [t0, t0 + rows) and s in [ks[t], ke[t]) (ranges
// clamped into [0, S]); other columns are left untouched. ks/ke: device [T] (never null here).
void flat_score_rows(const Problem& p, const int32_t* ks, const int32_t* ke, int64_t t0,
                     int64_t rows, float* logits, int64_t ld, void* scratch, FlatScorer scorer,
                     cudaStream_t stream);

// out[(t) * topk + j] for t in [t0, t0 + rows): the top-k of each logits row over [ks[t], ke[t]),
// in score order, or ascending index order (Order::index) when by_index.
void flat_topk_rows(const float* logits, int64_t ld, int64_t S, const int32_t* ks,
                    const int32_t* ke, int64_t t0, int64_t rows, int64_t topk, int32_t* out,
                    cudaStream_t stream, bool by_index = false);

// flat_select (methods.cuh) with an explicit scorer. `ws` holds flat_workspace_bytes(p, cfg).
void flat_select_with(const Problem& p, const Config& cfg, int32_t* out, void* ws,
                      FlatScorer scorer, cudaStream_t stream);

// Benchmark support (flat_random.cu): seeded random FP8 prefill data generated on the device
// (host generation of 1 GB of q at 128K would dominate a benchmark run). q and k are e4m3 codes
// of N(0, 4^2) samples (saturated to +-448), k_scale ~ U[0.5, 1.5), w ~ N(0, 1/H).
void fill_random_fp8(uint8_t* q, int64_t q_count, uint8_t* k, int64_t k_count, float* k_scale,
                     int64_t S, float* w, int64_t w_count, int64_t H, uint64_t seed,
                     cudaStream_t stream);

}  // namespace hisa::cuda
