// CUDA decode against the CPU reference (SPEC.md "Decode"). The portable kernels must give the
// CPU's rows bit for bit; the sm_90a tensor-core kernels are held to the tolerances of SPEC.md
// ("Tolerances of tensor-core paths": a valid ranked top-k of the exact scores up to
// 1e-3 * magnitude, kept blocks a valid top-m up to the bf16 pooled-key tolerance), checked
// row by row against the prefill problem of each sequence (hisa_gpu_check.hpp check_row). The
// pooled-cache kernels must equal the CPU bit for bit. Every test skips without a GPU.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/decode_backend.hpp"
#include "decode_fixture.hpp"
#include "gpu/decode_rank_cases.hpp"
#include "gpu/decode_device_case.hpp"
#include "gpu/hisa_gpu_check.hpp"

namespace hisa_decode_test {
namespace {

using hisa_gpu_test::DeviceBuffer;

#define SKIP_WITHOUT_GPU()                                                   \
  do {                                                                       \
    if (hisa::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";    \
  } while (0)

std::vector<int32_t> run_gpu(const DeviceCase& dc, const Config& cfg, bool portable,
                             bool check_values = true) {
  const int64_t n = dc.view.batch * dc.view.next_n * cfg.topk;
  DeviceBuffer out(n * 4);
  HISA_TEST_CUDA(cudaMemset(out.ptr, 0x5A, n * 4));  // poison: every slot must be written
  hisa::Options opts;
  opts.device = hisa::Device::cuda;
  opts.check_values = check_values;
  hisa::cuda::decode_force_portable(portable);
  try {
    hisa::decode_select(dc.view, cfg, out.as<int32_t>(), opts);
  } catch (...) {
    hisa::cuda::decode_force_portable(false);
    throw;
  }
  hisa::cuda::decode_force_portable(false);
  std::vector<int32_t> host(n);
  HISA_TEST_CUDA(cudaMemcpy(host.data(), out.ptr, n * 4, cudaMemcpyDeviceToHost));
  return host;
}

std::vector<int32_t> run_cpu(const DecodeCase& c, const Config& cfg) {
  std::vector<int32_t> out(c.batch * c.next_n * cfg.topk);
  hisa::decode_select(c.view(), cfg, out.data());
  return out;
}


// Tolerant comparison of every row of a tensor-core run (see the file comment).
void check_tolerant(const DecodeCase& c, const Config& cfg, const std::vector<int32_t>& gpu,
                    const std::vector<int32_t>& cpu, const std::string& what) {
  hisa_gpu_test::TolStats st;
  for (int64_t b = 0; b < c.batch; ++b) {
    if (c.lens[b] == 0) {
      for (int64_t i = 0; i < c.next_n * cfg.topk; ++i)
        ASSERT_EQ(gpu[b * c.next_n * cfg.topk + i], -1) << what << ": empty sequence " << b;
      continue;
    }
    const hisa::Problem h = c.prefill(b);
    for (int64_t i = 0; i < c.next_n; ++i) {
      const int64_t r = b * c.next_n + i;
      hisa_gpu_test::check_row(h, i, cfg, gpu.data() + r * cfg.topk, cpu.data() + r * cfg.topk, st);
    }
  }
  EXPECT_EQ(st.violations, 0) << what << ": " << st.summary();
  std::printf("[ decode  ] %s: %s\n", what.c_str(), st.summary().c_str());
}

std::vector<Config> configs(int64_t B) {
  return {decode_cfg(Method::flat, 40), decode_cfg(Method::hisa, 40, B, 4),
          decode_cfg(Method::hisa, 24, B, 2), decode_cfg(Method::block, 2 * B, B)};
}

TEST(CudaDecode, PortableKernelsEqualCpuBitForBit) {
  SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::fp8_e4m3, DType::bf16}) {
    for (int64_t next_n : {1, 2, 4}) {
      DecodeCase c = make_case(dtype, {1, 16, 31, 32, 33, 0, 3, 250, 517, 64, 400}, next_n, 4, 32,
                               16, 300 + next_n);
      for (int64_t B : {16, 32}) {
        c.build_pooled(B);
        const DeviceCase dc(c);
        for (const Config& cfg : configs(B)) {
          const std::string what = std::string(hisa::to_string(dtype)) + " next_n=" +
                                   std::to_string(next_n) + " " + hisa::to_spec(cfg);
          EXPECT_EQ(run_gpu(dc, cfg, /*portable=*/true), run_cpu(c, cfg)) << what;
        }
      }
    }
  }
}

TEST(CudaDecode, PortableKernelsOnDsaShapes) {
  SKIP_WITHOUT_GPU();
  DecodeCase c = make_case(DType::fp8_e4m3, {3000, 1100, 64, 1, 129}, 2, 64, 128, 64, 41);
  c.build_pooled(64);
  const DeviceCase dc(c);
  for (const Config& cfg : {decode_cfg(Method::flat, 256), decode_cfg(Method::hisa, 256, 64, 6),
                            decode_cfg(Method::block, 256, 64)})
    EXPECT_EQ(run_gpu(dc, cfg, true), run_cpu(c, cfg)) << hisa::to_spec(cfg);
}

TEST(CudaDecode, TensorCoreKernelsWithinSpecTolerance) {
  SKIP_WITHOUT_GPU();
  if (!hisa_gpu_test::have_sm90()) GTEST_SKIP() << "needs compute capability 9.0 (sm_90a kernels)";
  for (DType dtype : {DType::fp8_e4m3, DType::bf16}) {
    for (int64_t next_n : {1, 2, 4}) {
      // H = 64, D = 128 (the sm_90a shapes); P = 64 and P = 16 (tiles straddle pages).
      for (int64_t P : {64, 16}) {
        DecodeCase c = make_case(dtype, {3000, 1500, 64, 1, 129, 0, 700}, next_n, 64, 128, P,
                                 500 + next_n + P);
        for (int64_t B : {64, 128}) {
          c.build_pooled(B);
          const DeviceCase dc(c);
          for (const Config& cfg :
               {decode_cfg(Method::flat, 512), decode_cfg(Method::hisa, 512, B, 8),
                decode_cfg(Method::hisa, 2048, B, 24), decode_cfg(Method::block, 8 * B, B)}) {
            const std::string what = std::string(hisa::to_string(dtype)) + " next_n=" +
                                     std::to_string(next_n) + " P=" + std::to_string(P) + " " +
                                     hisa::to_spec(cfg) + " topk=" + std::to_string(cfg.topk);
            check_tolerant(c, cfg, run_gpu(dc, cfg, false), run_cpu(c, cfg), what);
          }
        }
      }
    }
  }
}

// ---- v2 selection (bucket ranking, decode_rank.cuh) and the v1 pipeline ----------------------

// HISA_DECODE_PIPELINE=v1 for the lifetime of the object (the pipeline is read at every call).
struct PipelineV1 {
  PipelineV1() { setenv("HISA_DECODE_PIPELINE", "v1", 1); }
  ~PipelineV1() { unsetenv("HISA_DECODE_PIPELINE"); }
};

TEST(CudaDecode, BucketRankEqualsHostSort) {
  SKIP_WITHOUT_GPU();
  for (const RankCase& c : rank_cases()) {
    const std::size_t outs = static_cast<std::size_t>(c.rows) * c.K;
    DeviceBuffer keys(c.keys.data(), c.keys.size() * 4), out(outs * 4), path(c.rows * 4);
    HISA_TEST_CUDA(cudaMemset(out.ptr, 0x5A, outs * 4));
    hisa::cuda::decode_rank_rows_for_test(keys.as<uint32_t>(), c.rows, c.n, c.K, out.as<int32_t>(),
                                          path.as<int32_t>());
    std::vector<int32_t> got(outs), paths(c.rows);
    HISA_TEST_CUDA(cudaMemcpy(got.data(), out.ptr, outs * 4, cudaMemcpyDeviceToHost));
    HISA_TEST_CUDA(cudaMemcpy(paths.data(), path.ptr, c.rows * 4, cudaMemcpyDeviceToHost));
    EXPECT_EQ(got, host_rank(c)) << c.name;
    if (c.expect_path >= 0)
      for (int r = 0; r < c.rows; ++r)
        EXPECT_EQ(paths[r], c.expect_path) << c.name << " row " << r << " (1: bucket path, 0: fallback)";
  }
}

// DSA shapes at lengths where HISA keeps 64 of many blocks and ranks 2048 of 4096 candidates:
// the v2 pipeline (default) against the CPU (tensor cores: SPEC's tolerance; portable: bit for
// bit), and against the v1 pipeline on the same scorer (both selections are exact on the same
// keys, so the rows must be identical).
TEST(CudaDecode, V2PipelineOnDsaShapesEqualsV1AndCpu) {
  SKIP_WITHOUT_GPU();
  for (int64_t next_n : {1, 2}) {
    DecodeCase c = make_case(DType::fp8_e4m3, {20000, 6000, 4160, 2100, 64, 0, 9000}, next_n, 64, 128,
                             64, 4100 + static_cast<uint32_t>(next_n));
    c.build_pooled(64);
    const DeviceCase dc(c);
    for (const Config& cfg : {decode_cfg(Method::hisa, 2048, 64, 64), decode_cfg(Method::hisa, 512, 64, 16),
                              decode_cfg(Method::block, 2048, 64)}) {
      const std::string what = "next_n=" + std::to_string(next_n) + " " + hisa::to_spec(cfg) +
                               " topk=" + std::to_string(cfg.topk);
      const std::vector<int32_t> cpu = run_cpu(c, cfg);
      for (bool portable : {true, false}) {
        if (!portable && !hisa_gpu_test::have_sm90()) continue;
        const std::vector<int32_t> v2 = run_gpu(dc, cfg, portable);
        std::vector<int32_t> v1;
        {
          PipelineV1 old;
          v1 = run_gpu(dc, cfg, portable);
        }
        EXPECT_EQ(v2, v1) << what << (portable ? " portable" : " tensor cores") << ": v2 != v1";
        if (portable)
          EXPECT_EQ(v2, cpu) << what << " portable: != CPU";
        else
          check_tolerant(c, cfg, v2, cpu, "v2 tensor-core " + what);
      }
    }
  }
}

// Rows whose scores are all equal (zero queries: every token and block scores 0) make the bucket
// path decline; the fallback must give the exact answer (ties to the larger position).
TEST(CudaDecode, V2PipelineFallsBackOnTiedScores) {
  SKIP_WITHOUT_GPU();
  DecodeCase c = make_case(DType::fp8_e4m3, {9000, 5000, 3000}, 2, 64, 128, 64, 4321);
  std::fill(c.q.begin(), c.q.begin() + c.next_n * c.H * c.D, uint8_t{0});  // sequence 0: q = 0
  c.build_pooled(64);
  const DeviceCase dc(c);
  for (const Config& cfg : {decode_cfg(Method::hisa, 2048, 64, 64), decode_cfg(Method::block, 1024, 64)}) {
    const std::vector<int32_t> cpu = run_cpu(c, cfg);
    for (bool portable : {true, false}) {
      if (!portable && !hisa_gpu_test::have_sm90()) continue;
      const std::vector<int32_t> v2 = run_gpu(dc, cfg, portable);
      std::vector<int32_t> v1;
      {
        PipelineV1 old;
        v1 = run_gpu(dc, cfg, portable);
      }
      EXPECT_EQ(v2, v1) << hisa::to_spec(cfg) << (portable ? " portable" : " tensor cores");
      if (portable) EXPECT_EQ(v2, cpu) << hisa::to_spec(cfg) << " portable";
      else check_tolerant(c, cfg, v2, cpu, "v2 tensor-core tied " + hisa::to_spec(cfg));
    }
  }
}

// ---- pooled-key cache -------------------------------------------------------------------------

std::vector<float> download(const DeviceBuffer& b, std::size_t n) {
  std::vector<float> h(n);
  HISA_TEST_CUDA(cudaMemcpy(h.data(), b.ptr, n * 4, cudaMemcpyDeviceToHost));
  return h;
}

TEST(CudaDecode, PooledBuildAndUpdatesEqualCpuBitForBit) {
  SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::fp8_e4m3, DType::bf16}) {
    for (int64_t B : {64, 128}) {
      const std::vector<int32_t> final_lens = {700, 65, 64, 1, 300};
      DecodeCase c = make_case(dtype, final_lens, 1, 2, 128, 64, 77);
      c.build_pooled(B);  // CPU, from scratch
      const DeviceCase dc(c);
      const std::size_t n = c.num_pages * c.D;
      hisa::PooledCache gp{nullptr, B};
      hisa::Options opts;
      opts.device = hisa::Device::cuda;

      // (1) build on the GPU.
      DeviceBuffer pooled(n * 4);
      HISA_TEST_CUDA(cudaMemset(pooled.ptr, 0xFF, n * 4));  // NaN garbage in unused rows
      gp.data = pooled.as<float>();
      hisa::pooled_build(dc.view.cache, gp, c.batch, dc.view.block_table, c.max_pages,
                         dc.view.context_lens, opts, hisa::Device::cuda);
      std::vector<float> got = download(pooled, n);
      for (int64_t b = 0; b < c.batch; ++b)
        for (int64_t j = 0; j * B < c.lens[b]; ++j) {
          const int64_t e = c.table[b * c.max_pages + j * (B / c.P)];
          ASSERT_EQ(std::memcmp(got.data() + e * c.D, c.pooled.data() + e * c.D, c.D * 4), 0)
              << "build: " << hisa::to_string(dtype) << " B=" << B << " seq " << b << " block " << j;
        }

      // (2) from half-length builds, appends of 1..5 tokens through the slot mapping.
      std::vector<int32_t> lens(final_lens.size());
      for (std::size_t b = 0; b < lens.size(); ++b) lens[b] = final_lens[b] / 2;
      DeviceBuffer dlens(lens.data(), lens.size() * 4);
      HISA_TEST_CUDA(cudaMemset(pooled.ptr, 0xFF, n * 4));
      hisa::pooled_build(dc.view.cache, gp, c.batch, dc.view.block_table, c.max_pages,
                         dlens.as<int32_t>(), opts, hisa::Device::cuda);
      int step = 0;
      while (lens != final_lens) {
        std::vector<int64_t> slots;
        std::vector<int32_t> pos, seq;
        for (int64_t b = 0; b < c.batch; ++b) {
          const int32_t add = std::min(final_lens[b] - lens[b], 1 + (step + static_cast<int>(b)) % 5);
          for (int32_t t = 0; t < add; ++t) {
            const int32_t p = lens[b] + t;
            slots.push_back(int64_t{c.table[b * c.max_pages + p / c.P]} * c.P + p % c.P);
            pos.push_back(p);
            seq.push_back(static_cast<int32_t>(b));
          }
          if (add > 0 && b % 2 == 0) {  // padding
            slots.push_back(-1);
            pos.push_back(0);
            seq.push_back(0);
          }
          lens[b] += add;
        }
        ++step;
        if (slots.empty()) continue;
        DeviceBuffer ds(slots.data(), slots.size() * 8), dp(pos.data(), pos.size() * 4),
            dq(seq.data(), seq.size() * 4);
        hisa::PooledUpdate u;
        u.n = static_cast<int64_t>(slots.size());
        u.slot_mapping = ds.as<int64_t>();
        u.positions = dp.as<int32_t>();
        u.seq_index = dq.as<int32_t>();
        u.batch = c.batch;
        u.block_table = dc.view.block_table;
        u.max_pages = c.max_pages;
        u.memory = hisa::Device::cuda;
        hisa::pooled_update(dc.view.cache, gp, u, opts);
      }
      got = download(pooled, n);
      for (int64_t b = 0; b < c.batch; ++b)
        for (int64_t j = 0; j * B < c.lens[b]; ++j) {
          const int64_t e = c.table[b * c.max_pages + j * (B / c.P)];
          ASSERT_EQ(std::memcmp(got.data() + e * c.D, c.pooled.data() + e * c.D, c.D * 4), 0)
              << "slot updates: " << hisa::to_string(dtype) << " B=" << B << " seq " << b
              << " block " << j;
        }

      // (3) per-sequence form: next_n = 2 tokens per step.
      for (std::size_t b = 0; b < lens.size(); ++b) lens[b] = final_lens[b] % 2;
      HISA_TEST_CUDA(cudaMemcpy(dlens.ptr, lens.data(), lens.size() * 4, cudaMemcpyHostToDevice));
      HISA_TEST_CUDA(cudaMemset(pooled.ptr, 0xFF, n * 4));
      hisa::pooled_build(dc.view.cache, gp, c.batch, dc.view.block_table, c.max_pages,
                         dlens.as<int32_t>(), opts, hisa::Device::cuda);
      for (int64_t b = 0; b < c.batch; ++b) {
        DeviceBuffer one(lens.data() + b, 4);
        while (lens[b] != final_lens[b]) {
          lens[b] += 2;
          HISA_TEST_CUDA(cudaMemcpy(one.ptr, lens.data() + b, 4, cudaMemcpyHostToDevice));
          hisa::PooledUpdate u;
          u.batch = 1;
          u.block_table = dc.view.block_table + b * c.max_pages;
          u.max_pages = c.max_pages;
          u.context_lens = one.as<int32_t>();
          u.new_tokens = 2;
          u.memory = hisa::Device::cuda;
          hisa::pooled_update(dc.view.cache, gp, u, opts);
        }
      }
      got = download(pooled, n);
      for (int64_t b = 0; b < c.batch; ++b)
        for (int64_t j = 0; j * B < c.lens[b]; ++j) {
          const int64_t e = c.table[b * c.max_pages + j * (B / c.P)];
          ASSERT_EQ(std::memcmp(got.data() + e * c.D, c.pooled.data() + e * c.D, c.D * 4), 0)
              << "per-sequence updates: B=" << B << " seq " << b << " block " << j;
        }
    }
  }
}

