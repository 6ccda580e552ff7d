// CPU flat selector vs the brute-force reference (exact equality), every dtype and range kind.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "cpu/cpu_backend.hpp"
#include "test_cpu_reference.hpp"

namespace hisa_test {
namespace {

void expect_matches_reference(const TestProblem& tp, const Config& cfg, bool allow_nonfinite = false) {
  const std::vector<int32_t> got = run_select(tp, cfg, 2, allow_nonfinite);
  const std::vector<int32_t> want = Reference(tp).select(cfg);
  const int64_t at = first_difference(got, want);
  ASSERT_EQ(at, -1) << "method " << hisa::to_string(cfg.method) << " dtype "
                    << hisa::to_string(tp.dtype) << ": row " << at / cfg.topk << " slot "
                    << at % cfg.topk << " got " << got[at] << " want " << want[at];
}

TEST(CpuFlat, MatchesReferenceEveryDtype) {
  for (DType dt : {DType::f32, DType::bf16, DType::fp8_e4m3}) {
    for (bool with_scale : {true, false}) {
      SCOPED_TRACE(std::string(hisa::to_string(dt)) + (with_scale ? " scaled" : " unscaled"));
      const TestProblem tp = random_problem(dt, 150, 170, 6, 40, 11 + with_scale, with_scale);
      expect_matches_reference(tp, make_config(Method::flat, 37));  // rows with n <= and > topk
    }
  }
}

TEST(CpuFlat, StructuredInputs) {
  expect_matches_reference(structured_problem(DType::fp8_e4m3, 200, 256, 8, 32, 24, 18),
                           make_config(Method::flat, 48));
}

TEST(CpuFlat, OddShapesAndLargeTopk) {
  // D not a multiple of 8, S not a multiple of the 16-key panel, H = 1, topk > S.
  const TestProblem tp = random_problem(DType::f32, 45, 61, 1, 19, 3);
  expect_matches_reference(tp, make_config(Method::flat, 5));
  expect_matches_reference(tp, make_config(Method::flat, 100));
  const std::vector<int32_t> out = run_select(tp, make_config(Method::flat, 100));
  for (int64_t t = 0; t < tp.T; ++t) {  // n_t = S - T + t + 1 valid entries, then -1
    const int64_t n = tp.S - tp.T + t + 1;
    for (int64_t i = 0; i < 100; ++i) EXPECT_EQ(out[t * 100 + i] < 0, i >= n);
  }
}

TEST(CpuFlat, ExactTiesRankLargerIndexFirst) {
  TestProblem tp = random_problem(DType::fp8_e4m3, 120, 120, 4, 32, 5);
  for (int64_t s = 0; s + 1 < tp.S; s += 3) duplicate_key(tp, s, s + 1);
  duplicate_key(tp, 2, 110);  // a tie far apart
  const Config cfg = make_config(Method::flat, 30);
  expect_matches_reference(tp, cfg);
  // Wherever both copies of a pair are selected, the larger index comes first, adjacent.
  const std::vector<int32_t> out = run_select(tp, cfg);
  int pairs_seen = 0;
  for (int64_t t = 0; t < tp.T; ++t)
    for (int64_t i = 0; i + 1 < cfg.topk; ++i) {
      const int32_t a = out[t * cfg.topk + i], b = out[t * cfg.topk + i + 1];
      if (a >= 0 && a % 3 == 1 && b == a - 1) ++pairs_seen;
      if (a >= 0 && a % 3 == 0 && b == a + 1 && a + 1 < tp.S) ADD_FAILURE() << "tie order";
    }
  EXPECT_GT(pairs_seen, 100);
}

TEST(CpuFlat, PackedBatches) {
  for (DType dt : {DType::f32, DType::bf16, DType::fp8_e4m3}) {
    SCOPED_TRACE(hisa::to_string(dt));
    const TestProblem tp = packed_problem(dt, {37, 120, 1, 64, 29}, 5, 24, 21);
    expect_matches_reference(tp, make_config(Method::flat, 20));
  }
}

TEST(CpuFlat, CustomRangesIncludingEmpty) {
  TestProblem tp = random_problem(DType::bf16, 90, 140, 4, 16, 8);
  std::mt19937 rng(4);
  for (int64_t t = 0; t < tp.T; ++t) {
    int32_t a = static_cast<int32_t>(rng() % (tp.S + 1)), b = static_cast<int32_t>(rng() % (tp.S + 1));
    if (a > b) std::swap(a, b);
    if (t % 7 == 0) b = a;  // empty range
    tp.ks.push_back(a);
    tp.ke.push_back(b);
  }
  const Config cfg = make_config(Method::flat, 25);
  expect_matches_reference(tp, cfg);
  const std::vector<int32_t> out = run_select(tp, cfg);
  for (int64_t t = 0; t < tp.T; t += 7)
    for (int64_t i = 0; i < cfg.topk; ++i) EXPECT_EQ(out[t * cfg.topk + i], -1);
  // Never an index outside [ks, ke).
  for (int64_t t = 0; t < tp.T; ++t)
    for (int64_t i = 0; i < cfg.topk; ++i) {
      const int32_t s = out[t * cfg.topk + i];
      if (s >= 0) EXPECT_TRUE(s >= tp.ks[t] && s < tp.ke[t]);
    }
}

TEST(CpuFlat, FewerQueriesThanKeysAndEmptyKeySet) {
  expect_matches_reference(random_problem(DType::f32, 20, 300, 8, 64, 9),
                           make_config(Method::flat, 64));
  TestProblem empty = random_problem(DType::f32, 3, 0, 2, 8, 1);
  empty.ks = {0, 0, 0};
  empty.ke = {0, 0, 0};
  const std::vector<int32_t> out = run_select(empty, make_config(Method::flat, 4));
  for (int32_t v : out) EXPECT_EQ(v, -1);
}

TEST(CpuFlat, TokenScoreIsTheReferenceScore) {
  for (DType dt : {DType::f32, DType::bf16, DType::fp8_e4m3}) {
    const TestProblem tp = random_problem(dt, 30, 40, 5, 33, 2);
    const Reference ref(tp);
    const hisa::Problem p = tp.view();
    for (int64_t t = 0; t < tp.T; t += 3)
      for (int64_t s = 0; s < tp.S; s += 2) {
        const float got = hisa::cpu::token_score(p, t, s), want = ref.score(t, s);
        EXPECT_EQ(std::memcmp(&got, &want, 4), 0) << t << "," << s << ": " << got << " vs " << want;
      }
  }
}

TEST(CpuFlat, NonfiniteInputsWhenAllowedRankNaNLast) {
  TestProblem tp = random_problem(DType::f32, 60, 60, 4, 16, 13);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  float* q = reinterpret_cast<float*>(tp.q.data());
  float* k = reinterpret_cast<float*>(tp.k.data());
  q[(10 * tp.H + 1) * tp.D + 3] = nan;  // query 10: every score NaN
  k[7 * tp.D] = nan;                    // key 7: NaN for every query
  tp.w[20 * tp.H + 2] = inf;            // query 20: +inf, or NaN where relu(dot) == 0
  tp.k_scale[30] = -inf;
  const Config cfg = make_config(Method::flat, 12);
  EXPECT_THROW(run_select(tp, cfg), hisa::ArgumentError);
  expect_matches_reference(tp, cfg, /*allow_nonfinite=*/true);
  const std::vector<int32_t> out = run_select(tp, cfg, 2, true);
  // Query 10 ranks only NaN scores: ties, so the largest indices first.
  for (int64_t i = 0; i < cfg.topk; ++i) EXPECT_EQ(out[10 * cfg.topk + i], tp.S - tp.T + 10 - i);
  // Key 7 is never chosen ahead of a finite score (every visible row has >= 12 finite keys).
  for (int64_t t = 20; t < tp.T; ++t)
    for (int64_t i = 0; i < cfg.topk; ++i)
      if (t != 10 && t != 20) EXPECT_NE(out[t * cfg.topk + i], 7);
}

}  // namespace
}  // namespace hisa_test
