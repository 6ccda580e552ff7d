// CUDA HISA / block-sparse, portable kernels (hisa_portable.cu): BITWISE equal to the CPU
// backend on every input (same arithmetic contract), so these tests demand identical idx rows.
// Also: poisoned outputs, packed batches with ks not a multiple of B, empty rows, NaN scores,
// m >= nb == flat, whole blocks for block-sparse, the dispatcher path, and size errors.
#include <gtest/gtest.h>

#include "hisa_gpu_check.hpp"

namespace {

using namespace hisa_gpu_test;

#define SKIP_WITHOUT_GPU() \
  if (hisa::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device"

hisa::Workload gaussian(int64_t T, int64_t S, int64_t H, int64_t D, uint64_t seed, DType dt) {
  hisa::GaussianSpec g;
  g.T = T, g.S = S, g.H = H, g.D = D, g.seed = seed;
  hisa::Workload w = hisa::make_gaussian(g);
  if (dt == DType::fp8_e4m3) return hisa::quantize_fp8(w);
  if (dt == DType::bf16) return hisa::to_bf16(w);
  // f32: add a per-key scale so k_scale is exercised in f32 too.
  w.k_scale.resize(w.S);
  for (int64_t s = 0; s < w.S; ++s) w.k_scale[s] = 0.5f + static_cast<float>((s * 37) % 100) / 100.f;
  return w;
}

// Portable GPU == CPU, row for row.
void expect_exact(const hisa::Problem& h, const Config& cfg, const std::string& what) {
  DeviceProblem dp(h);
  const GpuRun g = run_direct(dp, cfg, /*portable=*/true);
  EXPECT_EQ(g.unwritten, 0) << what;
  const std::vector<int32_t> c = cpu_select(h, cfg);
  int64_t bad_rows = 0, first = -1;
  for (int64_t t = 0; t < h.T; ++t) {
    if (!std::equal(g.idx.begin() + t * cfg.topk, g.idx.begin() + (t + 1) * cfg.topk,
                    c.begin() + t * cfg.topk)) {
      if (first < 0) first = t;
      ++bad_rows;
    }
  }
  EXPECT_EQ(bad_rows, 0) << what << ": first differing row " << first;
}

TEST(CudaHisaPortable, MatchesCpuExactlyAllDtypes) {
  SKIP_WITHOUT_GPU();
  for (DType dt : {DType::f32, DType::bf16, DType::fp8_e4m3}) {
    const hisa::Workload w = gaussian(600, 700, 8, 32, 11 + static_cast<int>(dt), dt);
    // B does not divide the row lengths; m small so most rows select blocks.
    expect_exact(w.problem(), hisa_cfg(48, 16, 6), std::string("hisa ") + hisa::to_string(dt));
    expect_exact(w.problem(), hisa_cfg(64, 8, 2), std::string("hisa m=2 ") + hisa::to_string(dt));
  }
}

TEST(CudaHisaPortable, DsaShapeMatchesCpuExactly) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = gaussian(1200, 1500, 64, 128, 5, DType::fp8_e4m3);
  expect_exact(w.problem(), hisa_cfg(256, 64, 8), "fp8 H=64 D=128");
}

TEST(CudaHisaPortable, PackedBatchUnalignedStarts) {
  SKIP_WITHOUT_GPU();
  for (DType dt : {DType::f32, DType::fp8_e4m3}) {
    std::vector<hisa::Workload> seqs;
    seqs.push_back(gaussian(300, 333, 4, 24, 21, dt));
    seqs.push_back(gaussian(517, 517, 4, 24, 22, dt));
    seqs.push_back(gaussian(90, 1000, 4, 24, 23, dt));  // T < S: late queries of a long prefix
    const hisa::Workload packed = hisa::pack_sequences(seqs);
    ASSERT_NE(packed.ks[400] % 16, 0);  // a ks that is not a multiple of B
    expect_exact(packed.problem(), hisa_cfg(40, 16, 5), std::string("packed ") + hisa::to_string(dt));
  }
}

TEST(CudaHisaPortable, EmptyAndShortRowsAndExplicitRanges) {
  SKIP_WITHOUT_GPU();
  hisa::Workload w = gaussian(256, 800, 4, 16, 31, DType::f32);
  w.ks.resize(w.T);
  w.ke.resize(w.T);
  for (int64_t t = 0; t < w.T; ++t) {
    // Mixed windows: empty rows, rows shorter than topk, long rows starting anywhere.
    const int32_t a = static_cast<int32_t>((t * 97) % 400);
    const int32_t len = (t % 7 == 0) ? 0 : static_cast<int32_t>((t * 53) % 400);
    w.ks[t] = a;
    w.ke[t] = a + len;
  }
  expect_exact(w.problem(), hisa_cfg(32, 8, 4), "windows");
}

TEST(CudaHisaPortable, NanScoresRankLast) {
  SKIP_WITHOUT_GPU();
  hisa::Workload w = gaussian(200, 300, 4, 16, 41, DType::f32);
  float* k = reinterpret_cast<float*>(w.k.data());
  for (int64_t s = 0; s < w.S; s += 13) k[s * w.D + 3] = NAN;  // NaN keys -> NaN scores
  const hisa::Problem h = w.problem();
  const Config cfg = hisa_cfg(64, 8, 4);
  DeviceProblem dp(h);
  const GpuRun g = run_direct(dp, cfg, true);
  EXPECT_EQ(g.unwritten, 0);
  const std::vector<int32_t> c = cpu_select(h, cfg, /*allow_nonfinite=*/true);
  EXPECT_EQ(g.idx, c);
}

TEST(CudaHisaPortable, ManyBlocksEqualsFlat) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = gaussian(500, 500, 8, 32, 51, DType::bf16);
  Config flat;
  flat.method = Method::flat;
  flat.topk = 64;
  const std::vector<int32_t> f = cpu_select(w.problem(), flat);
  DeviceProblem dp(w.problem());
  const GpuRun g = run_direct(dp, hisa_cfg(64, 16, 32), true);  // m = 32 >= nb
  EXPECT_EQ(g.unwritten, 0);
  EXPECT_EQ(g.idx, f);
}

