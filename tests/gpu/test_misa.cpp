// CUDA MISA, portable kernels (misa_router_portable.cu, the simt flat scorer on the gathered
// heads, the radix top-k, hisa_portable.cu's re-scoring): the CPU's arithmetic step by step, so
// with the exact simt scorer (HISA_FLAT_SCORER=simt) every idx row must be IDENTICAL to the CPU
// backend's, router choice included. Also: all dtypes, packed batches with ks not a multiple of
// B, empty and short rows, NaN scores, the flat shortcuts (a = H, c * topk >= S), the
// dispatcher's device and host-staged paths, and the CUDA limits.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>

#include "misa_gpu_check.hpp"

namespace {

using namespace hisa_gpu_test;

#define SKIP_WITHOUT_GPU() \
  if (hisa::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device"

// The routed scores go through the flat scorer of the gathered problem; simt is its exact one.
struct ExactScorer {
  ExactScorer() { setenv("HISA_FLAT_SCORER", "simt", 1); }
  ~ExactScorer() { unsetenv("HISA_FLAT_SCORER"); }
};

hisa::Workload gaussian(int64_t T, int64_t S, int64_t H, int64_t D, uint64_t seed, DType dt) {
  hisa::GaussianSpec g;
  g.T = T, g.S = S, g.H = H, g.D = D, g.seed = seed;
  hisa::Workload w = hisa::make_gaussian(g);
  if (dt == DType::fp8_e4m3) return hisa::quantize_fp8(w);
  if (dt == DType::bf16) return hisa::to_bf16(w);
  w.k_scale.resize(w.S);
  for (int64_t s = 0; s < w.S; ++s) w.k_scale[s] = 0.5f + static_cast<float>((s * 37) % 100) / 100.f;
  return w;
}

void expect_exact(const hisa::Problem& h, const Config& cfg, const std::string& what,
                  bool allow_nonfinite = false) {
  ExactScorer exact;
  DeviceProblem dp(h);
  const MisaRun g = run_misa(dp, cfg, /*path=*/2);
  EXPECT_EQ(g.unwritten, 0) << what;
  const std::vector<int32_t> c = cpu_select(h, cfg, allow_nonfinite);
  int64_t bad = 0, first = -1;
  for (int64_t t = 0; t < h.T; ++t)
    if (!std::equal(g.idx.begin() + t * cfg.topk, g.idx.begin() + (t + 1) * cfg.topk,
                    c.begin() + t * cfg.topk) && bad++ == 0)
      first = t;
  EXPECT_EQ(bad, 0) << what << ": first differing row " << first;
  int64_t routed = 0;
  for (int64_t t = 0; t < h.T; ++t) routed += g.heads[t * cfg.heads] >= 0 ? 1 : 0;
  std::cout << "[misa portable] " << what << ": " << h.T - bad << "/" << h.T
            << " rows identical to the CPU, " << routed << " routed\n";
}

TEST(CudaMisaPortable, MatchesCpuExactlyAllDtypes) {
  SKIP_WITHOUT_GPU();
  for (DType dt : {DType::f32, DType::bf16, DType::fp8_e4m3}) {
    const hisa::Workload w = gaussian(600, 700, 8, 32, 11 + static_cast<int>(dt), dt);
    const std::string name = hisa::to_string(dt);
    expect_exact(w.problem(), misa_cfg(48, 16, 3, 1), "misa a=3 c=1 B=16 " + name);
    expect_exact(w.problem(), misa_cfg(40, 24, 2, 3), "misa a=2 c=3 B=24 " + name);
    expect_exact(w.problem(), misa_cfg(32, 7, 1, 2), "misa a=1 c=2 B=7 " + name);
  }
}

TEST(CudaMisaPortable, DsaShapeMatchesCpuExactly) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = gaussian(1200, 1500, 64, 128, 5, DType::fp8_e4m3);
  expect_exact(w.problem(), misa_cfg(256, 64, 8, 1), "fp8 H=64 D=128 a=8 c=1");
  expect_exact(w.problem(), misa_cfg(256, 128, 8, 2), "fp8 H=64 D=128 a=8 c=2 B=128");
}

TEST(CudaMisaPortable, PackedBatchUnalignedStarts) {
  SKIP_WITHOUT_GPU();
  for (DType dt : {DType::f32, DType::fp8_e4m3}) {
    std::vector<hisa::Workload> seqs;
    seqs.push_back(gaussian(300, 333, 4, 24, 21, dt));
    seqs.push_back(gaussian(517, 517, 4, 24, 22, dt));
    seqs.push_back(gaussian(90, 1000, 4, 24, 23, dt));  // T < S: late queries of a long prefix
    const hisa::Workload packed = hisa::pack_sequences(seqs);
    ASSERT_NE(packed.ks[400] % 16, 0);
    expect_exact(packed.problem(), misa_cfg(40, 16, 2, 2),
                 std::string("packed ") + hisa::to_string(dt));
  }
}

TEST(CudaMisaPortable, EmptyShortRowsAndExplicitRanges) {
  SKIP_WITHOUT_GPU();
  hisa::Workload w = gaussian(256, 800, 4, 16, 31, DType::f32);
  w.ks.resize(w.T);
  w.ke.resize(w.T);
  for (int64_t t = 0; t < w.T; ++t) {
    const int32_t a = static_cast<int32_t>((t * 97) % 400);
    const int32_t len = (t % 7 == 0) ? 0 : static_cast<int32_t>((t * 53) % 400);
    w.ks[t] = a;
    w.ke[t] = a + len;
  }
  expect_exact(w.problem(), misa_cfg(32, 8, 2, 1), "windows c=1");
  expect_exact(w.problem(), misa_cfg(32, 64, 2, 2), "windows c=2 B=64 (rows n <= B: all heads)");
}

TEST(CudaMisaPortable, NanScoresRankLast) {
  SKIP_WITHOUT_GPU();
  hisa::Workload w = gaussian(200, 300, 4, 16, 41, DType::f32);
  float* k = reinterpret_cast<float*>(w.k.data());
  for (int64_t s = 0; s < w.S; s += 13) k[s * w.D + 3] = NAN;
  expect_exact(w.problem(), misa_cfg(64, 8, 2, 1), "NaN keys", /*allow_nonfinite=*/true);
}

TEST(CudaMisaPortable, AllHeadsOrAllCandidatesIsFlat) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = gaussian(300, 400, 4, 16, 51, DType::f32);
  Config flat;
  flat.method = Method::flat;
  flat.topk = 48;
  const std::vector<int32_t> f = cpu_select(w.problem(), flat);
  DeviceProblem dp(w.problem());
  EXPECT_EQ(run_misa(dp, misa_cfg(48, 8, 4, 1), 2).idx, f);   // a = H
  EXPECT_EQ(run_misa(dp, misa_cfg(48, 8, 2, 9), 2).idx, f);   // c * topk >= S
}

