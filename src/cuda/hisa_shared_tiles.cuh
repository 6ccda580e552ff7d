// shared_candidates = Q on CUDA (SPEC.md "HISA variants"): queries are grouped in tiles of Q
// consecutive rows of one sequence, counted from the sequence's first query row, and each query
// selects from the union of its tile's kept blocks inside its own range.
//
//   seq_first[ks] = the first query row whose (clamped) range starts at ks: the CPU backend's
//                   "sequence's first query row" (it orders rows by ks, stably), filled once
//                   per call by launch_seq_first (hisa_shared_tiles.cu);
//   tile_union_blocks: in stage 2, the row's candidate blocks, ascending, from the kept lists of
//                   its tile's members (every row of the call's kept buffer: the planner runs
//                   stage 1 for all rows before stage 2 when Q > 1).
#pragma once

#include <cstdint>

#include "cuda/hisa_block_ops.cuh"
#include "cuda/hisa_launch.cuh"

namespace hisa::cuda {

#if defined(__CUDACC__)
// Writes row t's candidate blocks (ascending, all < g.nb) to blocks[] and returns how many
// there are. bitmap: ceil(g.nb / 32) words of shared scratch. Collective (barriers).
__device__ inline int tile_union_blocks(const HisaParams& p, int64_t t, const RowGeometry& g,
                                        int32_t* blocks, uint32_t* bitmap,
                                        hisa_ops::SelectScratch& sc) {
  const int nbw = (g.nb + 31) / 32;
  for (int w = threadIdx.x; w < nbw; w += blockDim.x) bitmap[w] = 0u;
  __syncthreads();
  const int64_t first = p.seq_first[g.ks];
  const int64_t Q = p.shared_q;
  const int64_t lo = first + (t - first) / Q * Q;
  const int64_t rows = static_cast<int64_t>(p.t0) + p.T;  // every row: a single launch
  const int64_t hi = lo + Q < rows ? lo + Q : rows;
  for (int64_t u = lo; u < hi; ++u) {  // uniform: every thread walks the same members
    const RowGeometry gu = row_of(p, u);
    if (gu.ks != g.ks) continue;  // another sequence's row inside the index range
    if (gu.all_blocks) {
      const int nb = gu.nb < g.nb ? gu.nb : g.nb;
      for (int j = threadIdx.x; j < nb; j += blockDim.x) atomicOr(&bitmap[j >> 5], 1u << (j & 31));
    } else {
      const int32_t* kept = p.kept + (u - p.t0) * p.m;  // the kept buffer covers every row
      for (int i = threadIdx.x; i < p.m; i += blockDim.x) {
        const int j = kept[i];
        if (j < g.nb) atomicOr(&bitmap[j >> 5], 1u << (j & 31));
      }
    }
  }
  __syncthreads();
  // Ascending compaction: each thread takes a contiguous run of words.
  const int per = (nbw + blockDim.x - 1) / blockDim.x;
  const int w0 = min(nbw, static_cast<int>(threadIdx.x) * per), w1 = min(nbw, w0 + per);
  uint32_t mine = 0;
  for (int w = w0; w < w1; ++w) mine += __popc(bitmap[w]);
  uint32_t total = 0;
  uint32_t at = hisa_ops::block_exclusive_scan(mine, sc, total);
  for (int w = w0; w < w1; ++w) {
    for (uint32_t bits = bitmap[w]; bits != 0u; bits &= bits - 1u)
      blocks[at++] = w * 32 + (__ffs(bits) - 1);
  }
  __syncthreads();
  return static_cast<int>(total);
}
#endif

}  // namespace hisa::cuda
