// CUDA HISA / block-sparse, tensor-core kernels (hisa_sm90.cu; sm_90a, H=64, D=128, FP8/bf16).
// Their sums run in the tensor cores' order and stage 1 uses bf16 pooled keys, so rows are
// compared with the CPU backend up to score ties (hisa_gpu_check.hpp check_row): a differing
// token must tie the k-th score within tol_I, or come from (or miss) a block whose J ties the
// kept threshold within tol_J. Every test also checks the row structure on ALL rows and that no
// output entry was left unwritten. Skipped without a GPU; on a non-sm_90 GPU these runs take
// the portable kernels (then rows are identical and the checks still hold).
#include <gtest/gtest.h>

#include <iostream>

#include "hisa_gpu_check.hpp"

namespace {

using namespace hisa_gpu_test;

#define SKIP_WITHOUT_GPU() \
  if (hisa::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device"

int64_t expected_count(const hisa::Problem& h, int64_t t, const Config& cfg) {
  const int64_t B = cfg.block_size, topk = cfg.topk;
  const int64_t m = cfg.method == Method::block ? topk / B : cfg.blocks;
  const hisa::Range r = hisa::range_of(h, t);
  const int64_t n = r.n(), nb = (n + B - 1) / B;
  const int64_t cand = (nb <= m || n <= topk) ? n : (m - 1) * B + (n - (nb - 1) * B);
  return std::min(cand, topk);
}

// Structure of every row: the expected count of distinct in-range entries, then -1.
void expect_structure(const hisa::Problem& h, const Config& cfg, const GpuRun& g) {
  EXPECT_EQ(g.unwritten, 0);
  int64_t bad = 0, first = -1;
  for (int64_t t = 0; t < h.T; ++t) {
    const hisa::Range r = hisa::range_of(h, t);
    const int32_t* row = g.idx.data() + t * cfg.topk;
    const int64_t want = expected_count(h, t, cfg);
    std::set<int32_t> seen;
    bool ok = true;
    for (int64_t i = 0; i < cfg.topk; ++i) {
      if (i < want) ok = ok && row[i] >= r.ks && row[i] < r.ke && seen.insert(row[i]).second;
      else ok = ok && row[i] == -1;
    }
    if (!ok && bad++ == 0) first = t;
  }
  EXPECT_EQ(bad, 0) << "first malformed row " << first;
}

void run_and_compare(const hisa::Problem& h, const Config& cfg, int64_t nsample,
                     const std::string& what) {
  DeviceProblem dp(h);
  const GpuRun g = run_direct(dp, cfg, /*portable=*/false);
  expect_structure(h, cfg, g);
  const TolStats st = check_sampled_rows(h, cfg, g.idx, nsample);
  std::cout << "[hisa fast] " << what << ": " << st.summary() << "\n";
  EXPECT_EQ(st.violations, 0) << what << ": " << st.summary();
}

TEST(CudaHisaFast, Fp8AndBf16WithinTolerance) {
  SKIP_WITHOUT_GPU();
  for (DType dt : {DType::fp8_e4m3, DType::bf16}) {
    const hisa::Workload w = dsa_gaussian(3000, 3000, 101 + static_cast<int>(dt), dt);
    run_and_compare(w.problem(), hisa_cfg(256, 64, 8), 400,
                    std::string("gaussian T=S=3000 B=64 m=8 k=256 ") + hisa::to_string(dt));
  }
}

TEST(CudaHisaFast, DsaConfigWithinTolerance) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = dsa_gaussian(6000, 6000, 111, DType::fp8_e4m3);
  run_and_compare(w.problem(), hisa_cfg(2048, 64, 64), 96,
                  "gaussian fp8 T=S=6000 B=64 m=64 k=2048");
}

TEST(CudaHisaFast, PackedBatch) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload packed = packed_dsa_gaussian({2500, 5000, 3100}, 121, DType::fp8_e4m3);
  run_and_compare(packed.problem(), hisa_cfg(2048, 64, 64), 96, "packed fp8 2500+5000+3100");
  run_and_compare(packed.problem(), hisa_cfg(512, 64, 16), 96, "packed fp8 B=64 m=16 k=512");
  // Sequences starting at rows 0, 2501, 7503 and 10606 (every offset mod 4): the default
  // stage-2a kernel loads k_scale by TMA from the aligned row below each tile (an unaligned
  // start stopped the kernel with an illegal instruction until 2b9d681).
  const hisa::Workload packed_odd =
      packed_dsa_gaussian({2501, 5002, 3103, 999}, 124, DType::fp8_e4m3);
  run_and_compare(packed_odd.problem(), hisa_cfg(2048, 64, 64), 96,
                  "packed fp8 2501+5002+3103+999");
}