TEST(CudaMisaPortable, DefaultScorerOnExactInputs) {
  SKIP_WITHOUT_GPU();
  // Integer FP8 values: every f32 sum is exact in any order, so the mma scorer (the portable
  // default for FP8) must agree with the CPU bit for bit too.
  hisa::Workload q;
  q.dtype = DType::fp8_e4m3;
  q.T = 400, q.S = 600, q.H = 8, q.D = 32;
  uint64_t st = 61;
  auto small = [&](int lim) {  // integers in [-lim, lim]
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<int>((st >> 33) % (2 * lim + 1)) - lim;
  };
  q.q.resize(q.T * q.H * q.D);
  q.k.resize(q.S * q.D);
  for (auto& c : q.q) c = hisa::float_to_fp8_e4m3(static_cast<float>(small(3)));
  for (auto& c : q.k) c = hisa::float_to_fp8_e4m3(static_cast<float>(small(3)));
  q.w.resize(q.T * q.H);
  for (auto& x : q.w) x = static_cast<float>(small(2));
  const Config cfg = misa_cfg(64, 16, 3, 2);
  DeviceProblem dp(q.problem());
  const MisaRun g = run_misa(dp, cfg, 2);
  EXPECT_EQ(g.idx, cpu_select(q.problem(), cfg));
}

TEST(CudaMisa, DispatcherDeviceAndStagedPaths) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = gaussian(900, 1000, 64, 128, 71, DType::fp8_e4m3);
  const hisa::Problem h = w.problem();
  const Config cfg = misa_cfg(128, 64, 8, 2);
  DeviceProblem dp(h);
  const MisaRun direct = run_misa(dp, cfg, 0);
  hisa::Problem dview = dp.view;
  dview.ks = dview.ke = nullptr;  // the backend materialises the causal default
  DeviceBuffer out(sizeof(int32_t) * h.T * cfg.topk);
  HISA_TEST_CUDA(cudaMemset(out.ptr, 0x5A, sizeof(int32_t) * h.T * cfg.topk));
  hisa::Options o;
  o.device = hisa::Device::cuda;
  hisa::select(dview, cfg, out.as<int32_t>(), o);
  std::vector<int32_t> via(h.T * cfg.topk);
  HISA_TEST_CUDA(cudaMemcpy(via.data(), out.ptr, sizeof(int32_t) * via.size(), cudaMemcpyDeviceToHost));
  EXPECT_EQ(via, direct.idx);
  std::vector<int32_t> staged(h.T * cfg.topk, kPoison);
  hisa::select(h, cfg, staged.data(), o);
  EXPECT_EQ(staged, direct.idx);
}

TEST(CudaMisa, CandidatesAboveTheLimitAreAnArgumentError) {
  SKIP_WITHOUT_GPU();
  hisa::Problem p;  // shapes only: the plan fails before touching memory
  p.dtype = DType::fp8_e4m3;
  p.T = 4, p.S = 100000, p.H = 64, p.D = 128;
  p.q = p.k = reinterpret_cast<const void*>(0x1000);
  p.w = reinterpret_cast<const float*>(0x1000);
  p.memory = hisa::Device::cuda;
  try {
    (void)hisa::cuda::misa_workspace_bytes(p, misa_cfg(2048, 64, 8, 9));  // 18432 > 16384
    FAIL() << "expected ArgumentError";
  } catch (const hisa::ArgumentError& e) {
    EXPECT_EQ(std::string(e.argument()), "candidates");
  }
}

}  // namespace
