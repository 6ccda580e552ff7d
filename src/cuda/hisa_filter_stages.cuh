// Stage counts of a row in the filtered stage 2a (hisa_tokens_filter.cu): the producer walks the
// kept blocks of A first, then the others, 64-key tiles in ascending kept order within each
// group, two tiles per stage (a group's last stage may hold one); the math warpgroups learn the
// counts before the first stage. A host-tested function (tests/gpu/test_hisa_filter_stages.cpp):
// counts that disagree with the walk would hang the kernel.
#pragma once

#include <cuda_runtime.h>

namespace hisa::cuda {

struct FilterStages {
  int a_stages;  // stages of A's tiles (they come first)
  int stages;    // all stages of the row
};

// nk kept blocks of B keys (B % 64 == 0), candidates [0, cvalid) with only the last kept block
// (the own block) partial, a_blocks of them in A (own_in_a: the last one among them).
__host__ __device__ inline FilterStages filter_stages(int nk, int B, int cvalid, int a_blocks,
                                                     bool own_in_a) {
  constexpr int kTile = 64;
  const int per_block = B / kTile;
  const int own_tiles = (cvalid - (nk - 1) * B + kTile - 1) / kTile;
  const int all_tiles = (nk - 1) * per_block + own_tiles;
  const int a_tiles = (a_blocks - (own_in_a ? 1 : 0)) * per_block + (own_in_a ? own_tiles : 0);
  FilterStages s;
  s.a_stages = (a_tiles + 1) / 2;
  s.stages = s.a_stages + (all_tiles - a_tiles + 1) / 2;
  return s;
}

}  // namespace hisa::cuda
