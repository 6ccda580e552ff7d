// The union stage-2a kernel's tile walk (src/cuda/hisa_union_walk.cuh), on the host: for random
// pairs of kept-block lists, every candidate position of each row is covered exactly once by
// a tile that names it, at the key row the row's own kept list gives it; tiles ascend (each key
// row is loaded once per pair); no tile is empty. Runs without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "cuda/hisa_union_walk.cuh"

namespace {

using hisa::cuda::tokens::tile_ref_count;
using hisa::cuda::tokens::tile_ref_pos;
using hisa::cuda::tokens::walk_union;

struct Row {
  std::vector<int> kept;  // ascending block ids, the last one the row's own block
  int cvalid = 0;
};

// A HISA row of n tokens from ks keeping m blocks (first and own always), or every block.
Row make_row(std::mt19937& rng, int n, int B, int m) {
  Row r;
  const int nb = (n + B - 1) / B;
  if (nb <= m) {
    for (int j = 0; j < nb; ++j) r.kept.push_back(j);
  } else {
    std::vector<int> mid(nb - 2);
    for (int j = 1; j < nb - 1; ++j) mid[j - 1] = j;
    std::shuffle(mid.begin(), mid.end(), rng);
    r.kept.push_back(0);
    r.kept.insert(r.kept.end(), mid.begin(), mid.begin() + (m - 2));
    r.kept.push_back(nb - 1);
    std::sort(r.kept.begin(), r.kept.end());
  }
  r.cvalid = (static_cast<int>(r.kept.size()) - 1) * B + (n - (nb - 1) * B);
  return r;
}

struct Tile {
  int row, ref0, ref1;
};

void expect_walk_covers(const Row& a, const Row* b, int B, int ks, const std::string& what) {
  std::vector<Tile> tiles;
  walk_union(a.kept.data(), static_cast<int>(a.kept.size()), a.cvalid,
             b ? b->kept.data() : nullptr, b ? static_cast<int>(b->kept.size()) : 0,
             b ? b->cvalid : 0, B, ks,
             [&](int row, int r0, int r1) { tiles.push_back({row, r0, r1}); });
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    ASSERT_TRUE(tiles[i].ref0 != 0 || tiles[i].ref1 != 0) << what << ": empty tile " << i;
    if (i > 0) ASSERT_GT(tiles[i].row, tiles[i - 1].row) << what << ": tiles not ascending";
  }
  for (int q = 0; q < (b ? 2 : 1); ++q) {
    const Row& r = q == 0 ? a : *b;
    std::vector<int> seen(r.cvalid, 0);
    for (const Tile& t : tiles) {
      const int ref = q == 0 ? t.ref0 : t.ref1;
      if (ref == 0) continue;
      const int first = tile_ref_pos(ref), count = tile_ref_count(ref);
      ASSERT_GE(count, 1) << what;
      ASSERT_LE(count, 64) << what;
      for (int c = 0; c < count; ++c) {
        const int pos = first + c;
        ASSERT_LT(pos, r.cvalid) << what << ": row " << q << " position past cvalid";
        ++seen[pos];
        ASSERT_EQ(t.row + c, ks + r.kept[pos / B] * B + pos % B)
            << what << ": row " << q << " position " << pos << " at the wrong key";
      }
    }
    for (int pos = 0; pos < r.cvalid; ++pos)
      ASSERT_EQ(seen[pos], 1) << what << ": row " << q << " position " << pos;
  }
}

TEST(HisaUnionWalk, CoversEachRowsCandidatesOnce) {
  std::mt19937 rng(2026);
  for (const int B : {64, 128, 192}) {
    for (int trial = 0; trial < 300; ++trial) {
      const int m = 3 + static_cast<int>(rng() % 40);
      const int n = 1 + static_cast<int>(rng() % (B * 80));
      const int ks = static_cast<int>(rng() % 5000);
      const Row a = make_row(rng, n, B, m);
      const Row b = make_row(rng, n + 1, B, m);  // the next query of the sequence
      Row c = a;                                 // the same blocks, one more token
      c.cvalid = a.cvalid + 1;
      const std::string what = "B=" + std::to_string(B) + " m=" + std::to_string(m) +
                               " n=" + std::to_string(n);
      expect_walk_covers(a, nullptr, B, ks, what + " alone");
      expect_walk_covers(a, &b, B, ks, what + " pair");
      expect_walk_covers(b, &a, B, ks, what + " pair swapped");
      if (c.cvalid <= static_cast<int>(a.kept.size()) * B) {
        expect_walk_covers(a, &c, B, ks, what + " same blocks");
        int ntiles = 0;
        walk_union(a.kept.data(), static_cast<int>(a.kept.size()), a.cvalid, c.kept.data(),
                   static_cast<int>(c.kept.size()), c.cvalid, B, ks,
                   [&](int, int, int) { ++ntiles; });
        EXPECT_EQ(ntiles, (c.cvalid + 63) / 64) << what << ": shared tiles loaded twice";
      }
    }
  }
}

}  // namespace