TEST(CudaHisaPortable, BlockSparseReturnsWholeBlocks) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = gaussian(700, 900, 4, 32, 61, DType::fp8_e4m3);
  Config cfg;
  cfg.method = Method::block;
  cfg.topk = 64;
  cfg.block_size = 16;  // m = 4 blocks
  const hisa::Problem h = w.problem();
  expect_exact(h, cfg, "block-sparse");
  DeviceProblem dp(h);
  const GpuRun g = run_direct(dp, cfg, true);
  for (int64_t t = 0; t < h.T; ++t) {
    const hisa::Range r = hisa::range_of(h, t);
    std::set<int32_t> got;
    for (int64_t i = 0; i < cfg.topk; ++i)
      if (g.idx[t * cfg.topk + i] >= 0) got.insert(g.idx[t * cfg.topk + i]);
    for (int32_t s : got) {
      const int64_t j = (s - r.ks) / cfg.block_size;
      for (int64_t u = r.ks + j * cfg.block_size;
           u < std::min<int64_t>(r.ke, r.ks + (j + 1) * cfg.block_size); ++u)
        ASSERT_TRUE(got.count(static_cast<int32_t>(u))) << "row " << t << " block " << j;
    }
  }
}

TEST(CudaHisa, DispatcherDeviceAndStagedPaths) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = gaussian(900, 1000, 64, 128, 71, DType::fp8_e4m3);
  const hisa::Problem h = w.problem();
  const Config cfg = hisa_cfg(128, 64, 4);
  DeviceProblem dp(h);
  const GpuRun direct = run_direct(dp, cfg, false);
  // Device memory through hisa::select with the causal default (backend materialises ks/ke).
  hisa::Problem dview = dp.view;
  dview.ks = dview.ke = nullptr;
  DeviceBuffer out(sizeof(int32_t) * h.T * cfg.topk);
  HISA_TEST_CUDA(cudaMemset(out.ptr, 0x5A, sizeof(int32_t) * h.T * cfg.topk));
  hisa::Options o;
  o.device = hisa::Device::cuda;
  hisa::select(dview, cfg, out.as<int32_t>(), o);
  std::vector<int32_t> via(h.T * cfg.topk);
  HISA_TEST_CUDA(cudaMemcpy(via.data(), out.ptr, sizeof(int32_t) * via.size(), cudaMemcpyDeviceToHost));
  EXPECT_EQ(via, direct.idx);
  // Host memory, staged.
  std::vector<int32_t> staged(h.T * cfg.topk, kPoison);
  hisa::select(h, cfg, staged.data(), o);
  EXPECT_EQ(staged, direct.idx);
}

TEST(CudaHisa, OversizedWorkingSetIsABackendError) {
  SKIP_WITHOUT_GPU();
  hisa::Problem p;  // shapes only: the plan fails before touching memory
  p.dtype = DType::f32;
  p.T = 4, p.S = 200000, p.H = 64, p.D = 128;
  p.q = p.k = reinterpret_cast<const void*>(0x1000);
  p.w = reinterpret_cast<const float*>(0x1000);
  p.memory = hisa::Device::cuda;
  Config cfg = hisa_cfg(100000, 64, 64);  // 100000 candidates per row do not fit on chip
  EXPECT_THROW(hisa::cuda::hisa_workspace_bytes(p, cfg), hisa::BackendError);
}

}  // namespace
