// CUDA flat selector against the CPU backend on the same inputs (flat_test_support.hpp states
// the tolerance): every scorer, FP8 / bf16 / f32, random and structured workloads, odd shapes,
// packed batches, T = 32K. Outputs are poisoned first so every slot must be written.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cuda/flat_stages.hpp"
#include "cuda/methods.cuh"
#include "flat_test_support.hpp"

namespace hisa::test {
namespace {

using cuda::FlatScorer;

// Runs flat on the GPU with `scorer` (device memory, caller workspace, own stream) and returns
// the [T, topk] rows.
std::vector<int32_t> gpu_flat(const Workload& wl, int64_t topk, FlatScorer scorer) {
  DeviceProblem dev(wl);
  Problem p = dev.problem();
  Config cfg;
  cfg.method = Method::flat;
  cfg.topk = topk;
  DeviceArray<int32_t> out(p.T * topk);
  out.fill_bytes(0x7F);  // poison: 0x7F7F7F7F in every slot
  cudaStream_t st;
  EXPECT_EQ(cudaStreamCreate(&st), cudaSuccess);
  if (scorer == FlatScorer::automatic) {
    Options o;
    o.device = Device::cuda;
    o.stream = st;
    const std::size_t need = workspace_bytes(p, cfg, Device::cuda);
    DeviceArray<uint8_t> ws(need);
    o.workspace = ws.get();
    o.workspace_bytes = need;
    select(p, cfg, out.get(), o);
    EXPECT_EQ(cudaStreamSynchronize(st), cudaSuccess);
  } else {
    // The stage API needs explicit ranges: materialise the causal default like the backend.
    std::vector<int32_t> ks(p.T), ke(p.T);
    for (int64_t t = 0; t < p.T; ++t) {
      const Range r = range_of(wl.problem(), t);
      ks[t] = static_cast<int32_t>(r.ks);
      ke[t] = static_cast<int32_t>(r.ke);
    }
    DeviceArray<int32_t> dks(ks), dke(ke);
    p.ks = dks.get();
    p.ke = dke.get();
    DeviceArray<uint8_t> ws(cuda::flat_workspace_bytes(p, cfg));
    cuda::flat_select_with(p, cfg, out.get(), ws.get(), scorer, st);
    EXPECT_EQ(cudaStreamSynchronize(st), cudaSuccess);
  }
  cudaStreamDestroy(st);
  return out.download();
}

bool scorer_available(const Workload& wl, FlatScorer s) {
  if (s == FlatScorer::automatic) return true;
  DeviceProblem dev(wl);
  try {
    cuda::resolve_flat_scorer(dev.problem(), s);
    return true;
  } catch (const BackendError&) {
    return false;
  }
}

void expect_matches_cpu(const Workload& wl, int64_t topk, FlatScorer scorer,
                        const std::vector<int64_t>& rows = {}) {
  if (!scorer_available(wl, scorer)) {
    std::cout << "[ skipped scorer " << cuda::to_string(scorer) << " for " << wl.description
              << " ]\n";
    return;
  }
  const std::vector<int32_t> gpu = gpu_flat(wl, topk, scorer);
  const Problem host = wl.problem();
  const bool exact = scorer == FlatScorer::simt;
  EXPECT_EQ(compare_with_cpu(host, gpu, topk, rows, exact), 0)
      << cuda::to_string(scorer) << " on " << wl.description << " topk=" << topk;
  // Every slot written (not only the compared rows).
  for (int64_t t = 0; t < host.T; ++t) {
    const std::string e = check_row_shape(host, t, gpu.data() + t * topk, topk);
    if (!e.empty()) {
      ADD_FAILURE() << cuda::to_string(scorer) << ": " << e;
      break;
    }
  }
}

TEST(CudaFlat, EveryScorerOnRandomFp8) {
  SKIP_WITHOUT_GPU();
  const Workload wl = random_fp8(700, 900, 64, 128, 1);  // T < S: ranges start mid-way
  for (FlatScorer s : {FlatScorer::simt, FlatScorer::mma, FlatScorer::wgmma, FlatScorer::wgmma_wide,
                       FlatScorer::wgmma_n128, FlatScorer::automatic})
    expect_matches_cpu(wl, 64, s);
}

TEST(CudaFlat, StructuredFp8Topk2048) {
  SKIP_WITHOUT_GPU();
  StructuredSpec spec;
  spec.T = spec.S = 4096;
  spec.seed = 7;
  const Workload wl = quantize_fp8(make_structured(spec));
  const auto rows = sample_rows(wl.T, 96);
  for (FlatScorer s : {FlatScorer::automatic, FlatScorer::mma}) expect_matches_cpu(wl, 2048, s, rows);
}

TEST(CudaFlat, Bf16GaussianAndStructured) {
  SKIP_WITHOUT_GPU();
  GaussianSpec g;
  g.T = g.S = 1024;
  g.seed = 3;
  const Workload wl = to_bf16(make_gaussian(g));
  expect_matches_cpu(wl, 128, FlatScorer::automatic);
  expect_matches_cpu(wl, 128, FlatScorer::simt);
  StructuredSpec spec;
  spec.T = spec.S = 2048;
  spec.seed = 4;
  expect_matches_cpu(to_bf16(make_structured(spec)), 512, FlatScorer::automatic,
                     sample_rows(2048, 64));
}

TEST(CudaFlat, F32IsBitwiseExact) {
  SKIP_WITHOUT_GPU();
  GaussianSpec g;
  g.T = 300;
  g.S = 500;
  g.H = 8;
  g.D = 40;
  g.seed = 5;
  const Workload wl = make_gaussian(g);
  expect_matches_cpu(wl, 50, FlatScorer::automatic);  // f32 resolves to the simt scorer
  expect_matches_cpu(wl, 50, FlatScorer::simt);
}

TEST(CudaFlat, OddShapesPadHeadsAndDims) {
  SKIP_WITHOUT_GPU();
  GaussianSpec g;
  g.T = 257;
  g.S = 611;
  g.H = 10;
  g.D = 40;
  g.seed = 6;
  const Workload wl = quantize_fp8(make_gaussian(g));
  for (FlatScorer s : {FlatScorer::simt, FlatScorer::mma, FlatScorer::automatic})
    expect_matches_cpu(wl, 37, s);
}

TEST(CudaFlat, PackedBatches) {
  SKIP_WITHOUT_GPU();
  std::vector<Workload> seqs;
  int64_t seed = 10;
  for (int64_t len : {700, 1500, 3, 2100}) {
    GaussianSpec g;
    g.T = g.S = len;
    g.seed = ++seed;
    seqs.push_back(quantize_fp8(make_gaussian(g)));
  }
  const Workload wl = pack_sequences(seqs);
  for (FlatScorer s : {FlatScorer::simt, FlatScorer::wgmma, FlatScorer::wgmma_wide,
                       FlatScorer::wgmma_n128, FlatScorer::mma, FlatScorer::automatic})
    expect_matches_cpu(wl, 256, s, sample_rows(wl.T, 200));
}

TEST(CudaFlat, Long32KContext) {
  SKIP_WITHOUT_GPU();
  const Workload wl = random_fp8(32768, 32768, 64, 128, 9);
  expect_matches_cpu(wl, 2048, FlatScorer::automatic, sample_rows(wl.T, 40));
}

TEST(CudaFlat, TopkLargerThanEveryRange) {
  SKIP_WITHOUT_GPU();
  const Workload wl = random_fp8(100, 150, 64, 128, 12);
  expect_matches_cpu(wl, 300, FlatScorer::automatic);  // every row: all visible keys, -1 after
  expect_matches_cpu(wl, 300, FlatScorer::simt);
}

}  // namespace
}  // namespace hisa::test
