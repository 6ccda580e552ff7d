// The CPU backend's bulk decoders and gathered panels are bitwise the scalar decoders.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "cpu/keys.hpp"
#include "cpu/score.hpp"
#include "test_cpu_reference.hpp"

namespace hisa_test {
namespace {

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

TEST(CpuDecode, BulkDecodeEqualsScalarDecodersForEveryCode) {
  std::vector<uint8_t> codes(256 * 3);
  for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<uint8_t>(i * 7 + i / 256);
  std::vector<uint16_t> halves(65536);
  for (std::size_t i = 0; i < halves.size(); ++i) halves[i] = static_cast<uint16_t>(i);
  for (int64_t first : {0, 1, 5}) {  // unaligned starts and lengths exercise the scalar tails
    const int64_t n = static_cast<int64_t>(codes.size()) - first - 3;
    std::vector<float> out(n);
    hisa::cpu::decode_run(DType::fp8_e4m3, codes.data(), first, n, out.data());
    for (int64_t i = 0; i < n; ++i)
      ASSERT_TRUE(same_bits(out[i], hisa::fp8_e4m3_to_float(codes[first + i])))
          << "code " << int(codes[first + i]);
    std::vector<float> wide(halves.size() - first);
    hisa::cpu::decode_run(DType::bf16, halves.data(), first, wide.size(), wide.data());
    for (std::size_t i = 0; i < wide.size(); ++i)
      ASSERT_TRUE(same_bits(wide[i], hisa::bf16_to_float(halves[first + i])));
  }
}

TEST(CpuDecode, GatheredPanelHoldsTheKeysTransposed) {
  for (int64_t D : {1, 7, 8, 19, 64}) {
    const TestProblem tp = random_problem(DType::fp8_e4m3, 1, 50, 1, D, 71);
    const hisa::Problem p = tp.view();
    const std::vector<int32_t> idx = {49, 3, 3, 17, 0, 22, 31, 8, 9, 40, 41, 42, 5};
    std::vector<float> panel(D * hisa::cpu::kLanes, 99.0f), scale(hisa::cpu::kLanes, 99.0f);
    std::vector<float> rows(D * hisa::cpu::kLanes);
    hisa::cpu::gather_panel(p, idx.data(), idx.size(), panel.data(), scale.data(), rows.data());
    for (int64_t l = 0; l < hisa::cpu::kLanes; ++l) {
      const bool used = l < static_cast<int64_t>(idx.size());
      EXPECT_EQ(scale[l], used ? tp.k_scale[idx[l]] : 0.0f);
      for (int64_t d = 0; d < D; ++d)
        ASSERT_TRUE(same_bits(panel[d * hisa::cpu::kLanes + l],
                              used ? load(DType::fp8_e4m3, tp.k, idx[l] * D + d) : 0.0f))
            << "D " << D << " lane " << l << " d " << d;
    }
  }
}

}  // namespace
}  // namespace hisa_test
