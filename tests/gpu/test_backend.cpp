// The CUDA backend's contract around the kernels: errors, device-side value checks, the
// host-staged path, caller workspace and stream, graph capture, the causal default range.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "flat_test_support.hpp"

namespace hisa::test {
namespace {

Config flat_cfg(int64_t topk) {
  Config c;
  c.method = Method::flat;
  c.topk = topk;
  return c;
}

Options cuda_opts(cudaStream_t st = nullptr) {
  Options o;
  o.device = Device::cuda;
  o.stream = st;
  return o;
}

std::vector<int32_t> cpu_select(const Problem& p, const Config& cfg) {
  std::vector<int32_t> out(p.T * cfg.topk);
  Options o;
  select(p, cfg, out.data(), o);
  return out;
}

TEST(CudaBackend, DeviceCountNeverThrows) {
  EXPECT_GE(cuda_device_count(), 0);
  if (!cuda_compiled()) EXPECT_EQ(cuda_device_count(), 0);
}

TEST(CudaBackend, WorkspaceIsSizedAndBounded) {
  SKIP_WITHOUT_GPU();
  Problem p;
  p.dtype = DType::fp8_e4m3;
  p.T = p.S = 131072;
  p.H = 64;
  p.D = 128;
  p.q = p.k = reinterpret_cast<const void*>(16);
  p.w = reinterpret_cast<const float*>(16);
  const std::size_t b = workspace_bytes(p, flat_cfg(2048), Device::cuda);
  EXPECT_GT(b, 0u);
  // O(chunk * S): far below T * S * 4 bytes (64 GiB here).
  EXPECT_LT(b, std::size_t{3} << 30);
  EXPECT_EQ(workspace_bytes(p, flat_cfg(2048), Device::cpu), 0u);
}

TEST(CudaBackend, HostStagedF32EqualsCpuExactly) {
  SKIP_WITHOUT_GPU();
  GaussianSpec g;
  g.T = 200;
  g.S = 333;
  g.H = 16;
  g.D = 64;
  g.seed = 21;
  const Workload wl = make_gaussian(g);
  const Problem p = wl.problem();
  const Config cfg = flat_cfg(40);
  std::vector<int32_t> gpu(p.T * cfg.topk, kPoison);
  select(p, cfg, gpu.data(), cuda_opts());
  EXPECT_EQ(gpu, cpu_select(p, cfg));  // f32 runs the exact simt scorer
}

TEST(CudaBackend, HostStagedFp8WithinTolerance) {
  SKIP_WITHOUT_GPU();
  const Workload wl = random_fp8(600, 600, 64, 128, 22);
  const Problem p = wl.problem();
  std::vector<int32_t> gpu(p.T * 100, kPoison);
  select(p, flat_cfg(100), gpu.data(), cuda_opts());
  EXPECT_EQ(compare_with_cpu(p, gpu, 100, sample_rows(p.T, 60), false), 0);
}

TEST(CudaBackend, DeviceInputsWithCpuBackendAreRejected) {
  SKIP_WITHOUT_GPU();
  const Workload wl = random_fp8(64, 64, 64, 128, 24);
  DeviceProblem dev(wl);
  DeviceArray<int32_t> out(64 * 16);
  Options o;
  o.device = Device::cpu;
  EXPECT_THROW(select(dev.problem(), flat_cfg(16), out.get(), o), ArgumentError);
}

TEST(CudaBackend, TopkAboveLimitIsAnArgumentError) {
  SKIP_WITHOUT_GPU();
  const Workload wl = random_fp8(8, 8, 64, 128, 25);
  DeviceProblem dev(wl);
  DeviceArray<int32_t> out(8 * 20000);
  try {
    select(dev.problem(), flat_cfg(20000), out.get(), cuda_opts());
    ADD_FAILURE() << "expected ArgumentError";
  } catch (const ArgumentError& e) {
    EXPECT_EQ(e.argument(), "topk");
  }
}

// Device-side value checks report the same argument and element as the host validation.
TEST(CudaBackend, DeviceValueChecksMatchHostMessages) {
  SKIP_WITHOUT_GPU();
  Workload wl = random_fp8(128, 128, 64, 128, 26);
  wl.q[5000] = 0x7F;    // NaN code
  wl.k_scale[77] = std::numeric_limits<float>::infinity();
  DeviceProblem dev(wl);
  DeviceArray<int32_t> out(128 * 16);
  auto message = [&](const Problem& p, const Options& o) -> std::pair<std::string, std::string> {
    try {
      select(p, flat_cfg(16), p.memory == Device::cuda ? out.get() : nullptr, o);
    } catch (const ArgumentError& e) {
      return {e.argument(), e.what()};
    }
    return {"", ""};
  };
  std::vector<int32_t> host_out(128 * 16);
  std::pair<std::string, std::string> host_msg;
  try {
    select(wl.problem(), flat_cfg(16), host_out.data(), Options{});
  } catch (const ArgumentError& e) {
    host_msg = {e.argument(), e.what()};
  }
  const auto dev_msg = message(dev.problem(), cuda_opts());
  EXPECT_EQ(dev_msg.first, "q");
  EXPECT_EQ(dev_msg, host_msg);

  // allow_nonfinite skips the scan and runs.
  Options o = cuda_opts();
  o.allow_nonfinite = true;
  EXPECT_NO_THROW(select(dev.problem(), flat_cfg(16), out.get(), o));
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  // Bad ranges.
  Workload ok = random_fp8(32, 64, 64, 128, 27);
  for (auto [ks5, ke5, arg] : {std::tuple{-1, 10, "ks"}, std::tuple{20, 10, "ks"},
                               std::tuple{0, 65, "ke"}}) {
    ok.ks.assign(32, 0);
    ok.ke.assign(32, 64);
    ok.ks[5] = ks5;
    ok.ke[5] = ke5;
    DeviceProblem d(ok);
    const auto m = message(d.problem(), cuda_opts());
    EXPECT_EQ(m.first, arg);
    std::pair<std::string, std::string> h;
    try {
      std::vector<int32_t> ho(32 * 16);
      select(ok.problem(), flat_cfg(16), ho.data(), Options{});
    } catch (const ArgumentError& e) {
      h = {e.argument(), e.what()};
    }
    EXPECT_EQ(m, h);
  }
}

// NaN keys (allowed) rank below every finite score, as on the CPU (exact simt scorer).
TEST(CudaBackend, NaNKeysRankLast) {
  SKIP_WITHOUT_GPU();
  GaussianSpec g;
  g.T = 64;
  g.S = 64;
  g.H = 4;
  g.D = 16;
  Workload wl = make_gaussian(g);
  float* k = reinterpret_cast<float*>(wl.k.data());
  k[3 * 16 + 2] = std::numeric_limits<float>::quiet_NaN();
  k[40 * 16 + 0] = std::numeric_limits<float>::quiet_NaN();
  Options o = cuda_opts();
  o.allow_nonfinite = true;
  std::vector<int32_t> gpu(64 * 64, kPoison), cpu(64 * 64);
  select(wl.problem(), flat_cfg(64), gpu.data(), o);
  Options oc;
  oc.allow_nonfinite = true;
  select(wl.problem(), flat_cfg(64), cpu.data(), oc);
  EXPECT_EQ(gpu, cpu);
  // Row 63 sees all 64 keys: the two NaN keys are last, larger index first.
  EXPECT_EQ(gpu[63 * 64 + 62], 40);
  EXPECT_EQ(gpu[63 * 64 + 63], 3);
}

// Same result with: no workspace, a too-small workspace, a caller workspace on a caller
// stream, and a CUDA graph captured with check_values = false (no host sync inside).
TEST(CudaBackend, WorkspaceStreamAndGraphCapture) {
  SKIP_WITHOUT_GPU();
  const Workload wl = random_fp8(1500, 1500, 64, 128, 28);
  DeviceProblem dev(wl);
  const Problem p = dev.problem();
  const Config cfg = flat_cfg(256);
  const std::size_t n = p.T * cfg.topk;

  DeviceArray<int32_t> ref(n);
  select(p, cfg, ref.get(), cuda_opts());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<int32_t> expected = ref.download();
  EXPECT_EQ(compare_with_cpu(wl.problem(), expected, cfg.topk, sample_rows(p.T, 40), false), 0);

  cudaStream_t st;
  ASSERT_EQ(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), cudaSuccess);
  const std::size_t need = workspace_bytes(p, cfg, Device::cuda);
  DeviceArray<uint8_t> ws(need);
  DeviceArray<int32_t> out(n);

