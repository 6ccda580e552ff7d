// Device pieces both MISA router kernels share (misa_router_sm90.cu, misa_router_portable.cu):
// which rows are routed, the choice of the a active heads from the router keys (SPEC.md MISA:
// the a largest r(t, h), ties to the larger h, NaN lowest), the f16 row scale, and the gathered
// outputs (active q rows ascending by h, their weights, their ids).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/misa_launch.cuh"

namespace hisa::cuda::misa {

// A row is routed when it sees more than C = c * topk tokens (else every token is a candidate)
// and has a full block before its local one (else SPEC.md makes every head active). Either way
// an unrouted row's answer is flat's: the re-scoring takes its whole range.
__host__ __device__ inline bool routed(int n, int B, int C) { return n > C && n > B; }
// Full blocks before the local one: ceil(n / B) - 1.
__host__ __device__ inline int full_blocks(int n, int B) { return n > 0 ? (n - 1) / B : 0; }

#if defined(__CUDACC__)

// heads[0..a) = the a heads with the largest key (key = score_key(r), ties: larger h), in
// ascending h. keys, rank: shared [H]; heads: shared [>= a]. Whole CTA; ends with a barrier.
__device__ inline void choose_heads(const uint32_t* keys, int H, int a, int32_t* rank,
                                    int32_t* heads) {
  for (int h = threadIdx.x; h < H; h += blockDim.x) {
    const uint32_t k = keys[h];
    int r = 0;  // heads ranked before h
    for (int o = 0; o < H; ++o) r += (keys[o] > k || (keys[o] == k && o > h)) ? 1 : 0;
    rank[h] = r;
  }
  __syncthreads();
  for (int h = threadIdx.x; h < H; h += blockDim.x) {
    if (rank[h] >= a) continue;
    int below = 0;  // active heads with a smaller index
    for (int o = 0; o < h; ++o) below += rank[o] < a ? 1 : 0;
    heads[below] = h;
  }
  __syncthreads();
}

// Power-of-two scale s with bound * s in [2^13, 2^14) (so every routed score of the row fits
// f16 with room to spare) and wmax * s finite; 1 when the bound is 0 or not finite. Scaling by
// a power of two is exact, so the f16 logits rank exactly as the f32 scores would, up to f16's
// rounding (2^-11 relative).
__device__ inline float f16_row_scale(float bound, float wmax) {
  if (!(bound > 0.0f) || !isfinite(bound) || !isfinite(wmax)) return 1.0f;
  int e = kMisaF16BoundExp - ilogbf(bound);
  if (wmax > 0.0f) e = min(e, 125 - ilogbf(wmax));
  e = max(-126, min(e, 127));
  return ldexpf(1.0f, e);
}

// Row of the gathered layout holding (chunk row r, head slot i). Plain: r * A + i. Grouped
// (the sm_90a scorer, A = 64 / G in {8, 16, 32}): the G queries of a group share 64 rows, the
// N side of one wgmma tile, whose accumulator column n = 8k + 2c + e sits with lane quad c
// (k < 8, e < 2). Slots are placed so that each query's heads land in as few lane quads as
// possible and its head sum needs no shuffle (A = 8: query j owns quad j % 4, column groups
// 4 (j / 4) .. +3; A = 16: query j owns quad j; A = 32: query j owns quads 2j, 2j + 1).
__host__ __device__ inline int slot_row(int r, int i, int A, int G) {
  if (G <= 1) return r * A + i;
  const int j = r % G, group_base = (r - j) * A;
  if (A == 8) return group_base + 8 * (4 * (j >> 2) + (i >> 1)) + 2 * (j & 3) + (i & 1);
  const int c = j * (A / 16) + (i >> 4);
  return group_base + 8 * ((i >> 1) & 7) + 2 * c + (i & 1);
}

// Writes chunk row r: qa[r] = q[t, heads[i]] for i < ncopy, zeros up to A; wa[r] = w[t,
// heads[i]] * scale (0 on padding, and everywhere when `zero_weights`: unrouted rows, whose
// routed scores are never used); p.heads[r] = heads, or -1 when `ids_valid` is false.
// Whole CTA; heads in shared memory. E: bytes per element of q.
template <int E>
__device__ inline void write_gathered(const MisaRouterParams& p, int r, int64_t t,
                                      const int32_t* heads, int ncopy, float scale,
                                      bool ids_valid, bool zero_weights) {
  const int64_t row_bytes = static_cast<int64_t>(p.D) * E;
  const uint8_t* q = static_cast<const uint8_t*>(p.q);
  uint8_t* qa = static_cast<uint8_t*>(p.qa);  // row (r, slot) at slot_row(r, slot, A, G)
  const bool vec = row_bytes % 16 == 0 && reinterpret_cast<uintptr_t>(q) % 16 == 0;
  if (vec) {
    const int per_row = static_cast<int>(row_bytes / 16);
    for (int i = threadIdx.x; i < p.A * per_row; i += blockDim.x) {
      const int slot = i / per_row, c = i % per_row;
      uint4 v = make_uint4(0, 0, 0, 0);
      if (slot < ncopy)
        v = *reinterpret_cast<const uint4*>(q + (t * p.H + heads[slot]) * row_bytes + 16 * c);
      reinterpret_cast<uint4*>(qa + slot_row(r, slot, p.A, p.G) * row_bytes)[c] = v;
    }
  } else {
    for (int64_t i = threadIdx.x; i < p.A * row_bytes; i += blockDim.x) {
      const int slot = static_cast<int>(i / row_bytes);
      const int64_t b = i % row_bytes;
      qa[slot_row(r, slot, p.A, p.G) * row_bytes + b] =
          slot < ncopy ? q[(t * p.H + heads[slot]) * row_bytes + b] : uint8_t{0};
    }
  }
  for (int i = threadIdx.x; i < p.A; i += blockDim.x) {
    float v = 0.0f;
    if (i < p.a && !zero_weights) v = p.w[t * p.H + heads[i]] * scale;
    p.wa[slot_row(r, i, p.A, p.G)] = v;
  }
  for (int i = threadIdx.x; i < p.a; i += blockDim.x)
    p.heads[static_cast<int64_t>(r) * p.a + i] = ids_valid ? heads[i] : -1;
}

#endif  // __CUDACC__

}  // namespace hisa::cuda::misa
