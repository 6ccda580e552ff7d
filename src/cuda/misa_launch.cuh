// Internal interface between the MISA files (misa_select.cu strings them together):
// the router launch parameters and launchers (misa_router_sm90.cu, misa_router_portable.cu),
// the key-norm bound of the f16 routed logits (misa_router_common.cu), and the test/benchmark
// hooks of misa_select.cu.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "hisa/types.hpp"

namespace hisa::cuda {

// One router launch covers the query rows [t0, t0 + rows) of the problem; CTAs rows..rows_pad-1
// write the zero padding of the gathered layout. All pointers are device memory.
struct MisaRouterParams {
  DType dtype = DType::fp8_e4m3;
  int H = 0, D = 0, S = 0;
  const void* q = nullptr;      // [T_total, H, D]
  const float* w = nullptr;     // [T_total, H]
  const int32_t* ks = nullptr;  // [T_total], absolute
  const int32_t* ke = nullptr;
  int t0 = 0, rows = 0, rows_pad = 0;
  int B = 64;                   // router block size
  int C = 2048;                 // c * topk: rows with n <= C (or n <= B) need no routing
  int a = 8;                    // active heads
  int A = 8;                    // head slots per query in the gathered layout (A >= a)
  int G = 1;                    // queries per 64-row group of the sm_90a scorer (64 / A), whose
                                // rows are interleaved (misa_router_common.cuh, slot_row); 1:
                                // plain rows [r][slot]
  const void* pooled = nullptr; // [S, D]: row p = mean of keys [p, p + B) (bf16 sm90, f32 portable)
  const float* kmax = nullptr;  // f16 logits: max_s k_scale[s] * |k[s]|_2 (device scalar), else null
  // Outputs (chunk rows): the active heads' q rows, ascending h, then zero rows up to A;
  // their weights (x a power-of-two row scale when kmax is set, zero on padding); head ids
  // (-1 for rows that are not routed).
  void* qa = nullptr;           // [rows_pad, A, D] in dtype
  float* wa = nullptr;          // [rows_pad, A]
  int32_t* heads = nullptr;     // [rows_pad, a]
};

// Target of the f16 row scale: the Cauchy-Schwarz bound of a row's routed scores is mapped into
// [2^13, 2^14), far below the f16 maximum 65504 (misa_router_common.cu).
constexpr int kMisaF16BoundExp = 13;

// misa_router_common.cu: *kmax = max over finite keys of k_scale[s] * |k[s]|_2 (stream-ordered).
void launch_key_norm_max(DType dtype, const void* k, const float* k_scale, int64_t S, int64_t D,
                         float* kmax, cudaStream_t st);

// misa_router_sm90.cu: wgmma (bf16 pooled keys), H = 64, D = 128, FP8 or bf16, sm_90a only.
bool misa_router_sm90_supported(const MisaRouterParams& p);
void launch_misa_router_sm90(const MisaRouterParams& p, cudaStream_t st);

// misa_router_portable.cu: CUDA cores, any H / D / dtype, the CPU's arithmetic bit for bit
// (f32 pooled keys). One query's decoded q (H * D floats) must fit shared memory.
std::size_t misa_router_portable_smem(const MisaRouterParams& p);
void launch_misa_router_portable(const MisaRouterParams& p, cudaStream_t st);

// ---- misa_select.cu hooks (tests and benchmarks; not thread-safe) --------------------------

struct MisaTuning {
  int path = 0;            // 0: automatic, 1: sm_90a kernels (BackendError if unavailable),
                           // 2: portable kernels (routed scores by the portable flat scorers)
  int logits = 0;          // routed logits: 0 automatic (f16 on the sm_90a FP8 path), 1 f32,
                           // 2 f16 (sm_90a FP8 path only). HISA_MISA_LOGITS=f32|f16 overrides 0.
  int32_t* heads = nullptr;       // when set: device [T, a], each row's active heads (-1: none)
  cudaEvent_t* events = nullptr;  // when set: 2 + 4 * chunks events (misa_stage_events)
};
void misa_set_tuning(const MisaTuning& t);

// Number of query chunks misa_select runs for this problem (stage events: ev[0] at the start,
// ev[1] after pooling, then per chunk c: ev[2 + 4c] router, ev[3 + 4c] routed scoring,
// ev[4 + 4c] routed top-k, ev[5 + 4c] re-scoring and final top-k). 0 for the flat shortcuts.
int64_t misa_chunks(const Problem& p, const Config& cfg);

}  // namespace hisa::cuda
