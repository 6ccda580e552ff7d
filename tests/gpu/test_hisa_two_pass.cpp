// CUDA HISA two-pass stage 2 (hisa_select.cu, HisaParams::scores): the sm_90a tokens kernel
// writes every candidate's f32 score to global memory, the radix top-k (topk_radix.cuh) ranks
// the rows and map_columns turns positions into tokens. The scores are the one-pass kernel's
// (same tiles, same epilogue) and both select exactly (ties to the larger token, NaN last), so
// the idx rows must be IDENTICAL to the one-pass kernel's (hisa_set_two_pass(1) vs (0)) on
// every row, in score order and in index order; the one-pass rows are held to the tensor-core
// tolerance against the CPU in test_hisa_fast.cpp, and the two-pass rows are re-checked
// against the CPU here on sampled rows (SPEC.md "Tolerances of tensor-core paths", check_row
// in hisa_gpu_check.hpp). Skipped without a GPU; off sm_90 both settings take the portable
// kernels and still agree.
// The two-pass stage 2a has two kernels (hisa_set_tma_tokens): the TMA producer/consumer kernel
// (hisa_tokens_tma.cu, the default where supported: FP8, B % 64 == 0) and the one-warpgroup
// kernel (hisa_sm90.cu), and the TMA kernel has an epilogue-warpgroup variant (hisa_tokens_wide.cu,
// hisa_set_tokens_epi) and a union variant over row pairs (hisa_tokens_union.cu,
// hisa_set_tokens_union: 1 = pairs, 2 = every row alone, 3 = quads, 4 = pairs with a warpgroup
// per row; the same m64n64k32 products, same epilogue). Their scores are bitwise the same, so their rows must be identical too (exact
// equality, no tolerance; the CPU check of the TMA rows uses SPEC.md's tensor-core tolerance).
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <limits>
#include <vector>

#include "hisa_gpu_check.hpp"

