// GPU decode == CPU reference, without GoogleTest (the device machine may have none): the same
// checks as tests/gpu/test_decode_gpu.cpp on a fixed set of cases. Portable kernels and the
// pooled-cache kernels: bit for bit; sm_90a tensor-core kernels: SPEC.md's tolerances, row by
// row (tests/gpu/hisa_gpu_check.hpp). Prints one line per case and "N passed, M failed" last;
// exit status 1 when anything failed, 0 otherwise (also without a GPU: nothing to check).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../tests/decode_fixture.hpp"
#include "../tests/gpu/decode_device_case.hpp"
#include "../tests/gpu/decode_rank_cases.hpp"
#include "../tests/gpu/hisa_gpu_check.hpp"
#include "cuda/decode_backend.hpp"

using namespace hisa_decode_test;
using hisa_gpu_test::DeviceBuffer;

namespace {

int passed = 0, failed = 0;

void report(bool ok, const std::string& what, const std::string& detail = "") {
  (ok ? passed : failed)++;
  std::printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", what.c_str(), detail.empty() ? "" : ": ",
              detail.c_str());
  std::fflush(stdout);
}

using Dev = DeviceCase;  // tests/gpu/decode_device_case.hpp

std::vector<int32_t> gpu_rows(const Dev& d, const Config& cfg, bool portable) {
  const int64_t n = d.view.batch * d.view.next_n * cfg.topk;
  DeviceBuffer out(n * 4);
  HISA_TEST_CUDA(cudaMemset(out.ptr, 0x5A, n * 4));
  hisa::Options opts;
  opts.device = hisa::Device::cuda;
  hisa::cuda::decode_force_portable(portable);
  hisa::decode_select(d.view, cfg, out.as<int32_t>(), opts);
  hisa::cuda::decode_force_portable(false);
  std::vector<int32_t> h(n);
  HISA_TEST_CUDA(cudaMemcpy(h.data(), out.ptr, n * 4, cudaMemcpyDeviceToHost));
  return h;
}

std::vector<int32_t> cpu_rows(const DecodeCase& c, const Config& cfg) {
  std::vector<int32_t> out(c.batch * c.next_n * cfg.topk);
  hisa::decode_select(c.view(), cfg, out.data());
  return out;
}

void run_case(DType dtype, int64_t next_n, int64_t P, int64_t B, bool tensor_cores) {
  const int64_t H = tensor_cores ? 64 : 4, D = tensor_cores ? 128 : 32;
  const std::vector<int32_t> lens = tensor_cores ? std::vector<int32_t>{3000, 1500, 64, 1, 129, 0, 700}
                                                 : std::vector<int32_t>{1, 16, 31, 33, 0, 3, 250, 517, 400};
  DecodeCase c = make_case(dtype, lens, next_n, H, D, P, static_cast<uint32_t>(900 + next_n + P + B));
  c.build_pooled(B);
  const Dev d(c);
  const int64_t topk = tensor_cores ? 512 : 40;
  const Config cfgs[] = {decode_cfg(Method::flat, topk), decode_cfg(Method::hisa, topk, B, 6),
                         decode_cfg(Method::block, 4 * B, B)};
  for (const Config& cfg : cfgs) {
    const std::string what = std::string(tensor_cores ? "tensor-core " : "portable ") +
                             hisa::to_string(dtype) + " next_n=" + std::to_string(next_n) +
                             " P=" + std::to_string(P) + " " + hisa::to_spec(cfg) +
                             " topk=" + std::to_string(cfg.topk);
    try {
      const std::vector<int32_t> cpu = cpu_rows(c, cfg), gpu = gpu_rows(d, cfg, !tensor_cores);
      if (!tensor_cores) {
        report(gpu == cpu, what, gpu == cpu ? "identical" : "rows differ from the CPU");
        continue;
      }
      hisa_gpu_test::TolStats st;
      for (int64_t b = 0; b < c.batch; ++b) {
        if (c.lens[b] == 0) continue;
        const hisa::Problem h = c.prefill(b);
        for (int64_t i = 0; i < c.next_n; ++i) {
          const int64_t r = b * c.next_n + i;
          hisa_gpu_test::check_row(h, i, cfg, gpu.data() + r * cfg.topk, cpu.data() + r * cfg.topk, st);
        }
      }
      report(st.violations == 0, what, st.summary());
    } catch (const std::exception& e) {
      report(false, what, std::string("exception: ") + e.what());
    }
  }
}

