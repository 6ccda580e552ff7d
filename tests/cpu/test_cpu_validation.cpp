// hisa::select (the dispatcher) rejects bad configs, ranges and non-finite values with an
// ArgumentError naming the argument; non-finite values pass with allow_nonfinite.
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "test_cpu_reference.hpp"

namespace hisa_test {
namespace {

// Runs select and returns the argument named by the ArgumentError ("" if none was thrown).
std::string rejected_argument(const TestProblem& tp, const Config& cfg,
                              const hisa::Options& opts = {}) {
  std::vector<int32_t> out(std::max<int64_t>(1, tp.T * std::max<int64_t>(cfg.topk, 1)));
  try {
    hisa::select(tp.view(), cfg, out.data(), opts);
  } catch (const hisa::ArgumentError& e) {
    return e.argument();
  }
  return "";
}

TEST(CpuValidation, BadConfigsNameTheArgument) {
  const TestProblem tp = random_problem(DType::f32, 40, 40, 4, 8, 61);
  EXPECT_EQ(rejected_argument(tp, make_config(Method::flat, 0)), "topk");
  EXPECT_EQ(rejected_argument(tp, make_config(Method::flat, -3)), "topk");
  EXPECT_EQ(rejected_argument(tp, make_config(Method::hisa, 8, 0, 4)), "block_size");
  EXPECT_EQ(rejected_argument(tp, make_config(Method::hisa, 8, -8, 4)), "block_size");
  EXPECT_EQ(rejected_argument(tp, make_config(Method::misa, 8, 0, 4, 2)), "block_size");
  EXPECT_EQ(rejected_argument(tp, make_config(Method::hisa, 8, 4, 1)), "blocks");
  EXPECT_EQ(rejected_argument(tp, make_config(Method::misa, 8, 4, 0, 0)), "heads");
  EXPECT_EQ(rejected_argument(tp, make_config(Method::misa, 8, 4, 0, 5)), "heads");
  EXPECT_EQ(rejected_argument(tp, make_config(Method::misa, 8, 4, 0, 2, 0)), "candidates");
  EXPECT_EQ(rejected_argument(tp, make_config(Method::block, 12, 8)), "topk");  // 12 % 8 != 0
  EXPECT_EQ(rejected_argument(tp, make_config(Method::block, 8, 0)), "block_size");
  // The valid neighbours pass.
  EXPECT_EQ(rejected_argument(tp, make_config(Method::misa, 8, 4, 0, 4, 1)), "");
  EXPECT_EQ(rejected_argument(tp, make_config(Method::block, 16, 8)), "");
  EXPECT_EQ(rejected_argument(tp, make_config(Method::hisa, 8, 4, 2)), "");
}

TEST(CpuValidation, BadRangesNameTheArgument) {
  TestProblem tp = random_problem(DType::f32, 4, 10, 2, 8, 62);
  const Config cfg = make_config(Method::flat, 3);
  tp.ks = {0, 2, 5, 0};
  tp.ke = {1, 2, 10, 10};
  EXPECT_EQ(rejected_argument(tp, cfg), "");
  tp.ks[2] = 6, tp.ke[2] = 5;  // ks > ke
  EXPECT_EQ(rejected_argument(tp, cfg), "ks");
  tp.ks[2] = 5, tp.ke[2] = 11;  // ke > S
  EXPECT_EQ(rejected_argument(tp, cfg), "ke");
  tp.ks[2] = -1, tp.ke[2] = 5;  // negative ks
  EXPECT_EQ(rejected_argument(tp, cfg), "ks");
  tp.ks[2] = 5;
  tp.ke.clear();  // ks without ke: the missing one is named
  EXPECT_EQ(rejected_argument(tp, cfg), "ke");
}

TEST(CpuValidation, NonfiniteRejectedByDefaultAcceptedWhenAllowed) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const Config cfg = make_config(Method::hisa, 4, 4, 2);
  hisa::Options allow;
  allow.allow_nonfinite = true;
  for (DType dt : {DType::f32, DType::bf16, DType::fp8_e4m3}) {
    SCOPED_TRACE(hisa::to_string(dt));
    const TestProblem base = random_problem(dt, 20, 24, 2, 8, 63);
    for (const char* arg : {"q", "k", "w", "k_scale"}) {
      for (float bad : {nan, inf}) {
        TestProblem tp = base;
        const std::string a = arg;
        const float bad_qk = dt == DType::fp8_e4m3 ? nan : bad;  // FP8 has no Inf (saturates)
        if (a == "q") store(dt, tp.q, 37, bad_qk);
        if (a == "k") store(dt, tp.k, 11, bad_qk);
        if (a == "w") tp.w[5] = bad;
        if (a == "k_scale") tp.k_scale[3] = bad;
        EXPECT_EQ(rejected_argument(tp, cfg), a);
        EXPECT_EQ(rejected_argument(tp, cfg, allow), "");
        // Same answer as the reference (NaN scores ranked last).
        EXPECT_EQ(run_select(tp, cfg, 2, true), Reference(tp).select(cfg));
      }
    }
  }
}

TEST(CpuValidation, NullOutputAndCudaMemoryOnCpu) {
  const TestProblem tp = random_problem(DType::f32, 5, 5, 2, 8, 64);
  EXPECT_THROW(hisa::select(tp.view(), make_config(Method::flat, 2), nullptr), hisa::ArgumentError);
  hisa::Problem p = tp.view();
  p.memory = hisa::Device::cuda;
  std::vector<int32_t> out(10);
  try {
    hisa::select(p, make_config(Method::flat, 2), out.data());
    ADD_FAILURE() << "no error";
  } catch (const hisa::ArgumentError& e) {
    EXPECT_EQ(e.argument(), "device");
  }
}

}  // namespace
}  // namespace hisa_test
