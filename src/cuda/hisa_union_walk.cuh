// The tile walk of the union stage-2a kernel (hisa_tokens_union.cu): Q rows' kept-block lists
// merged in ascending block order, cut into the 64-key tiles the kernel loads once for all of
// them. Host and device (tests/gpu/test_hisa_union_walk.cpp checks it on the host).
#pragma once

#include <cuda_runtime.h>

#include <climits>

namespace hisa::cuda::tokens {

constexpr int kUnionTileKeys = 64;  // one wgmma M tile (tokens::kTileKeys)

// Where a tile's keys sit among one row's candidates, packed in one int: (candidate position
// of its first key) << 7 | (how many of its 64 keys are candidates of the row); 0: none.
__host__ __device__ constexpr int tile_ref(int first_pos, int count) {
  return first_pos << 7 | count;
}
__host__ __device__ constexpr int tile_ref_pos(int ref) { return ref >> 7; }
__host__ __device__ constexpr int tile_ref_count(int ref) { return ref & 127; }

// The union of Q ascending kept-block lists (row q's n[q] block ids at lists + q * stride,
// relative to the rows' common range start ks; n[q] = 0: no row q), B % 64 == 0:
// tile(row, ref) for each 64-key tile holding a candidate of some row, in ascending key order.
// row: the tile's first key row (ks + block * B + offset); ref[q]: its tile_ref in row q, 0
// when the block is not row q's or the tile lies past cv[q] (row q's candidate count) in row
// q's last kept block. Candidate positions are kept index * B + offset, as in every HISA
// stage 2.
template <int Q, class F>
__host__ __device__ inline void walk_union(const int* lists, int stride, const int (&n)[Q],
                                           const int (&cv)[Q], int B, int ks, F&& tile) {
  int i[Q];
#pragma unroll
  for (int q = 0; q < Q; ++q) i[q] = 0;
  for (;;) {
    int j = INT_MAX;
#pragma unroll
    for (int q = 0; q < Q; ++q) {
      const int jq = i[q] < n[q] ? lists[q * stride + i[q]] : INT_MAX;
      j = jq < j ? jq : j;
    }
    if (j == INT_MAX) return;
    int lim[Q], most = 0;
#pragma unroll
    for (int q = 0; q < Q; ++q) {
      const bool has = i[q] < n[q] && lists[q * stride + i[q]] == j;
      lim[q] = has ? cv[q] - i[q] * B : 0;
      most = lim[q] > most ? lim[q] : most;
    }
    const int end = most < B ? most : B;
    for (int off = 0; off < end; off += kUnionTileKeys) {
      int ref[Q];
#pragma unroll
      for (int q = 0; q < Q; ++q) {
        const int c = lim[q] - off < kUnionTileKeys ? lim[q] - off : kUnionTileKeys;
        ref[q] = off < lim[q] ? tile_ref(i[q] * B + off, c) : 0;
      }
      tile(ks + j * B + off, ref);
    }
#pragma unroll
    for (int q = 0; q < Q; ++q) i[q] += lim[q] > 0;
  }
}

}  // namespace hisa::cuda::tokens