void pooled_case(int64_t B) {
  DecodeCase c = make_case(DType::fp8_e4m3, {700, 65, 64, 1, 300}, 1, 2, 128, 64, 77);
  c.build_pooled(B);
  const Dev d(c);
  const std::size_t n = c.num_pages * c.D;
  DeviceBuffer pooled(n * 4);
  HISA_TEST_CUDA(cudaMemset(pooled.ptr, 0xFF, n * 4));
  hisa::Options opts;
  opts.device = hisa::Device::cuda;
  const hisa::PooledCache pc{pooled.as<float>(), B};
  // Build at length - 3, then three single-token steps (per-sequence form).
  std::vector<int32_t> lens = c.lens;
  for (auto& x : lens) x = std::max(0, x - 3);
  DeviceBuffer dl(lens.data(), lens.size() * 4);
  hisa::pooled_build(d.view.cache, pc, c.batch, d.view.block_table, c.max_pages, dl.as<int32_t>(),
                     opts, hisa::Device::cuda);
  for (int step = 0; step < 3; ++step) {
    for (std::size_t b = 0; b < lens.size(); ++b) lens[b] = std::min(lens[b] + 1, c.lens[b]);
    HISA_TEST_CUDA(cudaMemcpy(dl.ptr, lens.data(), lens.size() * 4, cudaMemcpyHostToDevice));
    hisa::PooledUpdate u;
    u.batch = c.batch;
    u.block_table = d.view.block_table;
    u.max_pages = c.max_pages;
    u.context_lens = dl.as<int32_t>();
    u.new_tokens = 1;
    u.memory = hisa::Device::cuda;
    hisa::pooled_update(d.view.cache, pc, u, opts);
  }
  std::vector<float> got(n);
  HISA_TEST_CUDA(cudaMemcpy(got.data(), pooled.ptr, n * 4, cudaMemcpyDeviceToHost));
  bool ok = true;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t j = 0; j * B < c.lens[b]; ++j) {
      const int64_t e = c.table[b * c.max_pages + j * (B / c.P)];
      ok = ok && std::memcmp(got.data() + e * c.D, c.pooled.data() + e * c.D, c.D * 4) == 0;
    }
  report(ok, "pooled build + 3 appends on the GPU == CPU build, B=" + std::to_string(B));
}

// The v2 selection routine on synthetic keys == a host sort (tests/gpu/decode_rank_cases.hpp).
void rank_cases_check() {
  for (const RankCase& c : rank_cases()) {
    const std::size_t outs = static_cast<std::size_t>(c.rows) * c.K;
    DeviceBuffer keys(c.keys.data(), c.keys.size() * 4), out(outs * 4), path(c.rows * 4);
    HISA_TEST_CUDA(cudaMemset(out.ptr, 0x5A, outs * 4));
    std::string detail;
    bool ok = true;
    try {
      hisa::cuda::decode_rank_rows_for_test(keys.as<uint32_t>(), c.rows, c.n, c.K, out.as<int32_t>(),
                                            path.as<int32_t>());
      std::vector<int32_t> got(outs), paths(c.rows);
      HISA_TEST_CUDA(cudaMemcpy(got.data(), out.ptr, outs * 4, cudaMemcpyDeviceToHost));
      HISA_TEST_CUDA(cudaMemcpy(paths.data(), path.ptr, c.rows * 4, cudaMemcpyDeviceToHost));
      ok = got == host_rank(c);
      int fast = 0;
      for (int r = 0; r < c.rows; ++r) {
        fast += paths[r];
        if (c.expect_path >= 0 && paths[r] != c.expect_path) ok = false;
      }
      detail = std::to_string(fast) + "/" + std::to_string(c.rows) + " rows on the bucket path" +
               (got == host_rank(c) ? ", rows exact" : ", ROWS DIFFER");
    } catch (const std::exception& e) {
      ok = false;
      detail = std::string("exception: ") + e.what();
    }
    report(ok, "v2 rank " + c.name, detail);
  }
}

