// CUDA HISA stage 1 on the TMA block scorer (hisa_blocks_tma.cu), one query per item and in
// query pairs (hisa_set_blocks_pair(1): two rows of one sequence per m64n128 wgmma): block
// scores to global memory, then select_kept writes the kept lists. Its block scores are
// bitwise the one-warpgroup stage-1 kernel's (same bf16 operands, same k16 steps per column,
// same epilogue order) and the selection is the same code (ties to the larger block, NaN
// lowest), so the idx rows must be IDENTICAL with hisa_set_tma_blocks(1) (either pairing) and
// (0), under both stage-2 paths (two-pass and one-pass) and both orders. The TMA rows (both
// pairings) are also re-checked against the CPU on sampled rows with the tensor-core tolerance
// of SPEC.md "Tolerances of tensor-core paths" (membership and order up to 1e-3 max|I|, kept
// blocks up to 2e-3 max|J|: check_row in hisa_gpu_check.hpp). Skipped without a GPU; off
// sm_90 every setting takes the portable kernels and still agrees.
#include <gtest/gtest.h>

#include <iostream>

#include "hisa_gpu_check.hpp"

namespace {

using namespace hisa_gpu_test;

#define SKIP_WITHOUT_GPU() \
  if (hisa::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device"

struct HookGuard {
  ~HookGuard() {
    hisa::cuda::hisa_set_tma_blocks(-1);
    hisa::cuda::hisa_set_blocks_pair(-1);
    hisa::cuda::hisa_set_two_pass(-1);
  }
};

void expect_tma_blocks_match(const hisa::Problem& h, Config cfg, const std::string& what,
                             int64_t nsample = 0) {
  HookGuard guard;
  DeviceProblem dp(h);
  for (const int two_pass : {-1, 0}) {
    hisa::cuda::hisa_set_two_pass(two_pass);
    for (const hisa::Order order : {hisa::Order::score, hisa::Order::index}) {
      cfg.order = order;
      const std::string tag = what + (two_pass == 0 ? " one-pass stage 2" : "") +
                              (order == hisa::Order::index ? " (index order)" : "");
      hisa::cuda::hisa_set_tma_blocks(0);
      const GpuRun old_rows = run_direct(dp, cfg, /*portable=*/false);
      hisa::cuda::hisa_set_tma_blocks(1);
      hisa::cuda::hisa_set_blocks_pair(0);
      const GpuRun tma_rows = run_direct(dp, cfg, /*portable=*/false);
      hisa::cuda::hisa_set_blocks_pair(1);
      const GpuRun pair_rows = run_direct(dp, cfg, /*portable=*/false);
      EXPECT_EQ(old_rows.unwritten, 0) << tag;
      EXPECT_EQ(tma_rows.unwritten, 0) << tag;
      EXPECT_EQ(pair_rows.unwritten, 0) << tag << " (query pairs)";
      const RowDiff d = differing_rows(old_rows, tma_rows, h.T, cfg.topk);
      EXPECT_EQ(d.count, 0) << tag << ": first differing row " << d.first;
      const RowDiff dp2 = differing_rows(old_rows, pair_rows, h.T, cfg.topk);
      EXPECT_EQ(dp2.count, 0) << tag << " (query pairs): first differing row " << dp2.first;
      if (nsample > 0 && order == hisa::Order::score && two_pass == -1) {
        const TolStats st = check_sampled_rows(h, cfg, tma_rows.idx, nsample);
        std::cout << "[hisa tma blocks] " << tag << ": " << st.summary() << "\n";
        EXPECT_EQ(st.violations, 0) << tag << ": " << st.summary();
        const TolStats sp = check_sampled_rows(h, cfg, pair_rows.idx, nsample);
        std::cout << "[hisa tma blocks] " << tag << " (query pairs): " << sp.summary() << "\n";
        EXPECT_EQ(sp.violations, 0) << tag << " (query pairs): " << sp.summary();
      }
    }
  }
}

TEST(CudaHisaTmaBlocks, DsaConfigM64AndM256) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = dsa_gaussian(20000, 20000, 501, DType::fp8_e4m3);
  expect_tma_blocks_match(w.problem(), hisa_cfg(2048, 64, 64), "gaussian fp8 T=S=20000 m=64", 32);
  expect_tma_blocks_match(w.problem(), hisa_cfg(2048, 64, 256), "gaussian fp8 T=S=20000 m=256");
}

TEST(CudaHisaTmaBlocks, StructuredBf16AndBlockSizes) {
  SKIP_WITHOUT_GPU();
  hisa::StructuredSpec spec;
  spec.T = spec.S = 8192;
  const hisa::Workload s = hisa::quantize_fp8(hisa::make_structured(spec));
  expect_tma_blocks_match(s.problem(), hisa_cfg(2048, 64, 96), "structured fp8 m=96", 32);
  const hisa::Workload b = dsa_gaussian(6000, 6000, 511, DType::bf16);
  expect_tma_blocks_match(b.problem(), hisa_cfg(256, 64, 40), "gaussian bf16 k=256 m=40", 32);
  const hisa::Workload f = dsa_gaussian(9001, 9001, 512, DType::fp8_e4m3);
  expect_tma_blocks_match(f.problem(), hisa_cfg(2048, 128, 48), "gaussian fp8 B=128 m=48", 32);
  expect_tma_blocks_match(f.problem(), hisa_cfg(2048, 96, 40), "gaussian fp8 B=96 m=40", 16);
  expect_tma_blocks_match(f.problem(), hisa_cfg(512, 16, 3), "gaussian fp8 B=16 m=3 (one middle block)", 16);
}

// Long rows: ~4700 blocks per row (many pipeline stages per row; over 4096 blocks the radix
// top-k selects the kept lists).
TEST(CudaHisaTmaBlocks, LongRows) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = dsa_gaussian(300, 300000, 521, DType::fp8_e4m3);
  expect_tma_blocks_match(w.problem(), hisa_cfg(2048, 64, 64), "gaussian fp8 T=300 S=300000", 8);
}