// ---- contract of the CUDA entry ---------------------------------------------------------------

TEST(CudaDecode, DeviceValueChecksNameTheArgumentLikeTheHost) {
  SKIP_WITHOUT_GPU();
  DecodeCase c = make_case(DType::fp8_e4m3, {100, 40}, 1, 64, 128, 16, 8);
  c.build_pooled(32);
  const Config cfg = decode_cfg(Method::hisa, 64, 32, 2);
  auto message = [&](const DecodeCase& cc, hisa::Device mem) -> std::string {
    std::vector<int32_t> out(cc.batch * cc.next_n * cfg.topk);
    hisa::Options opts;
    opts.device = hisa::Device::cuda;
    try {
      if (mem == hisa::Device::cpu) {
        hisa::decode_select(cc.view(), cfg, out.data(), opts);
      } else {
        const DeviceCase dc(cc);
        DeviceBuffer dout(out.size() * 4);
        hisa::decode_select(dc.view, cfg, dout.as<int32_t>(), opts);
      }
    } catch (const hisa::ArgumentError& e) {
      return e.argument() + " | " + e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(message(c, hisa::Device::cuda), "(no error)");
  DecodeCase bad = c;
  bad.table[1 * c.max_pages + 2] = static_cast<int32_t>(c.num_pages + 3);
  EXPECT_EQ(message(bad, hisa::Device::cuda), message(bad, hisa::Device::cpu));
  EXPECT_EQ(message(bad, hisa::Device::cuda).rfind("block_table", 0), 0u);
  bad = c;
  bad.lens[1] = static_cast<int32_t>(c.max_pages * c.P + 1);
  EXPECT_EQ(message(bad, hisa::Device::cuda), message(bad, hisa::Device::cpu));
  EXPECT_EQ(message(bad, hisa::Device::cuda).rfind("context_lens", 0), 0u);
  bad = c;
  bad.q[77] = 0xFF;  // FP8 NaN
  EXPECT_EQ(message(bad, hisa::Device::cuda), message(bad, hisa::Device::cpu));
}

TEST(CudaDecode, HostStagedWorkspaceStreamAndGraphCapture) {
  SKIP_WITHOUT_GPU();
  DecodeCase c = make_case(DType::fp8_e4m3, {900, 300, 5}, 2, 64, 128, 64, 12);
  c.build_pooled(64);
  const DeviceCase dc(c);
  for (const Config& cfg : {decode_cfg(Method::flat, 128), decode_cfg(Method::hisa, 128, 64, 4)}) {
    // Host inputs on the CUDA backend (staged) equal device inputs.
    std::vector<int32_t> staged(c.batch * c.next_n * cfg.topk);
    hisa::Options hopts;
    hopts.device = hisa::Device::cuda;
    hisa::decode_select(c.view(), cfg, staged.data(), hopts);
    const std::vector<int32_t> direct = run_gpu(dc, cfg, false);
    EXPECT_EQ(staged, direct) << hisa::to_spec(cfg);

    // Captured into a CUDA graph with a caller workspace, replayed twice.
    cudaStream_t st;
    HISA_TEST_CUDA(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    const std::size_t need = hisa::decode_workspace_bytes(dc.view, cfg, hisa::Device::cuda);
    DeviceBuffer ws(need), out(staged.size() * 4);
    hisa::Options opts;
    opts.device = hisa::Device::cuda;
    opts.stream = st;
    opts.check_values = false;
    opts.workspace = ws.ptr;
    opts.workspace_bytes = need;
    hisa::decode_select(dc.view, cfg, out.as<int32_t>(), opts);  // warm-up: sets kernel attributes
    HISA_TEST_CUDA(cudaStreamSynchronize(st));
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    HISA_TEST_CUDA(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    hisa::decode_select(dc.view, cfg, out.as<int32_t>(), opts);
    HISA_TEST_CUDA(cudaStreamEndCapture(st, &graph));
    HISA_TEST_CUDA(cudaGraphInstantiate(&exec, graph, 0));
    for (int rep = 0; rep < 2; ++rep) {
      HISA_TEST_CUDA(cudaMemsetAsync(out.ptr, 0x5A, staged.size() * 4, st));
      HISA_TEST_CUDA(cudaGraphLaunch(exec, st));
      HISA_TEST_CUDA(cudaStreamSynchronize(st));
      std::vector<int32_t> got(staged.size());
      HISA_TEST_CUDA(cudaMemcpy(got.data(), out.ptr, got.size() * 4, cudaMemcpyDeviceToHost));
      EXPECT_EQ(got, direct) << "graph replay " << rep << " " << hisa::to_spec(cfg);
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(st);
  }
}

}  // namespace
}  // namespace hisa_decode_test
