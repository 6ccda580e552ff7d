// The CPU backend's result does not depend on the thread count (Options never change results).
#include <gtest/gtest.h>

#include "test_cpu_reference.hpp"

namespace hisa_test {
namespace {

TEST(CpuThreads, SameResultForAnyThreadCount) {
  const TestProblem causal = random_problem(DType::fp8_e4m3, 260, 300, 8, 32, 51);
  const TestProblem packed = packed_problem(DType::bf16, {90, 17, 150, 3}, 6, 24, 52);
  const Config configs[] = {
      make_config(Method::flat, 40),
      make_config(Method::hisa, 32, 8, 3),
      make_config(Method::block, 32, 8),
      make_config(Method::misa, 24, 16, 0, 3, 1),
      make_config(Method::misa, 24, 16, 0, 2, 2),
  };
  for (const TestProblem* tp : {&causal, &packed})
    for (const Config& cfg : configs) {
      SCOPED_TRACE(hisa::to_string(cfg.method));
      const std::vector<int32_t> one = run_select(*tp, cfg, 1);
      EXPECT_EQ(run_select(*tp, cfg, 2), one);
      EXPECT_EQ(run_select(*tp, cfg, 3), one);
      EXPECT_EQ(run_select(*tp, cfg, 0), one);
      EXPECT_EQ(run_select(*tp, cfg, 64), one);  // more threads than tiles
    }
}

}  // namespace
}  // namespace hisa_test
