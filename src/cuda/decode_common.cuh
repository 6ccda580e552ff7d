// Shared by the CUDA decode files: the launch parameters, the geometry of one query row, and
// how a position of a sequence is found in the paged cache. Every index read from the caller
// (context_lens, block-table entries) is clamped, so unchecked bad values give wrong rows but
// never an access outside the cache.
//
// Pipeline (decode_select.cu), all on one stream, no host sync:
//   flat:  score every visible position into logits [rows, ld]      decode_sm90.cu / decode_portable.cu
//          radix top-k per row (topk_radix.cu)                        -> positions
//   hisa / block:
//          stage 1: J of the middle blocks from the pooled cache    -> jkeys [rows, nbmax]
//          block select: block 0, local block, m-2 best             -> kept [rows, m] ascending
//          stage 2: scores of the kept blocks' tokens               -> ckeys [rows, cmax]
//          token select: top-k of the candidates, ranked            -> positions
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/hisa_launch.cuh"  // RowGeometry / row_geometry: SPEC.md HISA's row shape
#include "hisa/types.hpp"

namespace hisa::cuda::dec {

constexpr int kTile = 64;  // keys (tokens or pooled rows) per tile of the scorers

enum class Stage : int { flat = 0, blocks = 1, tokens = 2 };

struct DecodeParams {
  DType dtype = DType::fp8_e4m3;
  int elem = 1;              // bytes per q/k element: 1 FP8, 2 bf16
  int batch = 0, next_n = 1, H = 0, D = 0, P = 0;
  int64_t page_bytes = 0;
  int num_pages = 0;
  const uint8_t* cache = nullptr;
  const void* q = nullptr;   // [batch, next_n, H, D]
  const float* w = nullptr;  // [rows, H]
  const int32_t* context_lens = nullptr;
  const int32_t* block_table = nullptr;
  int max_pages = 0;
  const float* pooled = nullptr;  // [num_pages, D] f32
  int B = 64, m = 64, topk = 2048;
  // workspace
  float* logits = nullptr;  // flat: [rows, ld]
  int64_t ld = 0;
  int32_t* row_begin = nullptr;  // flat: [rows] (zeros) and visible lengths, for the radix top-k
  int32_t* row_end = nullptr;
  uint32_t* jkeys = nullptr;  // [rows, nbmax]: ranking key of middle block j at index j - 1
  int nbmax = 0;
  int32_t* kept = nullptr;    // [rows, m]: kept blocks ascending (rows that select blocks)
  uint32_t* ckeys = nullptr;  // [rows, cmax]: ranking key of candidate c
  int cmax = 0;
  int32_t* out = nullptr;     // [rows, topk]
  int tiles_per_cta = 1;      // scorers: tiles of kTile keys per CTA
};

#if defined(__CUDACC__)
__device__ __forceinline__ int seq_len(const DecodeParams& p, int b) {
  const int n = p.context_lens[b];
  const int cap = p.max_pages * p.P;
  return n < 0 ? 0 : (n > cap ? cap : n);
}
// Visible positions [0, n) of row r = b * next_n + i.
__device__ __forceinline__ int row_visible(const DecodeParams& p, int r) {
  const int b = r / p.next_n, i = r % p.next_n;
  const int n = seq_len(p, b) - p.next_n + i + 1;
  return n < 0 ? 0 : n;
}
// Physical page holding position pos of sequence b (clamped into the cache).
__device__ __forceinline__ int page_of(const DecodeParams& p, int b, int pos) {
  const int e = __ldg(p.block_table + static_cast<int64_t>(b) * p.max_pages + pos / p.P);
  return e < 0 ? 0 : (e >= p.num_pages ? p.num_pages - 1 : e);
}
__device__ __forceinline__ const uint8_t* key_ptr(const DecodeParams& p, int page, int off) {
  return p.cache + page * p.page_bytes + static_cast<int64_t>(off) * p.D * p.elem;
}
__device__ __forceinline__ const float* scale_ptr(const DecodeParams& p, int page, int off) {
  return reinterpret_cast<const float*>(p.cache + page * p.page_bytes +
                                        static_cast<int64_t>(p.P) * p.D) + off;
}
// Pooled row of block j of sequence b: the row of the block's first page.
__device__ __forceinline__ const float* pooled_row(const DecodeParams& p, int b, int j) {
  return p.pooled + static_cast<int64_t>(page_of(p, b, j * p.B)) * p.D;
}
#endif

#if defined(__CUDACC__)
// ---- programmatic dependent launch (sm_90+) ---------------------------------------------------
// Kernels of the v2 chain call pdl_wait() first, before touching global memory, and every CTA
// calls it (so a kernel completes only after the one before it, and so on back), then
// pdl_trigger() to let the next kernel of the chain be scheduled early. Both are no-ops when
// the kernel was launched without the programmatic-serialization attribute (and below sm_90).
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
#endif

// Row shape (SPEC.md HISA with ks = 0, ke = n): blocks, kept blocks, candidates, outputs.
__host__ __device__ inline RowGeometry decode_row_geometry(const DecodeParams& p, int n) {
  return row_geometry(0, n, p.B, p.m, p.topk);
}

// ---- launchers (decode_portable.cu, decode_sm90.cu, decode_select.cu) ------------------------

// Portable CUDA-core scorers (sm_80+): the CPU contract's arithmetic, bitwise.
std::size_t portable_smem(const DecodeParams& p, Stage s);
void launch_portable(const DecodeParams& p, Stage s, dim3 grid, cudaStream_t st);

// sm_90a tensor-core scorers (H = 64, D = 128, FP8 or bf16).
bool sm90_decode_available();  // the sm_90a image is loaded on a cc 9.0 device
std::size_t sm90_smem(const DecodeParams& p, Stage s);
// pdl: launch as a programmatic dependent of the previous kernel on the stream (sm_90).
void launch_sm90(const DecodeParams& p, Stage s, dim3 grid, cudaStream_t st, bool pdl = false);

}  // namespace hisa::cuda::dec