TEST(CudaHisaFast, Structured) {
  SKIP_WITHOUT_GPU();
  hisa::StructuredSpec spec;
  spec.T = spec.S = 8192;
  const hisa::Workload w = hisa::quantize_fp8(hisa::make_structured(spec));
  run_and_compare(w.problem(), hisa_cfg(2048, 64, 64), 96, "structured fp8 T=S=8192");
}

TEST(CudaHisaFast, BigCausal32K) {
  SKIP_WITHOUT_GPU();
  const Fp8Problem p = make_fp8_random(32768, 32768, 131);
  run_and_compare(p.view(), hisa_cfg(2048, 64, 64), 48, "random fp8 T=S=32768 DSA");
}

TEST(CudaHisaFast, BlockSparseWholeBlocks) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = dsa_gaussian(6000, 6000, 141, DType::fp8_e4m3);
  const hisa::Problem h = w.problem();
  Config cfg;
  cfg.method = Method::block;
  cfg.topk = 2048;
  cfg.block_size = 64;
  DeviceProblem dp(h);
  const GpuRun g = run_direct(dp, cfg, false);
  expect_structure(h, cfg, g);
  for (int64_t t = 0; t < h.T; ++t) {
    const hisa::Range r = hisa::range_of(h, t);
    std::set<int32_t> got;
    for (int64_t i = 0; i < cfg.topk; ++i)
      if (g.idx[t * cfg.topk + i] >= 0) got.insert(g.idx[t * cfg.topk + i]);
    for (int32_t s : got) {
      const int64_t j = (s - r.ks) / 64;
      for (int64_t u = r.ks + j * 64; u < std::min<int64_t>(r.ke, r.ks + (j + 1) * 64); ++u)
        ASSERT_TRUE(got.count(static_cast<int32_t>(u))) << "row " << t << " block " << j;
    }
  }
  const TolStats st = check_sampled_rows(h, cfg, g.idx, 96);
  std::cout << "[hisa fast] block-sparse fp8 T=S=6000: " << st.summary() << "\n";
  EXPECT_EQ(st.violations, 0) << st.summary();
}

TEST(CudaHisaFast, ManyBlocksEqualsFlat) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = dsa_gaussian(3000, 3000, 151, DType::fp8_e4m3);
  const hisa::Problem h = w.problem();
  const Config cfg = hisa_cfg(1024, 64, 64);  // nb <= 47 < m: every block kept
  Config flat;
  flat.method = Method::flat;
  flat.topk = 1024;
  DeviceProblem dp(h);
  const GpuRun g = run_direct(dp, cfg, false);
  expect_structure(h, cfg, g);
  const TolStats st = check_sampled_rows(h, cfg, g.idx, 120, &flat);
  std::cout << "[hisa fast] m >= nb vs flat: " << st.summary() << "\n";
  EXPECT_EQ(st.violations, 0) << st.summary();
}

TEST(CudaHisaFast, RepeatedRunsAreIdentical) {
  SKIP_WITHOUT_GPU();
  const Fp8Problem p = make_fp8_random(5000, 5000, 161);
  DeviceProblem dp(p.view());
  const GpuRun a = run_direct(dp, hisa_cfg(2048, 64, 64), false);
  const GpuRun b = run_direct(dp, hisa_cfg(2048, 64, 64), false);
  EXPECT_EQ(a.idx, b.idx);  // no race: same input, same rows
}

// Small enough for compute-sanitizer (256 CTAs per stage) yet on every sm_90a code path of the
// DSA config: stage 1, stage 2 with full 64-key tiles and a partial one, the register sort.
TEST(CudaHisaFast, SmallDsaRunForSanitizer) {
  SKIP_WITHOUT_GPU();
  const Fp8Problem p = make_fp8_random(256, 4500, 171);
  DeviceProblem dp(p.view());
  const Config cfg = hisa_cfg(2048, 64, 64);
  const GpuRun a = run_direct(dp, cfg, false);
  const GpuRun b = run_direct(dp, cfg, false);
  EXPECT_EQ(a.idx, b.idx);
  expect_structure(p.view(), cfg, a);
  const TolStats st = check_sampled_rows(p.view(), cfg, a.idx, 32);
  std::cout << "[hisa fast] sanitizer-sized DSA run: " << st.summary() << "\n";
  EXPECT_EQ(st.violations, 0) << st.summary();
}

}  // namespace