  Options small = cuda_opts(st);
  small.workspace = ws.get();
  small.workspace_bytes = need / 2;  // too small: the backend allocates its own
  out.fill_bytes(0x7F);
  select(p, cfg, out.get(), small);
  ASSERT_EQ(cudaStreamSynchronize(st), cudaSuccess);
  EXPECT_EQ(out.download(), expected);

  Options o = cuda_opts(st);
  o.workspace = ws.get();
  o.workspace_bytes = need;
  o.check_values = false;
  out.fill_bytes(0x7F);
  cudaGraph_t graph;
  ASSERT_EQ(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  select(p, cfg, out.get(), o);
  ASSERT_EQ(cudaStreamEndCapture(st, &graph), cudaSuccess);
  cudaGraphExec_t exec;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  for (int rep = 0; rep < 2; ++rep) {
    out.fill_bytes(0x7F);
    ASSERT_EQ(cudaGraphLaunch(exec, st), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(st), cudaSuccess);
    EXPECT_EQ(out.download(), expected) << "graph replay " << rep;
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(st);
}

TEST(CudaBackend, EmptyProblemsAndEmptyRanges) {
  SKIP_WITHOUT_GPU();
  Workload wl = random_fp8(16, 40, 64, 128, 29);
  wl.ks.assign(16, 0);
  wl.ke.assign(16, 0);
  for (int t = 0; t < 16; t += 2) {
    wl.ks[t] = t;
    wl.ke[t] = t + 20;
  }
  DeviceProblem dev(wl);
  DeviceArray<int32_t> out(16 * 8);
  out.fill_bytes(0x7F);
  select(dev.problem(), flat_cfg(8), out.get(), cuda_opts());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto got = out.download();
  EXPECT_EQ(compare_with_cpu(wl.problem(), got, 8, {}, false), 0);
  for (int t = 1; t < 16; t += 2)
    for (int j = 0; j < 8; ++j) EXPECT_EQ(got[t * 8 + j], -1);

  Problem none = dev.problem();
  none.T = 0;
  EXPECT_NO_THROW(select(none, flat_cfg(8), nullptr, cuda_opts()));
}

}  // namespace
}  // namespace hisa::test