// DSA shapes (64 of many blocks, 2048 of 4096 candidates): v2 (default) == v1 on the same scorer,
// and == CPU (portable, bitwise) / within SPEC's tolerance (tensor cores).
void v2_dsa_case(int64_t next_n, bool tensor_cores, bool tied) {
  DecodeCase c = make_case(DType::fp8_e4m3, {20000, 6000, 4160, 2100, 64, 0, 9000}, next_n, 64, 128, 64,
                           4100 + static_cast<uint32_t>(next_n));
  if (tied) std::fill(c.q.begin(), c.q.begin() + c.next_n * c.H * c.D, uint8_t{0});  // all-equal scores
  c.build_pooled(64);
  const Dev d(c);
  for (const Config& cfg : {decode_cfg(Method::hisa, 2048, 64, 64), decode_cfg(Method::hisa, 512, 64, 16),
                            decode_cfg(Method::block, 2048, 64)}) {
    const std::string what = std::string("v2 vs v1 ") + (tensor_cores ? "tensor-core" : "portable") +
                             (tied ? " tied-seq0" : "") + " next_n=" + std::to_string(next_n) + " " +
                             hisa::to_spec(cfg) + " topk=" + std::to_string(cfg.topk);
    try {
      const std::vector<int32_t> cpu = cpu_rows(c, cfg);
      const std::vector<int32_t> v2 = gpu_rows(d, cfg, !tensor_cores);
      setenv("HISA_DECODE_PIPELINE", "v1", 1);
      std::vector<int32_t> v1;
      try {
        v1 = gpu_rows(d, cfg, !tensor_cores);
      } catch (...) {
        unsetenv("HISA_DECODE_PIPELINE");
        throw;
      }
      unsetenv("HISA_DECODE_PIPELINE");
      if (v2 != v1) {
        report(false, what, "v2 rows differ from v1");
        continue;
      }
      if (!tensor_cores) {
        report(v2 == cpu, what, v2 == cpu ? "identical to v1 and the CPU" : "rows differ from the CPU");
        continue;
      }
      hisa_gpu_test::TolStats st;
      for (int64_t b = 0; b < c.batch; ++b) {
        if (c.lens[b] == 0) continue;
        const hisa::Problem h = c.prefill(b);
        for (int64_t i = 0; i < c.next_n; ++i) {
          const int64_t r = b * c.next_n + i;
          hisa_gpu_test::check_row(h, i, cfg, v2.data() + r * cfg.topk, cpu.data() + r * cfg.topk, st);
        }
      }
      report(st.violations == 0, what, "identical to v1; vs CPU: " + st.summary());
    } catch (const std::exception& e) {
      report(false, what, std::string("exception: ") + e.what());
    }
  }
}

}  // namespace

int main() {
  if (hisa::cuda_device_count() == 0) {
    std::printf("no CUDA device: nothing checked\n0 passed, 0 failed\n");
    return 0;
  }
  cudaDeviceProp prop{};
  HISA_TEST_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("decode_verify on %s (cc %d.%d)\n", prop.name, prop.major, prop.minor);
  for (DType dtype : {DType::fp8_e4m3, DType::bf16})
    for (int64_t next_n : {1, 3}) run_case(dtype, next_n, 16, 32, false);
  if (prop.major == 9 && prop.minor == 0)
    for (DType dtype : {DType::fp8_e4m3, DType::bf16})
      for (int64_t next_n : {1, 2, 4})
        for (int64_t P : {64, 16}) run_case(dtype, next_n, P, 64, true);
  pooled_case(64);
  pooled_case(128);
  rank_cases_check();
  for (int64_t next_n : {1, 2}) v2_dsa_case(next_n, false, false);
  v2_dsa_case(2, false, true);
  if (prop.major == 9 && prop.minor == 0) {
    for (int64_t next_n : {1, 2}) v2_dsa_case(next_n, true, false);
    v2_dsa_case(2, true, true);
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
