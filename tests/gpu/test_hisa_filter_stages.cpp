// The filtered stage 2a's stage counts (src/cuda/hisa_filter_stages.cuh), on the host: for
// random rows (kept blocks, block sizes that are multiples of 64, a partial own block, random
// sets A with or without the own block), filter_stages equals the counts of the producer's walk
// in hisa_tokens_filter.cu enumerated here (A's blocks first, then the others, each in
// ascending kept order; a block's tiles at offsets 0, 64, ... below cvalid; two tiles per stage,
// a group's last stage may hold one). A wrong count would hang the kernel. Runs without a GPU.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "cuda/hisa_filter_stages.cuh"

namespace {

using hisa::cuda::filter_stages;
using hisa::cuda::FilterStages;

FilterStages walk_stages(int nk, int B, int cvalid, const std::vector<bool>& in_a) {
  FilterStages s{0, 0};
  for (int phase = 0; phase < 2; ++phase) {
    int tiles = 0;
    for (int i = 0; i < nk; ++i) {
      if (in_a[i] != (phase == 0)) continue;
      for (int off = 0; off < B && i * B + off < cvalid; off += 64) ++tiles;
    }
    const int stages = (tiles + 1) / 2;
    if (phase == 0) s.a_stages = stages;
    s.stages += stages;
  }
  return s;
}

TEST(HisaFilterStages, CountsEqualTheWalk) {
  std::mt19937 rng(601);
  for (int trial = 0; trial < 20000; ++trial) {
    const int B = 64 * (1 + static_cast<int>(rng() % 4));
    const int nk = 1 + static_cast<int>(rng() % 300);
    const int own = 1 + static_cast<int>(rng() % B);  // keys of the own (last) block
    const int cvalid = (nk - 1) * B + own;
    std::vector<bool> in_a(nk);
    int a_blocks = 0;
    const int density = static_cast<int>(rng() % 101);
    for (int i = 0; i < nk; ++i) {
      in_a[i] = static_cast<int>(rng() % 100) < density;
      a_blocks += in_a[i] ? 1 : 0;
    }
    if (trial % 2 == 0 && !in_a[nk - 1]) {  // the kernel's usual case: own block in A
      in_a[nk - 1] = true;
      ++a_blocks;
    }
    const FilterStages want = walk_stages(nk, B, cvalid, in_a);
    const FilterStages got = filter_stages(nk, B, cvalid, a_blocks, in_a[nk - 1]);
    ASSERT_EQ(got.a_stages, want.a_stages) << "nk=" << nk << " B=" << B << " cvalid=" << cvalid;
    ASSERT_EQ(got.stages, want.stages) << "nk=" << nk << " B=" << B << " cvalid=" << cvalid;
  }
}

}  // namespace
