// CUDA HISA filtered stage 2a (hisa_tokens_filter.cu, hisa_set_tokens_filter(1)) with pair rows
// for stage 2b (topk_short.cu's pair kernel). Stage 2a scores the set A (first, own and the
// a_blocks - 2 best middle blocks by J, ~2 * topk tokens, marked by stage 1b's finish_blocks)
// first, bounds A's k-th score from below by a histogram (tau) and stores the other candidates only
// when >= tau, as (score, position) pairs in no order; stage 2b places the pairs by position and
// selects them by (score, position), and rewrites a row it refuses by position for the radix
// retry pass. Every score is the TMA kernel's (same products, same epilogue, bitwise) and the
// dropped scores are below the row's k-th, so the idx rows must be IDENTICAL to the unfiltered
// two-pass rows (exact equality, no tolerance), and the filtered rows are re-checked against
// the CPU on sampled rows with SPEC.md's tensor-core tolerance ("Tolerances of tensor-core
// paths", check_row in hisa_gpu_check.hpp). Skipped without a GPU; off sm_90 the hook changes
// nothing (the portable kernels run) and both runs still agree.
#include <gtest/gtest.h>

#include <iostream>
#include <vector>

#include "cuda/topk_radix.cuh"
#include "hisa_gpu_check.hpp"

namespace {

using namespace hisa_gpu_test;

#define SKIP_WITHOUT_GPU() \
  if (hisa::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device"

struct FilterGuard {
  ~FilterGuard() {
    hisa::cuda::hisa_set_tokens_filter(-1);
    hisa::cuda::radix_topk_set_bucket64(-1);
  }
};

// Filtered vs unfiltered two-pass rows in score order (and index order, which the filter leaves
// to the TMA kernel); CPU check of `nsample` filtered rows.
void expect_filter_matches(const hisa::Problem& h, Config cfg, const std::string& what,
                           int64_t nsample = 0) {
  FilterGuard guard;
  DeviceProblem dp(h);
  for (const hisa::Order order : {hisa::Order::score, hisa::Order::index}) {
    cfg.order = order;
    const std::string tag = what + (order == hisa::Order::index ? " (index order)" : "");
    hisa::cuda::hisa_set_tokens_filter(0);
    const GpuRun plain = run_direct(dp, cfg, /*portable=*/false);
    hisa::cuda::hisa_set_tokens_filter(1);
    const GpuRun filtered = run_direct(dp, cfg, /*portable=*/false);
    EXPECT_EQ(plain.unwritten, 0) << tag;
    EXPECT_EQ(filtered.unwritten, 0) << tag;
    const RowDiff d = differing_rows(filtered, plain, h.T, cfg.topk);
    EXPECT_EQ(d.count, 0) << tag << " (filtered vs unfiltered stage 2a): first differing row "
                          << d.first;
    if (nsample > 0 && order == hisa::Order::score) {
      const TolStats st = check_sampled_rows(h, cfg, filtered.idx, nsample);
      std::cout << "[hisa filter] " << tag << ": " << st.summary() << "\n";
      EXPECT_EQ(st.violations, 0) << tag << ": " << st.summary();
    }
  }
}

TEST(CudaHisaFilter, DsaConfigM128AndM256) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = dsa_gaussian(20000, 20000, 501, DType::fp8_e4m3);
  expect_filter_matches(w.problem(), hisa_cfg(2048, 64, 128), "gaussian fp8 T=S=20000 m=128", 32);
  expect_filter_matches(w.problem(), hisa_cfg(2048, 64, 256), "gaussian fp8 T=S=20000 m=256", 32);
  // m <= filter_a_blocks (64 here): A would be every kept block, the filter is not taken.
  expect_filter_matches(w.problem(), hisa_cfg(2048, 64, 64), "gaussian fp8 T=S=20000 m=64");
}

// The structured workload: A holds nearly all of a row's top k, so most other candidates are
// dropped (docs/cuda_hisa.md: ~1.1 k survivors of m * B).
TEST(CudaHisaFilter, StructuredDropsMost) {
  SKIP_WITHOUT_GPU();
  hisa::StructuredSpec spec;
  spec.T = spec.S = 16384;
  const hisa::Workload s = hisa::quantize_fp8(hisa::make_structured(spec));
  expect_filter_matches(s.problem(), hisa_cfg(2048, 64, 128), "structured fp8 T=S=16384 m=128", 32);
  expect_filter_matches(s.problem(), hisa_cfg(2048, 64, 256), "structured fp8 T=S=16384 m=256", 32);
  expect_filter_matches(s.problem(), hisa_cfg(2048, 128, 64), "structured fp8 B=128 m=64", 32);
  expect_filter_matches(s.problem(), hisa_cfg(2048, 128, 96), "structured fp8 B=128 m=96", 32);
  expect_filter_matches(s.problem(), hisa_cfg(1000, 64, 100), "structured fp8 k=1000 m=100");
  expect_filter_matches(s.problem(), hisa_cfg(1000, 64, 40), "structured fp8 k=1000 m=40");
}

// Crowded buckets make the pair kernel refuse rows (limit 32, and tied scores): those rows are
// rewritten by position and selected by the retry pass.
TEST(CudaHisaFilter, RefusedRowsTiesAndNaN) {
  SKIP_WITHOUT_GPU();
  FilterGuard guard;
  hisa::cuda::radix_topk_set_bucket64(0);
  expect_filter_matches(tied_blocks_fp8(6000, 6000, 521).problem(), hisa_cfg(2048, 64, 80),
                        "tied blocks fp8 m=80");
  expect_filter_matches(nan_scales_fp8(6000, 6000, 522).problem(), hisa_cfg(2048, 64, 80),
                        "NaN k_scale fp8 m=80");
  hisa::StructuredSpec spec;
  spec.T = spec.S = 12000;
  const hisa::Workload s = hisa::quantize_fp8(hisa::make_structured(spec));
  expect_filter_matches(s.problem(), hisa_cfg(2048, 64, 128), "structured fp8 limit 32 m=128");
}

// No k_scale, and packed sequences starting at every row offset mod 4.
TEST(CudaHisaFilter, NoKeyScaleAndPackedBatch) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = dsa_gaussian(7000, 7000, 531, DType::fp8_e4m3);
  hisa::Problem h = w.problem();
  h.k_scale = nullptr;
  expect_filter_matches(h, hisa_cfg(2048, 64, 96), "gaussian fp8 no k_scale m=96", 16);
  const hisa::Workload packed = packed_dsa_gaussian({2501, 9001, 3101, 1203}, 532, DType::fp8_e4m3);
  expect_filter_matches(packed.problem(), hisa_cfg(2048, 64, 128), "packed fp8 m=128", 32);
}