namespace {

using namespace hisa_gpu_test;

#define SKIP_WITHOUT_GPU() \
  if (hisa::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device"

struct TwoPassGuard {
  ~TwoPassGuard() {
    hisa::cuda::hisa_set_two_pass(-1);
    hisa::cuda::hisa_set_tma_tokens(-1);
    hisa::cuda::hisa_set_tokens_epi(-1);
    hisa::cuda::hisa_set_tokens_union(-1);
  }
};

// One-pass vs two-pass rows, in both orders; CPU check of `nsample` rows of the two-pass run.
void expect_two_pass_matches(const hisa::Problem& h, Config cfg, const std::string& what,
                             int64_t nsample = 0) {
  TwoPassGuard guard;
  DeviceProblem dp(h);
  for (const hisa::Order order : {hisa::Order::score, hisa::Order::index}) {
    cfg.order = order;
    const std::string tag = what + (order == hisa::Order::index ? " (index order)" : "");
    hisa::cuda::hisa_set_two_pass(0);
    const GpuRun one = run_direct(dp, cfg, /*portable=*/false);
    hisa::cuda::hisa_set_two_pass(1);
    hisa::cuda::hisa_set_tma_tokens(0);
    const GpuRun two_wg = run_direct(dp, cfg, /*portable=*/false);
    hisa::cuda::hisa_set_tma_tokens(-1);
    hisa::cuda::hisa_set_tokens_epi(1);
    const GpuRun two_epi = run_direct(dp, cfg, /*portable=*/false);
    hisa::cuda::hisa_set_tokens_epi(0);
    hisa::cuda::hisa_set_tokens_union(0);
    const GpuRun two = run_direct(dp, cfg, /*portable=*/false);
    hisa::cuda::hisa_set_tokens_union(1);
    const GpuRun two_pairs = run_direct(dp, cfg, /*portable=*/false);
    hisa::cuda::hisa_set_tokens_union(2);
    const GpuRun two_alone = run_direct(dp, cfg, /*portable=*/false);
    hisa::cuda::hisa_set_tokens_union(3);
    const GpuRun two_quads = run_direct(dp, cfg, /*portable=*/false);
    hisa::cuda::hisa_set_tokens_union(4);
    const GpuRun two_rowwg = run_direct(dp, cfg, /*portable=*/false);
    hisa::cuda::hisa_set_tokens_union(-1);
    EXPECT_EQ(two_rowwg.unwritten, 0) << tag;
    const RowDiff drw = differing_rows(two_rowwg, two, h.T, cfg.topk);
    EXPECT_EQ(drw.count, 0) << tag << " (union kernel, row pairs, a warpgroup per row, vs TMA "
                            << "stage 2a): first differing row " << drw.first;
    EXPECT_EQ(two_quads.unwritten, 0) << tag;
    const RowDiff dq = differing_rows(two_quads, two, h.T, cfg.topk);
    EXPECT_EQ(dq.count, 0) << tag << " (union kernel, row quads, vs TMA stage 2a): "
                           << "first differing row " << dq.first;
    EXPECT_EQ(two_pairs.unwritten, 0) << tag;
    EXPECT_EQ(two_alone.unwritten, 0) << tag;
    const RowDiff dp2 = differing_rows(two_pairs, two, h.T, cfg.topk);
    EXPECT_EQ(dp2.count, 0) << tag << " (union kernel, row pairs, vs TMA stage 2a): "
                            << "first differing row " << dp2.first;
    const RowDiff da = differing_rows(two_alone, two, h.T, cfg.topk);
    EXPECT_EQ(da.count, 0) << tag << " (union kernel, rows alone, vs TMA stage 2a): "
                           << "first differing row " << da.first;
    EXPECT_EQ(one.unwritten, 0) << tag;
    EXPECT_EQ(two.unwritten, 0) << tag;
    EXPECT_EQ(two_wg.unwritten, 0) << tag;
    EXPECT_EQ(two_epi.unwritten, 0) << tag;
    const RowDiff d = differing_rows(one, two, h.T, cfg.topk);
    EXPECT_EQ(d.count, 0) << tag << ": first differing row " << d.first;
    const RowDiff de = differing_rows(two_epi, two, h.T, cfg.topk);
    EXPECT_EQ(de.count, 0) << tag << " (epilogue-warpgroup vs TMA stage 2a): first differing row "
                           << de.first;
    const RowDiff dw = differing_rows(two_wg, two, h.T, cfg.topk);
    EXPECT_EQ(dw.count, 0) << tag << " (TMA vs one-warpgroup stage 2a): first differing row "
                           << dw.first;
    if (nsample > 0 && order == hisa::Order::score) {
      const TolStats st = check_sampled_rows(h, cfg, two.idx, nsample);
      std::cout << "[hisa two-pass] " << tag << ": " << st.summary() << "\n";
      EXPECT_EQ(st.violations, 0) << tag << ": " << st.summary();
    }
  }
}

TEST(CudaHisaTwoPass, DsaConfigM64To256) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = dsa_gaussian(20000, 20000, 401, DType::fp8_e4m3);
  expect_two_pass_matches(w.problem(), hisa_cfg(2048, 64, 64), "gaussian fp8 T=S=20000 m=64", 32);
  expect_two_pass_matches(w.problem(), hisa_cfg(2048, 64, 128), "gaussian fp8 T=S=20000 m=128");
  expect_two_pass_matches(w.problem(), hisa_cfg(2048, 64, 256), "gaussian fp8 T=S=20000 m=256", 32);
}

TEST(CudaHisaTwoPass, StructuredBf16SmallTopkAndB128) {
  SKIP_WITHOUT_GPU();
  hisa::StructuredSpec spec;
  spec.T = spec.S = 8192;
  const hisa::Workload s = hisa::quantize_fp8(hisa::make_structured(spec));
  expect_two_pass_matches(s.problem(), hisa_cfg(2048, 64, 96), "structured fp8 T=S=8192 m=96", 32);
  const hisa::Workload b = dsa_gaussian(6000, 6000, 411, DType::bf16);
  expect_two_pass_matches(b.problem(), hisa_cfg(256, 64, 40), "gaussian bf16 k=256 m=40", 32);
  const hisa::Workload f = dsa_gaussian(9001, 9001, 412, DType::fp8_e4m3);
  expect_two_pass_matches(f.problem(), hisa_cfg(2048, 128, 48), "gaussian fp8 B=128 m=48", 32);
  expect_two_pass_matches(f.problem(), hisa_cfg(1000, 64, 100), "gaussian fp8 k=1000 m=100");
  expect_two_pass_matches(f.problem(), hisa_cfg(2048, 96, 40), "gaussian fp8 B=96 m=40");
}

// No k_scale (1 for every key): the TMA kernel's producer then copies no scales.
TEST(CudaHisaTwoPass, NoKeyScale) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = dsa_gaussian(5000, 5000, 461, DType::fp8_e4m3);
  hisa::Problem h = w.problem();
  h.k_scale = nullptr;
  expect_two_pass_matches(h, hisa_cfg(2048, 64, 48), "gaussian fp8 no k_scale m=48", 16);
  expect_two_pass_matches(h, hisa_cfg(2048, 128, 24), "gaussian fp8 no k_scale B=128 m=24");
}

