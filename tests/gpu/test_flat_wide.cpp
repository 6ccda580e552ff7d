// The one-CTA sm_90a flat scorers against the two-CTA one (flat_score_wgmma.cu): the wide scorer
// (flat_score_wide.cu) and the N = 128 one (flat_score_n128.cu) run the same products, the same
// head-sum order, the same quad sum and the same scale multiply, so their logits must be BITWISE
// equal (no tolerance; for n128 this also asserts that the tensor core sums an element the same
// way in an m64n128 and an m64n64 wgmma), and every column outside a row's [ks, ke) must keep
// its poison. The selection through flat_select with these scorers is compared with the CPU in
// test_flat.cpp (tolerance kTensorCoreRel, flat_test_support.hpp).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/flat_stages.hpp"
#include "flat_test_support.hpp"

namespace hisa::test {
namespace {

using cuda::FlatScorer;

bool wide_available(const Problem& p) {
  try {
    cuda::resolve_flat_scorer(p, FlatScorer::wgmma_wide);
    cuda::resolve_flat_scorer(p, FlatScorer::wgmma_n128);
    cuda::resolve_flat_scorer(p, FlatScorer::wgmma);
    return true;
  } catch (const BackendError&) {
    return false;
  }
}

constexpr FlatScorer kOneCtaScorers[] = {FlatScorer::wgmma_wide, FlatScorer::wgmma_n128};

// Logits of rows [t0, t0 + rows) by `scorer` into a poisoned [rows, ld] buffer.
std::vector<float> score_rows(const Problem& p, const int32_t* ks, const int32_t* ke, int64_t t0,
                              int64_t rows, FlatScorer scorer) {
  const int64_t ld = cuda::flat_logits_ld(p);
  DeviceArray<float> logits(rows * ld);
  logits.fill_bytes(0xFF);  // NaN poison: untouched columns stay 0xFFFFFFFF
  DeviceArray<uint8_t> scratch(cuda::flat_score_scratch_bytes(rows));
  cuda::flat_score_rows(p, ks, ke, t0, rows, logits.get(), ld, scratch.get(), scorer, nullptr);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  return logits.download();
}

// Bit patterns equal (a NaN score must be NaN in both).
void expect_bitwise_equal(const std::vector<float>& a, const std::vector<float>& b,
                          const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  int64_t bad = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    if (x != y && !(std::isnan(a[i]) && std::isnan(b[i]) && x != 0xFFFFFFFFu && y != 0xFFFFFFFFu)) {
      if (++bad <= 5)
        ADD_FAILURE() << what << ": element " << i << " one-CTA " << a[i] << " (0x" << std::hex << x
                      << ") vs wgmma " << b[i] << " (0x" << y << std::dec << ")";
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

// Ragged ranges: empty, negative starts, ends past S, single keys, full rows and spans longer
// than a work item's 4096 keys (several items per pair), with odd row counts.
std::vector<int32_t> ragged(int64_t T, int64_t S, uint64_t seed, std::vector<int32_t>& ke) {
  std::vector<int32_t> ks(T);
  ke.assign(T, 0);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 7;
  for (int64_t t = 0; t < T; ++t) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const int64_t r = static_cast<int64_t>(x >> 33);
    switch (t % 7) {
      case 0: ks[t] = 5; ke[t] = 5; break;                               // empty
      case 1: ks[t] = -30; ke[t] = static_cast<int32_t>(r % 300); break; // clamped start
      case 2: ks[t] = static_cast<int32_t>(r % S); ke[t] = static_cast<int32_t>(S + 100); break;
      case 3: ks[t] = static_cast<int32_t>(r % S); ke[t] = ks[t] + 1; break;  // one key
      case 4: ks[t] = 0; ke[t] = static_cast<int32_t>(S); break;
      default: {
        const int32_t a = static_cast<int32_t>(r % S), len = static_cast<int32_t>((r >> 7) % 6000);
        ks[t] = a;
        ke[t] = static_cast<int32_t>(std::min<int64_t>(S, a + len));
      }
    }
  }
  return ks;
}

TEST(CudaFlatWide, BitwiseEqualToWgmmaOnRaggedRanges) {
  SKIP_WITHOUT_GPU();
  const int64_t T = 301, S = 9000;
  const Workload wl = random_fp8(T, S, 64, 128, 41);
  DeviceProblem dev(wl);
  const Problem p = dev.problem();
  if (!wide_available(p)) GTEST_SKIP() << "no sm_90a device";
  std::vector<int32_t> ke;
  const std::vector<int32_t> ks = ragged(T, S, 3, ke);
  DeviceArray<int32_t> dks(ks), dke(ke);
  // The whole problem, then a chunk at an odd offset with an odd row count.
  for (const FlatScorer scorer : kOneCtaScorers)
  for (const auto& [t0, rows] : {std::pair<int64_t, int64_t>{0, T}, {37, 151}, {T - 1, 1}}) {
    const auto wide = score_rows(p, dks.get(), dke.get(), t0, rows, scorer);
    const auto ref = score_rows(p, dks.get(), dke.get(), t0, rows, FlatScorer::wgmma);
    expect_bitwise_equal(wide, ref, std::string(cuda::to_string(scorer)) + " t0=" +
                                        std::to_string(t0) + " rows=" + std::to_string(rows));
    // Written exactly inside the ranges: in-range finite, out-of-range still poison.
    const int64_t ld = cuda::flat_logits_ld(p);
    int64_t wrong = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t lo = std::clamp<int64_t>(ks[t0 + r], 0, S);
      const int64_t hi = std::clamp<int64_t>(ke[t0 + r], lo, S);
      for (int64_t s = 0; s < ld; ++s) {
        uint32_t bits;
        std::memcpy(&bits, &wide[r * ld + s], 4);
        const bool inside = s >= lo && s < hi;
        if (inside == (bits == 0xFFFFFFFFu) || (inside && !std::isfinite(wide[r * ld + s]))) ++wrong;
      }
    }
    EXPECT_EQ(wrong, 0) << "columns written outside [ks, ke) or not written inside";
  }
}

TEST(CudaFlatWide, BitwiseEqualWithoutScalesAndWithNaN) {
  SKIP_WITHOUT_GPU();
  Workload wl = random_fp8(64, 700, 64, 128, 43);
  wl.k_scale.clear();                          // no per-key scale
  wl.q[5 * 128 + 3] = 0x7F;                    // e4m3 NaN in query 0, head 5
  wl.k[200 * 128 + 9] = 0x7F;                  // and in key 200
  DeviceProblem dev(wl);
  const Problem p = dev.problem();
  if (!wide_available(p)) GTEST_SKIP() << "no sm_90a device";
  std::vector<int32_t> ks(64, 0), ke(64, 700);
  DeviceArray<int32_t> dks(ks), dke(ke);
  const auto ref = score_rows(p, dks.get(), dke.get(), 0, 64, FlatScorer::wgmma);
  for (const FlatScorer scorer : kOneCtaScorers) {
    const auto wide = score_rows(p, dks.get(), dke.get(), 0, 64, scorer);
    expect_bitwise_equal(wide, ref, std::string(cuda::to_string(scorer)) + " no k_scale, NaN inputs");
    EXPECT_TRUE(std::isnan(wide[0 * cuda::flat_logits_ld(p) + 10]));   // query 0: the NaN head
    EXPECT_TRUE(std::isnan(wide[3 * cuda::flat_logits_ld(p) + 200]));  // every query: key 200
  }
}

}  // namespace
}  // namespace hisa::test