// Filtered, inside a CUDA graph (no host sync): captured and replayed on poisoned outputs,
// equal to the direct call.
TEST(CudaHisaFilter, GraphCaptureEqualsDirect) {
  SKIP_WITHOUT_GPU();
  FilterGuard guard;
  hisa::cuda::hisa_set_tokens_filter(1);
  const hisa::Workload w = dsa_gaussian(2500, 30000, 541, DType::fp8_e4m3);  // last rows of S
  DeviceProblem dp(w.problem());
  const Config cfg = hisa_cfg(2048, 64, 256);
  const GpuRun direct = run_direct(dp, cfg, /*portable=*/false);
  EXPECT_EQ(direct.unwritten, 0);
  const std::vector<std::vector<int32_t>> replays = graph_replays(dp, cfg, 2);
  for (std::size_t rep = 0; rep < replays.size(); ++rep)
    EXPECT_EQ(replays[rep], direct.idx) << "graph replay " << rep;
}

// Small enough for compute-sanitizer: 256 rows, m = 128.
TEST(CudaHisaFilter, SmallRunForSanitizer) {
  SKIP_WITHOUT_GPU();
  const Fp8Problem p = make_fp8_random(256, 12000, 551);
  expect_filter_matches(p.view(), hisa_cfg(2048, 64, 128), "sanitizer-sized filtered run");
}

}  // namespace