// Rows of more than 4096 blocks select their kept lists with the radix top-k (index order)
// instead of select_kept: ties (every block the same) and NaN scores on such rows, B = 16.
TEST(CudaHisaTmaBlocks, LongRowsTiesAndNaN) {
  SKIP_WITHOUT_GPU();
  expect_tma_blocks_match(tied_blocks_fp8(96, 80000, 525).problem(), hisa_cfg(1024, 16, 80),
                          "tied blocks fp8 S=80000 B=16 m=80 k=1024 (5000 blocks)");
  // (no CPU sample: the CPU reference rejects NaN k_scale unless allow_nonfinite is set)
  expect_tma_blocks_match(nan_scales_fp8(96, 80000, 526).problem(), hisa_cfg(2048, 16, 200),
                          "NaN k_scale fp8 S=80000 B=16 m=200 (5000 blocks)");
}

// Exact score ties everywhere (every block holds the same keys) and NaN scores.
TEST(CudaHisaTmaBlocks, TiesAndNaN) {
  SKIP_WITHOUT_GPU();
  expect_tma_blocks_match(tied_blocks_fp8(6000, 6000, 531).problem(), hisa_cfg(2048, 64, 80),
                          "tied blocks fp8 m=80");
  expect_tma_blocks_match(nan_scales_fp8(6000, 6000, 532).problem(), hisa_cfg(2048, 64, 80),
                          "NaN k_scale fp8 m=80");
}

// Packed sequences (ks not a multiple of B: several residues of the pooled table) and
// block-sparse (the same stage 1 with m = topk / B).
TEST(CudaHisaTmaBlocks, PackedBatchAndBlockSparse) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload packed = packed_dsa_gaussian({2500, 9000, 3100}, 541, DType::fp8_e4m3);
  expect_tma_blocks_match(packed.problem(), hisa_cfg(2048, 64, 64), "packed fp8 m=64", 32);
  Config block = hisa_cfg(2048, 64, 32);
  block.method = hisa::Method::block;
  expect_tma_blocks_match(packed.problem(), block, "packed fp8 block-sparse");
}

// Small enough for compute-sanitizer.
TEST(CudaHisaTmaBlocks, SmallRunForSanitizer) {
  SKIP_WITHOUT_GPU();
  const Fp8Problem p = make_fp8_random(256, 12000, 551);
  expect_tma_blocks_match(p.view(), hisa_cfg(2048, 64, 64), "sanitizer-sized TMA stage 1 run");
  const Fp8Problem l = make_fp8_random(32, 70000, 552);  // 4375 blocks: the radix top-k selects
  expect_tma_blocks_match(l.view(), hisa_cfg(2048, 16, 64), "sanitizer-sized long rows B=16");
}

}  // namespace
