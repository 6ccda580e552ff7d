// CPU MISA (plain and hierarchical) vs the brute-force reference (exact equality), and the
// properties a = H -> flat, c*topk >= n_t -> flat, no full block -> all heads.
#include <gtest/gtest.h>

#include <cmath>

#include "test_cpu_reference.hpp"

namespace hisa_test {
namespace {

void expect_matches_reference(const TestProblem& tp, const Config& cfg) {
  const std::vector<int32_t> got = run_select(tp, cfg);
  const std::vector<int32_t> want = Reference(tp).select(cfg);
  const int64_t at = first_difference(got, want);
  ASSERT_EQ(at, -1) << "misa a=" << cfg.heads << " c=" << cfg.candidates << " B="
                    << cfg.block_size << " dtype " << hisa::to_string(tp.dtype) << ": row "
                    << at / cfg.topk << " slot " << at % cfg.topk << " got " << got[at]
                    << " want " << want[at];
}

TEST(CpuMisa, PlainMatchesReferenceEveryDtype) {
  for (DType dt : {DType::f32, DType::bf16, DType::fp8_e4m3}) {
    SCOPED_TRACE(hisa::to_string(dt));
    const TestProblem tp = random_problem(dt, 180, 180, 8, 32, 41);
    for (int64_t a : {1, 3, 7})
      expect_matches_reference(tp, make_config(Method::misa, 20, /*B=*/8, 0, a, /*c=*/1));
  }
}

TEST(CpuMisa, HierarchicalMatchesReference) {
  for (DType dt : {DType::f32, DType::fp8_e4m3}) {
    SCOPED_TRACE(hisa::to_string(dt));
    const TestProblem tp = random_problem(dt, 160, 200, 6, 24, 42);
    expect_matches_reference(tp, make_config(Method::misa, 16, 16, 0, 2, /*c=*/2));
    expect_matches_reference(tp, make_config(Method::misa, 10, 5, 0, 1, /*c=*/4));
  }
  expect_matches_reference(packed_problem(DType::bf16, {70, 3, 101, 44}, 6, 16, 43),
                           make_config(Method::misa, 12, 8, 0, 2, 3));
  expect_matches_reference(random_problem(DType::f32, 100, 100, 4, 20, 44, /*scale=*/false),
                           make_config(Method::misa, 9, 4, 0, 2, 2));
}

TEST(CpuMisa, StructuredInputs) {
  const TestProblem tp = structured_problem(DType::fp8_e4m3, 256, 256, 8, 32, 24, 48);
  expect_matches_reference(tp, make_config(Method::misa, 24, 8, 0, 2, 1));
  expect_matches_reference(tp, make_config(Method::misa, 24, 8, 0, 3, 2));
}

TEST(CpuMisa, RouterTiesKeepLargerHead) {
  // Heads 1, 2 and 5 are copies with equal |w|: equal router statistics, larger h first.
  TestProblem tp = random_problem(DType::f32, 120, 120, 6, 16, 45);
  float* q = reinterpret_cast<float*>(tp.q.data());
  for (int64_t t = 0; t < tp.T; ++t) {
    for (int64_t h : {2, 5})
      for (int64_t d = 0; d < tp.D; ++d) q[(t * tp.H + h) * tp.D + d] = q[(t * tp.H + 1) * tp.D + d];
    tp.w[t * tp.H + 2] = -tp.w[t * tp.H + 1];  // same |w|, other sign
    tp.w[t * tp.H + 5] = tp.w[t * tp.H + 1];
  }
  for (int64_t a : {1, 2, 3}) expect_matches_reference(tp, make_config(Method::misa, 15, 8, 0, a));
}

TEST(CpuMisa, AllHeadsOrAllCandidatesIsFlat) {
  const TestProblem tp = random_problem(DType::fp8_e4m3, 140, 140, 6, 24, 46);
  const std::vector<int32_t> flat = run_select(tp, make_config(Method::flat, 20));
  EXPECT_EQ(run_select(tp, make_config(Method::misa, 20, 8, 0, /*a=*/6, 1)), flat);
  EXPECT_EQ(run_select(tp, make_config(Method::misa, 20, 8, 0, /*a=*/6, 3)), flat);
  // c * topk >= n_t for every row (n_t <= 140 = 7 * 20).
  EXPECT_EQ(run_select(tp, make_config(Method::misa, 20, 8, 0, 1, /*c=*/7)), flat);
  // No full block before the local one (n_t <= B): A = all heads, so flat.
  EXPECT_EQ(run_select(tp, make_config(Method::misa, 20, 256, 0, 1, 1)), flat);
}

TEST(CpuMisa, PlainMisaOutputIsRankedByFullScore) {
  const TestProblem tp = random_problem(DType::f32, 90, 90, 6, 16, 47);
  const Config cfg = make_config(Method::misa, 14, 8, 0, 2);
  const std::vector<int32_t> out = run_select(tp, cfg);
  const Reference ref(tp);
  for (int64_t t = 0; t < tp.T; ++t)
    for (int64_t i = 0; i + 1 < cfg.topk; ++i) {
      const int32_t a = out[t * cfg.topk + i], b = out[t * cfg.topk + i + 1];
      if (b < 0) break;
      EXPECT_TRUE(ref_before(ref.score(t, a), a, ref.score(t, b), b)) << t << " " << i;
    }
}

}  // namespace
}  // namespace hisa_test
