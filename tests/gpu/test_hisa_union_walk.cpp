// The union stage-2a kernel's tile walk (src/cuda/hisa_union_walk.cuh), on the host: for random
// groups of 2 and 4 kept-block lists, every candidate position of each row is covered exactly
// once by a tile that names it, at the key row the row's own kept list gives it; tiles ascend
// (each key row is loaded once per group); no tile is empty; the warp-parallel tile count
// (count_union_tiles) equals the walk's; the two ways of pairing tiles into stages
// (stage_union_in_order, stage_union_by_rows) stage every tile once in ceil(ntiles / 2) stages,
// by_rows with at most one stage that mixes row sets. Runs without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>
#include <random>
#include <vector>

#include "cuda/hisa_union_walk.cuh"

namespace {

using hisa::cuda::tokens::count_union_tiles;
using hisa::cuda::tokens::stage_union_by_rows;
using hisa::cuda::tokens::stage_union_in_order;
using hisa::cuda::tokens::UnionTile;
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

// Walks rows[0..Q) (nullptr: no such row, n = 0) and checks the tiles.
template <int Q>
void expect_walk_covers(const std::array<const Row*, Q>& rows, int B, int ks,
                        const std::string& what, int* ntiles_out = nullptr) {
  constexpr int kStride = 4096;
  std::vector<int> lists(Q * kStride, -1);
  int n[Q], cv[Q];
  for (int q = 0; q < Q; ++q) {
    n[q] = rows[q] ? static_cast<int>(rows[q]->kept.size()) : 0;
    cv[q] = rows[q] ? rows[q]->cvalid : 0;
    ASSERT_LE(n[q], kStride);
    for (int i = 0; i < n[q]; ++i) lists[q * kStride + i] = rows[q]->kept[i];
  }
  std::vector<int> tile_rows;
  std::vector<std::array<int, Q>> tile_refs;
  walk_union<Q>(lists.data(), kStride, n, cv, B, ks, [&](int row, const int(&ref)[Q]) {
    tile_rows.push_back(row);
    std::array<int, Q> r{};
    for (int q = 0; q < Q; ++q) r[q] = ref[q];
    tile_refs.push_back(r);
  });
  if (ntiles_out) *ntiles_out = static_cast<int>(tile_rows.size());
  // The kernel counts the tiles with the producer warp's 32 lanes before walking them.
  for (const int nlanes : {1, 32}) {
    int counted = 0;
    for (int lane = 0; lane < nlanes; ++lane)
      counted += count_union_tiles<Q>(lists.data(), kStride, n, cv, B, lane, nlanes);
    ASSERT_EQ(counted, static_cast<int>(tile_rows.size())) << what << ": " << nlanes << " lanes";
  }
  for (std::size_t i = 0; i < tile_rows.size(); ++i) {
    bool any = false;
    for (int q = 0; q < Q; ++q) any = any || tile_refs[i][q] != 0;
    ASSERT_TRUE(any) << what << ": empty tile " << i;
    if (i > 0) {
      ASSERT_GT(tile_rows[i], tile_rows[i - 1]) << what << ": tiles not ascending";
    }
  }
  for (int q = 0; q < Q; ++q) {
    std::vector<int> seen(cv[q], 0);
    for (std::size_t t = 0; t < tile_rows.size(); ++t) {
      const int ref = tile_refs[t][q];
      if (ref == 0) continue;
      ASSERT_NE(rows[q], nullptr) << what << ": a tile names missing row " << q;
      const int first = tile_ref_pos(ref), count = tile_ref_count(ref);
      ASSERT_GE(count, 1) << what;
      ASSERT_LE(count, 64) << what;
      for (int c = 0; c < count; ++c) {
        const int pos = first + c;
        ASSERT_LT(pos, cv[q]) << what << ": row " << q << " position past cvalid";
        ++seen[pos];
        ASSERT_EQ(tile_rows[t] + c, ks + rows[q]->kept[pos / B] * B + pos % B)
            << what << ": row " << q << " position " << pos << " at the wrong key";
      }
    }
    for (int pos = 0; pos < cv[q]; ++pos)
      ASSERT_EQ(seen[pos], 1) << what << ": row " << q << " position " << pos;
  }
}

// The stages of a row pair, both ways, against the walk's tiles.
void expect_stages_cover(const Row* a, const Row* b, int B, int ks, const std::string& what) {
  constexpr int kStride = 4096;
  std::vector<int> lists(2 * kStride, -1);
  const int n[2] = {static_cast<int>(a->kept.size()), b ? static_cast<int>(b->kept.size()) : 0};
  const int cv[2] = {a->cvalid, b ? b->cvalid : 0};
  for (int i = 0; i < n[0]; ++i) lists[i] = a->kept[i];
  for (int i = 0; i < n[1]; ++i) lists[kStride + i] = b->kept[i];
  using Key = std::array<int, 3>;  // row, ref 0, ref 1
  std::vector<Key> walked;
  walk_union<2>(lists.data(), kStride, n, cv, B, ks, [&](int row, const int(&ref)[2]) {
    walked.push_back({row, ref[0], ref[1]});
  });
  const int want_stages = (static_cast<int>(walked.size()) + 1) / 2;
  auto set_of = [](const UnionTile<2>& t) { return (t.ref[0] != 0) | (t.ref[1] != 0) << 1; };
  for (const bool by_rows : {false, true}) {
    const std::string tag = what + (by_rows ? " by rows" : " in order");
    std::vector<Key> staged;
    int stages = 0, mixed = 0, singles = 0, single_at = -1;
    auto stage = [&](const UnionTile<2>& x, const UnionTile<2>& y, bool has_b) {
      staged.push_back({x.row, x.ref[0], x.ref[1]});
      if (has_b) staged.push_back({y.row, y.ref[0], y.ref[1]});
      if (has_b && set_of(x) != set_of(y)) ++mixed;
      if (!has_b) {
        ++singles;
        single_at = stages;
      }
      ++stages;
    };
    if (by_rows) stage_union_by_rows<2>(lists.data(), kStride, n, cv, B, ks, stage);
    else stage_union_in_order<2>(lists.data(), kStride, n, cv, B, ks, stage);
    ASSERT_EQ(stages, want_stages) << tag;
    ASSERT_LE(singles, 1) << tag;
    if (singles == 1) {
      ASSERT_EQ(single_at, stages - 1) << tag << ": a single tile before the end";
    }
    if (by_rows) {
      ASSERT_LE(mixed, 1) << tag << ": stages mixing row sets";
      std::vector<Key> x = walked, y = staged;
      std::sort(x.begin(), x.end());
      std::sort(y.begin(), y.end());
      ASSERT_EQ(x, y) << tag << ": not every tile staged once";
    } else {
      ASSERT_EQ(staged, walked) << tag << ": not the walk's tiles in order";
    }
  }
}

TEST(HisaUnionWalk, CoversEachRowsCandidatesOnce) {
  std::mt19937 rng(2026);
  for (const int B : {64, 128, 192}) {
    for (int trial = 0; trial < 300; ++trial) {
      const int m = 3 + static_cast<int>(rng() % 40);
      const int n = 1 + static_cast<int>(rng() % (B * 80));
      const int ks = static_cast<int>(rng() % 5000);
      // Four consecutive queries of one sequence: n .. n + 3 tokens.
      const Row a = make_row(rng, n, B, m), b = make_row(rng, n + 1, B, m);
      const Row c = make_row(rng, n + 2, B, m), d = make_row(rng, n + 3, B, m);
      Row same = a;  // the same blocks, one more token
      same.cvalid = a.cvalid + 1;
      const std::string what = "B=" + std::to_string(B) + " m=" + std::to_string(m) +
                               " n=" + std::to_string(n);
      expect_walk_covers<2>({&a, nullptr}, B, ks, what + " alone");
      expect_stages_cover(&a, nullptr, B, ks, what + " alone");
      expect_stages_cover(&a, &b, B, ks, what + " pair");
      expect_stages_cover(&a, &same, B, ks, what + " same blocks");
      expect_walk_covers<2>({&a, &b}, B, ks, what + " pair");
      expect_walk_covers<2>({&b, &a}, B, ks, what + " pair swapped");
      expect_walk_covers<4>({&a, &b, &c, &d}, B, ks, what + " quad");
      expect_walk_covers<4>({&d, nullptr, &b, nullptr}, B, ks, what + " quad with gaps");
      if (same.cvalid <= static_cast<int>(a.kept.size()) * B) {
        int ntiles = 0;
        expect_walk_covers<2>({&a, &same}, B, ks, what + " same blocks", &ntiles);
        EXPECT_EQ(ntiles, (same.cvalid + 63) / 64) << what << ": shared tiles loaded twice";
      }
    }
  }
}

}  // namespace