// k_scale not 16-byte aligned (a view one float into a buffer): the TMA stage 2a reads k_scale
// through a tensor map, which needs 16-byte alignment, so the call takes the one-warpgroup
// kernel; its rows equal the aligned call's (same scores bitwise, exact selection).
TEST(CudaHisaTwoPass, UnalignedKeyScale) {
  SKIP_WITHOUT_GPU();
  TwoPassGuard guard;
  const hisa::Workload w = dsa_gaussian(5000, 5000, 471, DType::fp8_e4m3);
  const hisa::Problem h = w.problem();
  ASSERT_NE(h.k_scale, nullptr);
  DeviceProblem dp(h);
  std::vector<float> shifted(h.S + 1, 0.0f);
  std::copy(h.k_scale, h.k_scale + h.S, shifted.begin() + 1);
  DeviceBuffer ks(shifted.data(), sizeof(float) * shifted.size());
  const Config cfg = hisa_cfg(2048, 64, 48);
  hisa::cuda::hisa_set_two_pass(1);
  const GpuRun aligned = run_direct(dp, cfg, /*portable=*/false);
  dp.view.k_scale = ks.as<float>() + 1;
  const GpuRun unaligned = run_direct(dp, cfg, /*portable=*/false);
  EXPECT_EQ(aligned.unwritten, 0);
  EXPECT_EQ(unaligned.unwritten, 0);
  const RowDiff d = differing_rows(aligned, unaligned, h.T, cfg.topk);
  EXPECT_EQ(d.count, 0) << "first differing row " << d.first;
}

// Exact score ties everywhere (every block holds the same 64 keys, k_scale 1) and NaN scores.
TEST(CudaHisaTwoPass, TiesAndNaN) {
  SKIP_WITHOUT_GPU();
  expect_two_pass_matches(tied_blocks_fp8(6000, 6000, 421).problem(), hisa_cfg(2048, 64, 80),
                          "tied blocks fp8 m=80");
  expect_two_pass_matches(nan_scales_fp8(6000, 6000, 422).problem(), hisa_cfg(2048, 64, 80),
                          "NaN k_scale fp8 m=80");
}

// Packed sequences (ks not a multiple of B) and block-sparse (every candidate selected).
TEST(CudaHisaTwoPass, PackedBatchAndBlockSparse) {
  SKIP_WITHOUT_GPU();
  // Sequences start at rows 0, 2501, 11502 and 14603: every k_scale offset mod 4 (the TMA
  // kernel loads k_scale from the aligned row below a tile; an unaligned start was an illegal
  // instruction).
  const hisa::Workload packed = packed_dsa_gaussian({2501, 9001, 3101, 1203}, 431, DType::fp8_e4m3);
  expect_two_pass_matches(packed.problem(), hisa_cfg(2048, 64, 128), "packed fp8 m=128", 32);
  Config block = hisa_cfg(2048, 64, 32);
  block.method = hisa::Method::block;
  expect_two_pass_matches(packed.problem(), block, "packed fp8 block-sparse");
}

// The default path (two-pass on sm_90a) inside a CUDA graph: hisa_select on a caller stream
// and workspace, captured and replayed twice on poisoned outputs, equals the direct call. The
// m = 1024 DSA shape makes the chunk bound (512 MB of scores) give several chunks.
TEST(CudaHisaTwoPass, GraphCaptureEqualsDirect) {
  SKIP_WITHOUT_GPU();
  TwoPassGuard guard;
  hisa::cuda::hisa_set_two_pass(-1);
  const hisa::Workload w = dsa_gaussian(2500, 70000, 451, DType::fp8_e4m3);  // last rows of S
  DeviceProblem dp(w.problem());
  for (const int64_t m : {64, 1024}) {
    const Config cfg = hisa_cfg(2048, 64, m);
    const GpuRun direct = run_direct(dp, cfg, /*portable=*/false);
    EXPECT_EQ(direct.unwritten, 0);
    const std::vector<std::vector<int32_t>> replays = graph_replays(dp, cfg, 2);
    for (std::size_t rep = 0; rep < replays.size(); ++rep)
      EXPECT_EQ(replays[rep], direct.idx) << "m=" << m << " graph replay " << rep;
  }
}

// Small enough for compute-sanitizer: 256 rows, m = 128, several chunks of the top-k.
TEST(CudaHisaTwoPass, SmallRunForSanitizer) {
  SKIP_WITHOUT_GPU();
  const Fp8Problem p = make_fp8_random(256, 12000, 441);
  expect_two_pass_matches(p.view(), hisa_cfg(2048, 64, 128), "sanitizer-sized two-pass run");
}

}  // namespace
