// CPU HISA and block-sparse selectors vs the brute-force reference (exact equality), and
// their structural properties (m >= nb is flat, block-sparse returns whole blocks).
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "cpu/kernel.hpp"
#include "cpu/keys.hpp"
#include "test_cpu_reference.hpp"

namespace hisa_test {
namespace {

void expect_matches_reference(const TestProblem& tp, const Config& cfg) {
  const std::vector<int32_t> got = run_select(tp, cfg);
  const std::vector<int32_t> want = Reference(tp).select(cfg);
  const int64_t at = first_difference(got, want);
  ASSERT_EQ(at, -1) << "method " << hisa::to_string(cfg.method) << " B=" << cfg.block_size
                    << " m=" << cfg.blocks << " dtype " << hisa::to_string(tp.dtype) << ": row "
                    << at / cfg.topk << " slot " << at % cfg.topk << " got " << got[at]
                    << " want " << want[at];
}

TEST(CpuHisa, MatchesReferenceEveryDtype) {
  for (DType dt : {DType::f32, DType::bf16, DType::fp8_e4m3}) {
    SCOPED_TRACE(hisa::to_string(dt));
    const TestProblem tp = random_problem(dt, 200, 200, 6, 32, 31);
    expect_matches_reference(tp, make_config(Method::hisa, 24, /*B=*/8, /*m=*/4));
    expect_matches_reference(tp, make_config(Method::hisa, 20, /*B=*/5, /*m=*/2));
    expect_matches_reference(tp, make_config(Method::hisa, 40, /*B=*/16, /*m=*/7));
  }
}

TEST(CpuHisa, StructuredInputs) {
  for (DType dt : {DType::bf16, DType::fp8_e4m3}) {
    SCOPED_TRACE(hisa::to_string(dt));
    const TestProblem tp = structured_problem(dt, 256, 256, 8, 32, 24, 38);
    expect_matches_reference(tp, make_config(Method::hisa, 32, 8, 5));
    expect_matches_reference(tp, make_config(Method::block, 32, 16));
  }
}

TEST(CpuHisa, UnscaledKeysAndPackedBatches) {
  expect_matches_reference(random_problem(DType::f32, 150, 180, 4, 24, 32, /*scale=*/false),
                           make_config(Method::hisa, 16, 6, 3));
  // Sequence starts 0, 53, 150, 151, 230: blocks align to each ks, not to 0.
  const TestProblem tp = packed_problem(DType::fp8_e4m3, {53, 97, 1, 79, 40}, 4, 16, 33);
  expect_matches_reference(tp, make_config(Method::hisa, 12, 8, 3));
  expect_matches_reference(tp, make_config(Method::block, 16, 8));
}

TEST(CpuHisa, BlockScoreTiesKeepLargerBlock) {
  // Blocks 2..11 all copies of one block: equal J, so the larger j wins the kept slots.
  TestProblem tp = random_problem(DType::bf16, 100, 100, 4, 16, 34);
  const int64_t B = 8;
  for (int64_t j = 3; j < 12; ++j)
    for (int64_t i = 0; i < B; ++i) duplicate_key(tp, 2 * B + i, j * B + i);
  expect_matches_reference(tp, make_config(Method::hisa, 16, B, 4));
  expect_matches_reference(tp, make_config(Method::block, 24, B));
}

TEST(CpuHisa, AllBlocksKeptIsFlat) {
  const TestProblem tp = random_problem(DType::fp8_e4m3, 120, 160, 5, 16, 35);
  const std::vector<int32_t> flat = run_select(tp, make_config(Method::flat, 30));
  // m >= nb for every row (nb <= ceil(160 / 8) = 20).
  EXPECT_EQ(run_select(tp, make_config(Method::hisa, 30, 8, 20)), flat);
  EXPECT_EQ(run_select(tp, make_config(Method::hisa, 30, 8, 1000)), flat);
  // n_t <= topk: flat even though nb > m (B = 2, m = 2 would keep only 4 tokens).
  const Config small_blocks = make_config(Method::hisa, 200, 2, 2);
  EXPECT_EQ(run_select(tp, small_blocks), run_select(tp, make_config(Method::flat, 200)));
}

TEST(CpuBlockSparse, MatchesReferenceAndReturnsWholeBlocks) {
  for (DType dt : {DType::f32, DType::bf16, DType::fp8_e4m3}) {
    SCOPED_TRACE(hisa::to_string(dt));
    const TestProblem tp = random_problem(dt, 190, 190, 6, 24, 36);
    const int64_t B = 8, topk = 32;
    const Config cfg = make_config(Method::block, topk, B);
    expect_matches_reference(tp, cfg);
    const std::vector<int32_t> out = run_select(tp, cfg);
    for (int64_t t = 0; t < tp.T; ++t) {
      const int64_t n = t + 1, nb = (n + B - 1) / B;
      std::set<int64_t> picked;
      for (int64_t i = 0; i < topk; ++i)
        if (out[t * topk + i] >= 0) picked.insert(out[t * topk + i]);
      if (n <= topk) {
        EXPECT_EQ(static_cast<int64_t>(picked.size()), n);
        continue;
      }
      // Every touched block is complete; block 0 and the local block are always there.
      std::set<int64_t> blocks;
      for (int64_t s : picked) blocks.insert(s / B);
      int64_t expected = 0;
      for (int64_t j : blocks) expected += std::min(n, (j + 1) * B) - j * B;
      EXPECT_EQ(static_cast<int64_t>(picked.size()), expected) << "row " << t;
      EXPECT_EQ(static_cast<int64_t>(blocks.size()), topk / B) << "row " << t;
      EXPECT_TRUE(blocks.count(0) && blocks.count(nb - 1)) << "row " << t;
    }
  }
}

// White box: the pooled keys and the panel block scores are bitwise the reference's (a
// selection test alone would rarely notice e.g. a reciprocal multiply instead of the division).
TEST(CpuHisa, PooledKeysAndBlockScoresAreBitwiseReference) {
  for (DType dt : {DType::f32, DType::bf16, DType::fp8_e4m3}) {
    for (bool with_scale : {true, false}) {
      SCOPED_TRACE(std::string(hisa::to_string(dt)) + (with_scale ? " scaled" : ""));
      const TestProblem tp = random_problem(dt, 4, 203, 5, 37, 37, with_scale);
      const hisa::Problem p = tp.view();
      const Reference ref(tp);
      const int64_t B = 7;
      hisa::cpu::PooledKeys pooled;
      for (int64_t ks : {0, 3, 17, 0}) {  // a new ks resets the cache; growing extends it
        const int64_t count = (tp.S - ks) / B;
        pooled.ensure(p, B, ks, count / 2);
        pooled.ensure(p, B, ks, count);
        ASSERT_EQ(pooled.count(), count);
        for (int64_t j = 0; j < count; ++j) {
          const std::vector<float> want = ref.pooled(ks, B, j);
          const float* panel = pooled.panel(j / hisa::cpu::kLanes);
          for (int64_t d = 0; d < tp.D; ++d) {
            const float got = panel[d * hisa::cpu::kLanes + j % hisa::cpu::kLanes];
            ASSERT_EQ(std::memcmp(&got, &want[d], 4), 0) << "ks " << ks << " j " << j << " d " << d;
          }
        }
        // Block scores of query t against every pooled key, through the panel kernel.
        for (int64_t t = 0; t < tp.T; ++t) {
          std::vector<float> q(tp.H * tp.D);
          std::vector<const float*> rows(tp.H);
          for (int64_t i = 0; i < tp.H * tp.D; ++i) q[i] = load(dt, tp.q, t * tp.H * tp.D + i);
          for (int64_t h = 0; h < tp.H; ++h) rows[h] = q.data() + h * tp.D;
          std::vector<float> dots(tp.H * hisa::cpu::kLanes);
          float scores[hisa::cpu::kLanes];
          for (int64_t j = 0; j < count; ++j) {
            if (j % hisa::cpu::kLanes == 0)
              hisa::cpu::panel_scores(rows.data(), &tp.w[t * tp.H], tp.H,
                                      pooled.panel(j / hisa::cpu::kLanes), tp.D, nullptr,
                                      dots.data(), scores);
            const float want = ref.head_sum(t, ref.all_heads(), ref.pooled(ks, B, j).data(), nullptr);
            const float got = scores[j % hisa::cpu::kLanes];
            ASSERT_EQ(std::memcmp(&got, &want, 4), 0) << "t " << t << " j " << j;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace hisa_test
