// The tile walk of the union stage-2a kernel (hisa_tokens_union.cu): two rows' kept-block lists
// merged in ascending block order, cut into the 64-key tiles the kernel loads once for both rows.
// Host and device (tests/gpu/test_hisa_union_walk.cpp checks it on the host).
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

// The union of two ascending kept-block lists (block ids relative to the rows' common range
// start ks; l1 may be empty: n1 = 0), B % 64 == 0: tile(row, ref0, ref1) for each 64-key tile
// holding a candidate of either row, in ascending key order. row: the tile's first key row
// (ks + block * B + offset); ref_q: its tile_ref in row q, 0 when the block is not row q's or
// the tile lies past cvalid (cv_q) in row q's last kept block. Candidate positions are
// kept index * B + offset, as in every HISA stage 2.
template <class F>
__host__ __device__ inline void walk_union(const int* l0, int n0, int cv0, const int* l1, int n1,
                                           int cv1, int B, int ks, F&& tile) {
  int i0 = 0, i1 = 0;
  while (i0 < n0 || i1 < n1) {
    const int j0 = i0 < n0 ? l0[i0] : INT_MAX, j1 = i1 < n1 ? l1[i1] : INT_MAX;
    const int j = j0 < j1 ? j0 : j1;
    const int lim0 = j0 == j ? cv0 - i0 * B : 0, lim1 = j1 == j ? cv1 - i1 * B : 0;
    const int most = lim0 > lim1 ? lim0 : lim1;
    const int lim = most < B ? most : B;
    for (int off = 0; off < lim; off += kUnionTileKeys) {
      const int c0 = lim0 - off < kUnionTileKeys ? lim0 - off : kUnionTileKeys;
      const int c1 = lim1 - off < kUnionTileKeys ? lim1 - off : kUnionTileKeys;
      tile(ks + j * B + off, off < lim0 ? tile_ref(i0 * B + off, c0) : 0,
           off < lim1 ? tile_ref(i1 * B + off, c1) : 0);
    }
    i0 += j0 == j;
    i1 += j1 == j;
  }
}

}  // namespace hisa::cuda::tokens
