// Fidelity metrics (metrics.hpp): IoU, recall and score-mass recall on hand-computed rows,
// -1 padding, empty rows, duplicates, bad input; the nearest-rank percentile definition;
// a brute-force comparison on random rows; row sampling of the mass recall.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <vector>

#include "eval/compare.hpp"
#include "eval/rng.hpp"
#include "hisa/error.hpp"
#include "hisa/metrics.hpp"
#include "hisa/select.hpp"
#include "hisa/workload.hpp"

namespace {

using hisa::row_iou;
using hisa::row_mass_recall;
using hisa::row_recall;
using hisa::summarize;

std::vector<double> iou1(std::vector<int32_t> a, std::vector<int32_t> f) {
  return row_iou(a.data(), static_cast<int64_t>(a.size()), f.data(), static_cast<int64_t>(f.size()),
                 1);
}
std::vector<double> recall1(std::vector<int32_t> a, std::vector<int32_t> f) {
  return row_recall(a.data(), static_cast<int64_t>(a.size()), f.data(),
                    static_cast<int64_t>(f.size()), 1);
}

TEST(Metrics, IdenticalRowsScoreOne) {
  const std::vector<int32_t> a = {7, 3, 9, 1}, f = {1, 9, 3, 7};  // order does not matter
  EXPECT_DOUBLE_EQ(iou1(a, f)[0], 1.0);
  EXPECT_DOUBLE_EQ(recall1(a, f)[0], 1.0);
}

TEST(Metrics, DisjointRowsScoreZero) {
  EXPECT_DOUBLE_EQ(iou1({1, 2, 3}, {4, 5, 6})[0], 0.0);
  EXPECT_DOUBLE_EQ(recall1({1, 2, 3}, {4, 5, 6})[0], 0.0);
}

TEST(Metrics, PartialOverlap) {
  // A = {1,2,3,4}, F = {3,4,5,6}: |A n F| = 2, |A u F| = 6.
  EXPECT_DOUBLE_EQ(iou1({1, 2, 3, 4}, {3, 4, 5, 6})[0], 2.0 / 6.0);
  EXPECT_DOUBLE_EQ(recall1({1, 2, 3, 4}, {3, 4, 5, 6})[0], 2.0 / 4.0);
}

TEST(Metrics, PaddingIsIgnoredAndWidthsMayDiffer) {
  // A = {10, 20} (k = 4), F = {10, 20, 30} (k = 5): IoU 2/3, recall 2/3.
  EXPECT_DOUBLE_EQ(iou1({10, -1, 20, -1}, {30, 20, 10, -1, -1})[0], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(recall1({10, -1, 20, -1}, {30, 20, 10, -1, -1})[0], 2.0 / 3.0);
}

TEST(Metrics, EmptyRows) {
  EXPECT_DOUBLE_EQ(iou1({-1, -1}, {-1, -1, -1})[0], 1.0);  // both empty
  EXPECT_DOUBLE_EQ(recall1({-1, -1}, {-1})[0], 1.0);       // empty F
  EXPECT_DOUBLE_EQ(iou1({5, 6}, {-1, -1})[0], 0.0);        // F empty, A not
  EXPECT_DOUBLE_EQ(recall1({5, 6}, {-1, -1})[0], 1.0);
  EXPECT_DOUBLE_EQ(iou1({-1, -1}, {5, -1})[0], 0.0);  // A empty, F not
  EXPECT_DOUBLE_EQ(recall1({-1, -1}, {5, -1})[0], 0.0);
  // Zero-width lists are empty rows too.
  std::vector<int32_t> f = {1, 2};
  EXPECT_DOUBLE_EQ(row_iou(nullptr, 0, f.data(), 2, 1)[0], 0.0);
  EXPECT_DOUBLE_EQ(row_recall(f.data(), 2, nullptr, 0, 1)[0], 1.0);
  EXPECT_TRUE(row_iou(nullptr, 3, nullptr, 3, 0).empty());
}

TEST(Metrics, DuplicatesCountOnce) {
  EXPECT_DOUBLE_EQ(iou1({4, 4, 4, 5}, {4, 6})[0], 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(recall1({4, 4}, {4, 6, 6})[0], 0.5);
}

TEST(Metrics, SeveralRowsAreIndependent) {
  // Row 0 shares index 3 with row 1 of the other list: rows must not leak into each other.
  const std::vector<int32_t> a = {1, 2, 3, /**/ 7, 8, -1};
  const std::vector<int32_t> f = {1, 2, 9, /**/ 3, 8, 7};
  const auto iou = row_iou(a.data(), 3, f.data(), 3, 2);
  ASSERT_EQ(iou.size(), 2u);
  EXPECT_DOUBLE_EQ(iou[0], 2.0 / 4.0);
  EXPECT_DOUBLE_EQ(iou[1], 2.0 / 3.0);
  const auto rec = row_recall(a.data(), 3, f.data(), 3, 2);
  EXPECT_DOUBLE_EQ(rec[0], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(rec[1], 2.0 / 3.0);
}

TEST(Metrics, HugeIndicesUseTheSortingPath) {
  // Far beyond any stamp array: the same answers as for small indices.
  const int32_t big = 2000000000;
  EXPECT_DOUBLE_EQ(iou1({big, 1, 2, 3}, {3, big, 7, -1})[0], 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(recall1({big, big, -1}, {big, 5})[0], 0.5);
  EXPECT_DOUBLE_EQ(iou1({-1, -1}, {-1, big})[0], 0.0);
}

TEST(Metrics, RejectsBadLists) {
  const std::vector<int32_t> ok = {1, 2}, bad = {1, -2};
  EXPECT_THROW(row_iou(bad.data(), 2, ok.data(), 2, 1), hisa::ArgumentError);
  EXPECT_THROW(row_recall(ok.data(), 2, bad.data(), 2, 1), hisa::ArgumentError);
  EXPECT_THROW(row_iou(nullptr, 2, ok.data(), 2, 1), hisa::ArgumentError);
  EXPECT_THROW(row_iou(ok.data(), -1, ok.data(), 2, 1), hisa::ArgumentError);
}

TEST(Metrics, MatchesBruteForceOnRandomRows) {
  hisa::eval::Rng rng(7);
  const int64_t T = 200, ka = 24, kf = 20;
  std::vector<int32_t> a(T * ka), f(T * kf);
  for (auto& v : a) v = rng.uniform() < 0.1 ? -1 : static_cast<int32_t>(rng.below(60));
  for (auto& v : f) v = rng.uniform() < 0.1 ? -1 : static_cast<int32_t>(rng.below(60));
  const auto iou = row_iou(a.data(), ka, f.data(), kf, T);
  const auto rec = row_recall(a.data(), ka, f.data(), kf, T);
  for (int64_t t = 0; t < T; ++t) {
    std::set<int32_t> A, F;
    for (int64_t j = 0; j < ka; ++j)
      if (a[t * ka + j] >= 0) A.insert(a[t * ka + j]);
    for (int64_t j = 0; j < kf; ++j)
      if (f[t * kf + j] >= 0) F.insert(f[t * kf + j]);
    int64_t both = 0;
    for (int32_t x : A) both += F.count(x);
    const int64_t uni = static_cast<int64_t>(A.size() + F.size()) - both;
    EXPECT_DOUBLE_EQ(iou[t], uni == 0 ? 1.0 : static_cast<double>(both) / uni) << "row " << t;
    EXPECT_DOUBLE_EQ(rec[t], F.empty() ? 1.0 : static_cast<double>(both) / F.size()) << "row " << t;
  }
}

// One query, H = 1, D = 1, q = 1, w = 1: I(0, s) = k_scale[s] * max(0, k[s]).
struct TinyProblem {
  std::vector<float> q = {1.0f}, w = {1.0f};
  std::vector<float> k = {1, 2, 3, 4, 5, -1};
  std::vector<float> scale;
  hisa::Problem problem() const {
    hisa::Problem p;
    p.dtype = hisa::DType::f32;
    p.T = 1;
    p.S = static_cast<int64_t>(k.size());
    p.H = 1;
    p.D = 1;
    p.q = q.data();
    p.k = k.data();
    p.w = w.data();
    p.k_scale = scale.empty() ? nullptr : scale.data();
    return p;
  }
};

TEST(Metrics, MassRecallWithKnownScores) {
  TinyProblem tp;
  const std::vector<int32_t> flat = {4, 3};  // scores 5 and 4: mass 9
  std::vector<int32_t> approx = {4, 0};      // 5 + 1
  EXPECT_NEAR(row_mass_recall(tp.problem(), approx.data(), 2, flat.data(), 2)[0], 6.0 / 9.0, 1e-12);
  approx = {5, -1};  // score max(0, -1) = 0: no mass
  EXPECT_DOUBLE_EQ(row_mass_recall(tp.problem(), approx.data(), 2, flat.data(), 2)[0], 0.0);
  approx = {3, 4};
  EXPECT_DOUBLE_EQ(row_mass_recall(tp.problem(), approx.data(), 2, flat.data(), 2)[0], 1.0);
  // k_scale scales each score: I(4) = 2.5, I(3) = 4, I(2) = 3 -> (2.5 + 3) / 6.5.
  tp.scale = {1, 1, 1, 1, 0.5f, 1};
  approx = {4, 2};
  EXPECT_NEAR(row_mass_recall(tp.problem(), approx.data(), 2, flat.data(), 2)[0], 5.5 / 6.5, 1e-12);
  // Zero positive mass in F (every score <= 0 with a negative weight) -> 1.
  tp.scale.clear();
  tp.w = {-1.0f};
  approx = {0, 1};
  EXPECT_DOUBLE_EQ(row_mass_recall(tp.problem(), approx.data(), 2, flat.data(), 2)[0], 1.0);
}

TEST(Metrics, MassRecallRejectsInvisibleIndex) {
  TinyProblem tp;
  std::vector<int32_t> ks = {0}, ke = {3};
  hisa::Problem p = tp.problem();
  p.ks = ks.data();
  p.ke = ke.data();
  const std::vector<int32_t> flat = {2, 1}, approx = {4, 1};  // 4 is outside [0, 3)
  EXPECT_THROW(row_mass_recall(p, approx.data(), 2, flat.data(), 2), hisa::ArgumentError);
}

TEST(Metrics, MassRecallOnSampledRowsMatchesAllRows) {
  hisa::GaussianSpec spec;
  spec.T = 48;
  spec.S = 64;
  spec.H = 4;
  spec.D = 16;
  const hisa::Workload wl = hisa::make_gaussian(spec);
  const hisa::Problem p = wl.problem();
  hisa::Config cfg;
  cfg.topk = 8;
  std::vector<int32_t> flat(p.T * cfg.topk), approx(p.T * cfg.topk);
  hisa::select(p, cfg, flat.data());
  cfg.method = hisa::Method::misa;
  cfg.heads = 1;
  cfg.block_size = 8;  // router statistics need full blocks
  hisa::select(p, cfg, approx.data());
  const auto all = row_mass_recall(p, approx.data(), cfg.topk, flat.data(), cfg.topk);
  ASSERT_EQ(all.size(), 48u);
  const auto rows = hisa::eval::spread_rows(p.T, 10);
  const hisa::eval::FlatMass fm(p, {flat.data(), cfg.topk}, rows);
  const auto some = fm.recall({approx.data(), cfg.topk});
  ASSERT_EQ(some.size(), rows.size());
  for (std::size_t j = 0; j < rows.size(); ++j) EXPECT_DOUBLE_EQ(some[j], all[rows[j]]);
  double lowest = 1.0;
  for (double v : all) {
    EXPECT_GE(v, 0.0);
    EXPECT_LE(v, 1.0 + 1e-12);  // flat holds the top mass
    lowest = std::min(lowest, v);
  }
  EXPECT_LT(lowest, 1.0);  // one head of four misses something
}

TEST(Metrics, SpreadRows) {
  EXPECT_EQ(hisa::eval::spread_rows(5, 0), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(hisa::eval::spread_rows(5, 9), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(hisa::eval::spread_rows(100, 4), (std::vector<int64_t>{12, 37, 62, 87}));
  const auto r = hisa::eval::spread_rows(1000, 999);
  EXPECT_TRUE(std::adjacent_find(r.begin(), r.end(), std::greater_equal<int64_t>()) == r.end());
  EXPECT_TRUE(hisa::eval::spread_rows(0, 3).empty());
}

TEST(Metrics, NeedleRecall) {
  const std::vector<int32_t> sel = {3, 9, -1, /**/ 4, 5, 6};
  EXPECT_DOUBLE_EQ(hisa::eval::needle_recall({sel.data(), 3}, 2, {{0, 9}, {1, 7}}), 0.5);
  EXPECT_DOUBLE_EQ(hisa::eval::needle_recall({sel.data(), 3}, 2, {}), -1.0);
  EXPECT_THROW(hisa::eval::needle_recall({sel.data(), 3}, 2, {{2, 1}}), hisa::ArgumentError);
}

TEST(Summary, NearestRankPercentiles) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i / 100.0);  // unsorted input
  hisa::Summary s = summarize(v);
  EXPECT_EQ(s.rows, 100);
  EXPECT_DOUBLE_EQ(s.p1, 0.01);  // rank ceil(0.01 * 100) = 1
  EXPECT_DOUBLE_EQ(s.p5, 0.05);  // rank 5
  EXPECT_DOUBLE_EQ(s.min, 0.01);
  EXPECT_NEAR(s.mean, 0.505, 1e-12);

  v.clear();
  for (int i = 0; i < 10; ++i) v.push_back(i);
  s = summarize(v);  // n = 10: ranks ceil(0.1) = ceil(0.5) = 1
  EXPECT_DOUBLE_EQ(s.p1, 0.0);
  EXPECT_DOUBLE_EQ(s.p5, 0.0);

  v.clear();
  for (int i = 0; i < 201; ++i) v.push_back(i);
  s = summarize(v);  // n = 201: p1 rank ceil(2.01) = 3, p5 rank ceil(10.05) = 11
  EXPECT_DOUBLE_EQ(s.p1, 2.0);
  EXPECT_DOUBLE_EQ(s.p5, 10.0);

  s = summarize({0.25});
  EXPECT_DOUBLE_EQ(s.p1, 0.25);
  EXPECT_DOUBLE_EQ(s.p5, 0.25);
  EXPECT_DOUBLE_EQ(s.mean, 0.25);

  s = summarize({});
  EXPECT_EQ(s.rows, 0);
  EXPECT_THROW(summarize({0.5, std::numeric_limits<double>::quiet_NaN()}), hisa::ArgumentError);
}

}  // namespace
