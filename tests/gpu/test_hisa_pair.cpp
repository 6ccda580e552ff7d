// CUDA HISA query-pair kernels (hisa_sm90_pair.cu; sm_90a, H=64, D=128, FP8/bf16, B % 64 == 0).
// They do the one-query kernels' arithmetic (the same m64n64 MMAs per query and tile, the same
// epilogue and selection), only loading shared key tiles once, so their idx rows must be
// IDENTICAL to the one-query kernels' (hisa_set_pairing(0) vs (1)) on every row; the one-query
// rows are themselves held to the tensor-core tolerance against the CPU (docs/cuda_hisa.md,
// SPEC.md "Tolerances of tensor-core paths"), which is re-checked here on sampled rows for the
// shapes only the pair tests cover (B = 128 and 192, odd chunks, sequences starting mid-pair).
// Skipped without a GPU; off sm_90 both settings take the portable kernels and still agree.
#include <gtest/gtest.h>

#include <iostream>

#include "hisa_gpu_check.hpp"

namespace {

using namespace hisa_gpu_test;

#define SKIP_WITHOUT_GPU() \
  if (hisa::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device"

struct PairingGuard {
  ~PairingGuard() { hisa::cuda::hisa_set_pairing(-1); }
};

// One problem, both kernel families: identical rows, nothing unwritten, and (nsample > 0) the
// pair rows within the tensor-core tolerance of the CPU on sampled rows.
void expect_pairs_match(const hisa::Problem& h, const Config& cfg, const std::string& what,
                        int64_t nsample = 0) {
  PairingGuard guard;
  DeviceProblem dp(h);
  hisa::cuda::hisa_set_pairing(0);
  const GpuRun one = run_direct(dp, cfg, /*portable=*/false);
  hisa::cuda::hisa_set_pairing(1);
  const GpuRun two = run_direct(dp, cfg, /*portable=*/false);
  EXPECT_EQ(one.unwritten, 0) << what;
  EXPECT_EQ(two.unwritten, 0) << what;
  const RowDiff d = differing_rows(one, two, h.T, cfg.topk);
  EXPECT_EQ(d.count, 0) << what << ": first differing row " << d.first;
  if (nsample > 0) {
    const TolStats st = check_sampled_rows(h, cfg, two.idx, nsample);
    std::cout << "[hisa pair] " << what << ": " << st.summary() << "\n";
    EXPECT_EQ(st.violations, 0) << what << ": " << st.summary();
  }
}

TEST(CudaHisaPair, Fp8AndBf16OddRowCount) {
  SKIP_WITHOUT_GPU();
  for (DType dt : {DType::fp8_e4m3, DType::bf16}) {
    const hisa::Workload w = dsa_gaussian(3001, 3001, 201 + static_cast<int>(dt), dt);
    expect_pairs_match(w.problem(), hisa_cfg(256, 64, 8),
                       std::string("gaussian T=S=3001 B=64 m=8 k=256 ") + hisa::to_string(dt), 64);
  }
}

TEST(CudaHisaPair, DsaConfigAndStructured) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = dsa_gaussian(6000, 6000, 211, DType::fp8_e4m3);
  expect_pairs_match(w.problem(), hisa_cfg(2048, 64, 64), "gaussian fp8 T=S=6000 DSA", 48);
  hisa::StructuredSpec spec;
  spec.T = spec.S = 8192;
  const hisa::Workload s = hisa::quantize_fp8(hisa::make_structured(spec));
  expect_pairs_match(s.problem(), hisa_cfg(2048, 64, 64), "structured fp8 T=S=8192 DSA", 48);
  expect_pairs_match(s.problem(), hisa_cfg(2048, 64, 128), "structured fp8 T=S=8192 m=128", 0);
}

// Sequences of odd length: pairs straddle two sequences (different ks: served one after the
// other) and chunks of queries end mid-pair.
TEST(CudaHisaPair, PackedBatchStraddlingPairs) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload packed = packed_dsa_gaussian({2501, 4999, 3, 3101}, 221, DType::fp8_e4m3);
  expect_pairs_match(packed.problem(), hisa_cfg(2048, 64, 64), "packed fp8 2501+4999+3+3101", 48);
  expect_pairs_match(packed.problem(), hisa_cfg(512, 64, 16), "packed fp8 B=64 m=16 k=512", 48);
}

// Blocks of two and three tiles: the union is walked tile by tile inside each block, and the
// local block's tiles past a query's range are skipped for it.
TEST(CudaHisaPair, BlockSizes128And192) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = dsa_gaussian(7001, 7001, 231, DType::fp8_e4m3);
  expect_pairs_match(w.problem(), hisa_cfg(2048, 128, 32), "gaussian fp8 B=128 m=32", 48);
  expect_pairs_match(w.problem(), hisa_cfg(1024, 192, 12), "gaussian fp8 B=192 m=12 k=1024", 48);
  const hisa::Workload b = dsa_gaussian(4001, 4001, 232, DType::bf16);
  expect_pairs_match(b.problem(), hisa_cfg(512, 128, 8), "gaussian bf16 B=128 m=8 k=512", 48);
}

TEST(CudaHisaPair, BlockSparseAndTinyProblems) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = dsa_gaussian(5001, 5001, 241, DType::fp8_e4m3);
  Config block;
  block.method = Method::block;
  block.topk = 2048;
  block.block_size = 64;
  expect_pairs_match(w.problem(), block, "block-sparse fp8 T=S=5001");
  for (int64_t T : {1, 2, 3}) {
    const hisa::Workload t = dsa_gaussian(T, 4000, 250 + T, DType::fp8_e4m3);
    expect_pairs_match(t.problem(), hisa_cfg(256, 64, 8), "T=" + std::to_string(T) + " S=4000", 0);
  }
}

// Small enough for compute-sanitizer, on every pair code path: both stages shared and
// separate (a sequence starts at an odd row), B = 64 and 128, the register sort.
TEST(CudaHisaPair, SmallRunForSanitizer) {
  SKIP_WITHOUT_GPU();
  hisa::Workload packed = packed_dsa_gaussian({2301, 2400}, 261, DType::fp8_e4m3);
  hisa::Problem h = packed.problem();
  // The last 161 + 160 rows of the sequences (a pair straddles them): most need block selection.
  std::vector<int32_t> ks, ke;
  std::vector<int64_t> rows;
  for (int64_t t = 0; t < h.T; ++t) {
    const hisa::Range r = hisa::range_of(h, t);
    if (r.ke > r.ks + (r.ks == 0 ? 2301 - 161 : 2400 - 160)) rows.push_back(t);
  }
  SampledRows sr(h, rows);
  expect_pairs_match(sr.view, hisa_cfg(2048, 64, 16), "sanitizer-sized pair run B=64", 0);
  expect_pairs_match(sr.view, hisa_cfg(1024, 128, 4), "sanitizer-sized pair run B=128", 0);
}

}  // namespace
