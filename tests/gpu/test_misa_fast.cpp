// CUDA MISA, tensor-core path (sm_90a: misa_router_sm90.cu, the flat wgmma scorer with kA
// routed heads per query, f16 or f32 routed logits, hisa_sm90.cu's re-scoring of candidate
// lists; H = 64, D = 128, FP8 or bf16). Tolerances (misa_gpu_check.hpp): the GPU's head set may
// differ from the exact router only by near-tied heads (kTolR = 4e-3 of the bf16 error
// magnitude); each routed row is compared with the CPU reference computed WITH THE GPU'S HEADS:
// differing tokens must tie the k-th full score I within 1e-3 x the Cauchy-Schwarz magnitude
// (SPEC.md "Tolerances of tensor-core paths") or the c*topk-th routed score I_A within 2e-3 x
// its magnitude (tensor-core error + f16 logit rounding). Unrouted rows are flat's answer
// (checked as flat). Every test also checks every row's structure and that no output entry was
// left unwritten (poisoned output, stale workspace). Skipped without a GPU; on a non-sm_90 GPU
// the automatic path is the portable one and the same checks hold.
#include <gtest/gtest.h>

#include <iostream>

#include "misa_gpu_check.hpp"

namespace {

using namespace hisa_gpu_test;

#define SKIP_WITHOUT_GPU() \
  if (hisa::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device"

bool is_sm90() {
  cudaDeviceProp prop{};
  int dev = 0;
  return cudaGetDevice(&dev) == cudaSuccess && cudaGetDeviceProperties(&prop, dev) == cudaSuccess &&
         prop.major == 9 && prop.minor == 0;
}

hisa::Workload gaussian(int64_t T, int64_t S, uint64_t seed, DType dt) {
  hisa::GaussianSpec g;
  g.T = T, g.S = S, g.H = 64, g.D = 128, g.seed = seed;
  hisa::Workload w = hisa::make_gaussian(g);
  return dt == DType::fp8_e4m3 ? hisa::quantize_fp8(w) : hisa::to_bf16(w);
}

// Runs the automatic path (sm_90a here) with the given logits mode; checks every row's
// structure and `nsample` rows against the CPU.
void run_and_compare(const hisa::Problem& h, const Config& cfg, int64_t nsample,
                     const std::string& what, int logits = 0) {
  DeviceProblem dp(h);
  const MisaRun g = run_misa(dp, cfg, is_sm90() ? 1 : 0, logits);
  EXPECT_EQ(g.unwritten, 0) << what;
  int64_t first = -1;
  EXPECT_EQ(malformed_rows(h, cfg, g, &first), 0) << what << ": first malformed row " << first;
  const MisaStats st = compare_misa(h, cfg, g, spread(h.T, nsample));
  std::cout << "[misa fast] " << what << ": " << st.summary() << "\n";
  EXPECT_TRUE(st.ok()) << what << ": " << st.summary();
}

TEST(CudaMisaFast, DsaPlainF16AndF32Logits) {
  SKIP_WITHOUT_GPU();
  const Fp8Problem p = make_fp8_random(8192, 8192, 201);
  run_and_compare(p.view(), misa_cfg(2048, 64, 8, 1), 48, "random fp8 T=S=8192 a=8 c=1 B=64 f16", 0);
  run_and_compare(p.view(), misa_cfg(2048, 64, 8, 1), 24, "random fp8 T=S=8192 a=8 c=1 B=64 f32", 1);
}

TEST(CudaMisaFast, DsaHierarchicalC4) {
  SKIP_WITHOUT_GPU();
  const Fp8Problem p = make_fp8_random(1024, 16384, 202);  // the last 1024 queries of 16K
  run_and_compare(p.view(), misa_cfg(2048, 1024, 8, 4), 24, "random fp8 S=16384 a=8 c=4 B=1024");
}

TEST(CudaMisaFast, StructuredFp8AndBf16) {
  SKIP_WITHOUT_GPU();
  hisa::StructuredSpec spec;
  spec.T = spec.S = 6144;
  const hisa::Workload f = hisa::make_structured(spec);
  run_and_compare(hisa::quantize_fp8(f).problem(), misa_cfg(1024, 128, 8, 2), 48,
                  "structured fp8 T=S=6144 a=8 c=2 B=128");
  run_and_compare(hisa::to_bf16(f).problem(), misa_cfg(1024, 128, 8, 2), 48,
                  "structured bf16 T=S=6144 a=8 c=2 B=128");
}

TEST(CudaMisaFast, HeadCountsAndPadding) {
  SKIP_WITHOUT_GPU();
  const hisa::Workload w = gaussian(1500, 3000, 211, DType::fp8_e4m3);
  // a = 3 pads to 8 head slots, 16 and 32 are the other grouped scorers, 40 pads to 64
  // (the flat wgmma scorer on the gathered heads).
  for (int64_t a : {3, 16, 32, 40})
    run_and_compare(w.problem(), misa_cfg(256, 64, a, 2), 24,
                    "gaussian fp8 a=" + std::to_string(a) + " c=2");
}

TEST(CudaMisaFast, PackedBatchUnalignedStarts) {
  SKIP_WITHOUT_GPU();
  std::vector<hisa::Workload> seqs;
  seqs.push_back(gaussian(1500, 1500, 221, DType::fp8_e4m3));
  seqs.push_back(gaussian(3001, 3001, 222, DType::fp8_e4m3));
  seqs.push_back(gaussian(700, 2100, 223, DType::fp8_e4m3));  // late queries of a long prefix
  const hisa::Workload packed = hisa::pack_sequences(seqs);
  run_and_compare(packed.problem(), misa_cfg(256, 64, 8, 2), 64, "packed fp8 1500+3001+2100");
  run_and_compare(packed.problem(), misa_cfg(512, 96, 8, 1), 64, "packed fp8 B=96 c=1");
}

TEST(CudaMisaFast, ShortRowsEmptyRowsAndNoFullBlocks) {
  SKIP_WITHOUT_GPU();
  Fp8Problem p = make_fp8_random(512, 4096, 231);
  p.ks.resize(p.T);
  p.ke.resize(p.T);
  for (int64_t t = 0; t < p.T; ++t) {  // empty rows, n <= topk, n <= c*topk, n <= B, long rows
    const int32_t a = static_cast<int32_t>((t * 389) % 1500);
    const int32_t len = t % 9 == 0 ? 0 : static_cast<int32_t>((t * 211) % 2600);
    p.ks[t] = a;
    p.ke[t] = a + len;
  }
  run_and_compare(p.view(), misa_cfg(128, 64, 8, 2), 512, "windows fp8 topk=128 c=2 B=64");
  run_and_compare(p.view(), misa_cfg(128, 1024, 8, 1), 512, "windows fp8 topk=128 B=1024");
}

TEST(CudaMisaFast, RepeatedRunsAreIdentical) {
  SKIP_WITHOUT_GPU();
  const Fp8Problem p = make_fp8_random(2048, 6000, 241);
  DeviceProblem dp(p.view());
  const Config cfg = misa_cfg(1024, 64, 8, 2);
  const MisaRun a = run_misa(dp, cfg, 0), b = run_misa(dp, cfg, 0);
  EXPECT_EQ(a.idx, b.idx);
  EXPECT_EQ(a.heads, b.heads);
}

TEST(CudaMisaFast, GraphCaptureAndHostStagedMatchDirect) {
  SKIP_WITHOUT_GPU();
  const Fp8Problem p = make_fp8_random(1024, 4096, 251);
  const hisa::Problem h = p.view();
  const Config cfg = misa_cfg(512, 64, 8, 2);
  DeviceProblem dp(h);
  const MisaRun direct = run_misa(dp, cfg, 0);
  hisa::Problem dview = dp.view;
  dview.ks = dview.ke = nullptr;  // causal default, materialised by the backend
  const std::size_t ws_bytes = hisa::workspace_bytes(dview, cfg, hisa::Device::cuda);
  DeviceBuffer ws(ws_bytes), out(sizeof(int32_t) * h.T * cfg.topk);
  cudaStream_t st;
  HISA_TEST_CUDA(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  hisa::Options o;
  o.device = hisa::Device::cuda;
  o.stream = st;
  o.workspace = ws.ptr;
  o.workspace_bytes = ws_bytes;
  o.check_values = false;
  hisa::select(dview, cfg, out.as<int32_t>(), o);  // warm-up (function attributes, tables)
  HISA_TEST_CUDA(cudaStreamSynchronize(st));
  HISA_TEST_CUDA(cudaMemsetAsync(out.ptr, 0x5A, sizeof(int32_t) * h.T * cfg.topk, st));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  HISA_TEST_CUDA(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
  hisa::select(dview, cfg, out.as<int32_t>(), o);
  HISA_TEST_CUDA(cudaStreamEndCapture(st, &graph));
  HISA_TEST_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  for (int rep = 0; rep < 2; ++rep) {
    HISA_TEST_CUDA(cudaMemsetAsync(out.ptr, 0x5A, sizeof(int32_t) * h.T * cfg.topk, st));
    HISA_TEST_CUDA(cudaGraphLaunch(exec, st));
    HISA_TEST_CUDA(cudaStreamSynchronize(st));
    std::vector<int32_t> got(h.T * cfg.topk);
    HISA_TEST_CUDA(cudaMemcpy(got.data(), out.ptr, sizeof(int32_t) * got.size(), cudaMemcpyDeviceToHost));
    EXPECT_EQ(got, direct.idx) << "graph replay " << rep;
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(st);
  std::vector<int32_t> staged(h.T * cfg.topk, kPoison);
  hisa::Options hs;
  hs.device = hisa::Device::cuda;
  hisa::select(h, cfg, staged.data(), hs);
  EXPECT_EQ(staged, direct.idx);
}

// Small enough for compute-sanitizer (bench/device/sanitize.sh): every sm_90a MISA kernel
// (pooling, key norms, router, grouped wgmma scorer with f16 logits, unordered top-k,
// re-scoring with the register sort) on 256 queries.
TEST(CudaMisaFast, SanitizerSized) {
  SKIP_WITHOUT_GPU();
  const Fp8Problem p = make_fp8_random(256, 4096, 261);
  run_and_compare(p.view(), misa_cfg(2048, 64, 8, 1), 16, "sanitizer-sized fp8 a=8 c=1");
  run_and_compare(p.view(), misa_cfg(256, 64, 8, 2), 16, "sanitizer-sized fp8 a=8 c=2 topk=256");
}

}  // namespace
