// CUDA HISA streaming selection (hisa_sm90.cu, kStream): stage 2 keeps at most stream_cap
// candidates, dropping at once those the running threshold rules out. It scores exactly like
// the dense kernel and selects exactly (ties to the larger token, NaN last), so its idx rows
// must be IDENTICAL to the dense kernel's (hisa_set_streaming(1) vs (0)) on every row; the
// dense rows are held to the tensor-core tolerance against the CPU in test_hisa_fast.cpp, and
// the streaming rows are re-checked against the CPU here on sampled rows at large m (SPEC.md
// "Tolerances of tensor-core paths", check_row in hisa_gpu_check.hpp). Skipped without a GPU;
// off sm_90 both settings take the portable kernels and still agree.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <limits>

#include "hisa_gpu_check.hpp"

namespace {

using namespace hisa_gpu_test;

#define SKIP_WITHOUT_GPU() \
  if (hisa::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device"

struct StreamingGuard {
  ~StreamingGuard() { hisa::cuda::hisa_set_streaming(-1); }
};

void expect_stream_matches(const hisa::Problem& h, const Config& cfg, const std::string& what,
                           int64_t nsample = 0) {
  StreamingGuard guard;
  DeviceProblem dp(h);
  hisa::cuda::hisa_set_streaming(0);
  const GpuRun dense = run_direct(dp, cfg, /*portable=*/false);
  hisa::cuda::hisa_set_streaming(1);
  const GpuRun stream = run_direct(dp, cfg, /*portable=*/false);
  EXPECT_EQ(dense.unwritten, 0) << what;
  EXPECT_EQ(stream.unwritten, 0) << what;
  const RowDiff d = differing_rows(dense, stream, h.T, cfg.topk);
  EXPECT_EQ(d.count, 0) << what << ": first differing row " << d.first;
  if (nsample > 0) {
    const TolStats st = check_sampled_rows(h, cfg, stream.idx, nsample);
    std::cout << "[hisa stream] " << what << ": " << st.summary() << "\n";
    EXPECT_EQ(st.violations, 0) << what << ": " << st.summary();
  }
}

// m = 64 (4096 candidates: the buffer drains once near the end), 128 and 256 (several drains).
TEST(CudaHisaStream, DsaConfigLargeM) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = dsa_gaussian(20000, 20000, 301, DType::fp8_e4m3);
  expect_stream_matches(w.problem(), hisa_cfg(2048, 64, 64), "gaussian fp8 T=S=20000 m=64");
  expect_stream_matches(w.problem(), hisa_cfg(2048, 64, 128), "gaussian fp8 T=S=20000 m=128", 32);
  expect_stream_matches(w.problem(), hisa_cfg(2048, 64, 256), "gaussian fp8 T=S=20000 m=256", 32);
}

TEST(CudaHisaStream, StructuredBf16SmallTopkAndB128) {
  SKIP_WITHOUT_GPU();
  hisa::StructuredSpec spec;
  spec.T = spec.S = 8192;
  const hisa::Workload s = hisa::quantize_fp8(hisa::make_structured(spec));
  expect_stream_matches(s.problem(), hisa_cfg(2048, 64, 96), "structured fp8 T=S=8192 m=96", 32);
  const hisa::Workload b = dsa_gaussian(6000, 6000, 311, DType::bf16);
  expect_stream_matches(b.problem(), hisa_cfg(256, 64, 40), "gaussian bf16 k=256 m=40", 32);
  const hisa::Workload f = dsa_gaussian(9001, 9001, 312, DType::fp8_e4m3);
  expect_stream_matches(f.problem(), hisa_cfg(2048, 128, 48), "gaussian fp8 B=128 m=48", 32);
  expect_stream_matches(f.problem(), hisa_cfg(1000, 64, 100), "gaussian fp8 k=1000 m=100", 32);
}

// Exact score ties everywhere (every block holds the same 64 keys, k_scale 1) and NaN scores
// (NaN k_scale on some rows): the threshold must keep ties to the larger token and NaN last.
TEST(CudaHisaStream, TiesAndNaN) {
  SKIP_WITHOUT_GPU();
  expect_stream_matches(tied_blocks_fp8(6000, 6000, 321).problem(), hisa_cfg(2048, 64, 80),
                        "tied blocks fp8 m=80");
  expect_stream_matches(nan_scales_fp8(6000, 6000, 322).problem(), hisa_cfg(2048, 64, 80),
                        "NaN k_scale fp8 m=80");
}

TEST(CudaHisaStream, PackedBatch) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload packed = packed_dsa_gaussian({2500, 9000, 3100}, 331, DType::fp8_e4m3);
  expect_stream_matches(packed.problem(), hisa_cfg(2048, 64, 128), "packed fp8 m=128", 32);
}

// Automatic mode (no hook, no HISA_STREAM): m = 1024 needs 64K candidates, a dense key array
// larger than shared memory, so the one-pass dense kernel cannot serve it; the two-pass stage 2
// (default since e25e930) or, with it off, the streaming kernel does. Rows checked against the
// CPU with check_row's tolerance.
TEST(CudaHisaStream, AutomaticWhenDenseDoesNotFit) {
  SKIP_WITHOUT_GPU();
  StreamingGuard guard;
  hisa::cuda::hisa_set_streaming(-1);
  const hisa::Workload w = dsa_gaussian(16, 70000, 351, DType::fp8_e4m3);  // last 16 rows of S
  const hisa::Problem h = w.problem();
  const Config cfg = hisa_cfg(2048, 64, 1024);
  DeviceProblem dp(h);
  const GpuRun g = run_direct(dp, cfg, /*portable=*/false);
  EXPECT_EQ(g.unwritten, 0);
  const std::vector<int32_t> c = cpu_select(h, cfg);
  TolStats st;
  for (int64_t t = 0; t < h.T; ++t)
    check_row(h, t, cfg, g.idx.data() + t * cfg.topk, c.data() + t * cfg.topk, st);
  std::cout << "[hisa stream] automatic m=1024 S=70000: " << st.summary() << "\n";
  EXPECT_EQ(st.violations, 0) << st.summary();
}

// Small enough for compute-sanitizer: 256 rows, m = 128 (drains), the register sort.
TEST(CudaHisaStream, SmallRunForSanitizer) {
  SKIP_WITHOUT_GPU();
  const Fp8Problem p = make_fp8_random(256, 12000, 341);
  expect_stream_matches(p.view(), hisa_cfg(2048, 64, 128), "sanitizer-sized stream run");
}

}  // namespace
