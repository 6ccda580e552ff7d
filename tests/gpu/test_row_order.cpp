// Config::order = Order::index on the GPU: every CUDA path (flat's radix top-k, the HISA sm_90a
// kernels: dense, streaming, pairs; the portable kernels; block-sparse; MISA's re-scoring of
// candidate lists; decode's re-sort, row_order.cu) must return, per row, EXACTLY the set it
// returns in score order, ascending, -1 padding last. Both orders run the same scoring, so this
// is an exact comparison (no tolerance); score order itself is checked against the CPU by the
// other GPU tests (SPEC.md tolerances). Outputs are poisoned, so an unwritten slot fails.
// Skips without a GPU; the sm_90a variants also without compute capability 9.0.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cuda/decode_backend.hpp"
#include "gpu/decode_device_case.hpp"
#include "gpu/hisa_gpu_check.hpp"

namespace {

using namespace hisa_gpu_test;

// Rows [nrows, topk] in score order -> what Order::index must give.
std::vector<int32_t> expected_index_order(std::vector<int32_t> rows, int64_t topk) {
  hisa::order_rows_by_index(rows.data(), static_cast<int64_t>(rows.size()) / topk, topk);
  return rows;
}

void expect_rows(const std::vector<int32_t>& got, const std::vector<int32_t>& want, int64_t topk,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int64_t differ = 0, first = -1;
  for (std::size_t r = 0; r * topk < got.size(); ++r)
    if (!std::equal(got.begin() + r * topk, got.begin() + (r + 1) * topk, want.begin() + r * topk) &&
        differ++ == 0)
      first = static_cast<int64_t>(r);
  EXPECT_EQ(differ, 0) << what << ": " << differ << " rows differ, first " << first;
}

// hisa::select through the public API on device memory, output poisoned.
std::vector<int32_t> select_gpu(const DeviceProblem& dp, const Config& cfg) {
  const Problem& p = dp.view;
  DeviceBuffer out(sizeof(int32_t) * p.T * cfg.topk);
  HISA_TEST_CUDA(cudaMemset(out.ptr, 0x5A, sizeof(int32_t) * p.T * cfg.topk));
  hisa::Options o;
  o.device = hisa::Device::cuda;
  hisa::select(p, cfg, out.as<int32_t>(), o);
  HISA_TEST_CUDA(cudaDeviceSynchronize());
  std::vector<int32_t> host(p.T * cfg.topk);
  HISA_TEST_CUDA(cudaMemcpy(host.data(), out.ptr, sizeof(int32_t) * host.size(), cudaMemcpyDeviceToHost));
  return host;
}

void check_orders(const DeviceProblem& dp, Config cfg, const std::string& what) {
  cfg.order = hisa::Order::score;
  const std::vector<int32_t> by_score = select_gpu(dp, cfg);
  cfg.order = hisa::Order::index;
  const std::vector<int32_t> by_index = select_gpu(dp, cfg);
  expect_rows(by_index, expected_index_order(by_score, cfg.topk), cfg.topk, what);
}

struct HookReset {
  ~HookReset() {
    hisa::cuda::hisa_force_portable(false);
    hisa::cuda::hisa_set_streaming(-1);
    hisa::cuda::hisa_set_pairing(-1);
  }
};

Config misa_cfg(int64_t topk, int64_t a, int64_t c) {
  Config cfg;
  cfg.method = Method::misa;
  cfg.topk = topk;
  cfg.block_size = hisa::kMisaBlockSize;
  cfg.heads = a;
  cfg.candidates = c;
  return cfg;
}

// DSA shapes (H = 64, D = 128): the last T of S positions (rows of ~7.7K-8K keys, 120+ blocks
// of 64, so stage 1 and 2 both select), and a short problem whose rows are all below topk.
TEST(CudaRowOrder, EveryPrefillPathGivesTheScoreOrderSetAscending) {
  if (hisa::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  HookReset reset;
  for (DType dt : {DType::fp8_e4m3, DType::bf16}) {
    for (int64_t S : {8192, 1500}) {
      const hisa::Workload w = dsa_gaussian(384, S, 700 + S, dt);
      const DeviceProblem dp(w.problem());
      const std::string tag = std::string(hisa::to_string(dt)) + " S=" + std::to_string(S) + " ";
      Config flat;
      flat.topk = 2048;
      check_orders(dp, flat, tag + "flat");
      for (int64_t topk : {2048, 512}) {
        const Config h = hisa_cfg(topk, 64, 64);
        const std::string hs = tag + "hisa topk=" + std::to_string(topk);
        check_orders(dp, h, hs + (have_sm90() ? " sm90 dense" : " default"));
        hisa::cuda::hisa_force_portable(true);
        check_orders(dp, h, hs + " portable");
        hisa::cuda::hisa_force_portable(false);
        if (have_sm90()) {
          hisa::cuda::hisa_set_streaming(1);
          check_orders(dp, h, hs + " sm90 streaming");
          hisa::cuda::hisa_set_streaming(-1);
          hisa::cuda::hisa_set_pairing(1);
          check_orders(dp, h, hs + " sm90 pairs");
          hisa::cuda::hisa_set_pairing(-1);
        }
        check_orders(dp, hisa_cfg(topk, 128, 16), hs + " B=128 m=16");
      }
      Config block = hisa_cfg(2048, 64, 64);
      block.method = Method::block;
      check_orders(dp, block, tag + "block");
      check_orders(dp, misa_cfg(2048, 8, 1), tag + "misa a=8 c=1");
      check_orders(dp, misa_cfg(512, 8, 4), tag + "misa a=8 c=4");
    }
  }
}

// Decode ranks in score order and re-sorts (row_order.cu): portable and tensor-core kernels,
// with empty and short sequences and next_n = 2.
TEST(CudaRowOrder, DecodeGivesTheScoreOrderSetAscending) {
  if (hisa::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  hisa_decode_test::DecodeCase c = hisa_decode_test::make_case(
      DType::fp8_e4m3, {9000, 3000, 64, 0, 2100}, 2, 64, 128, 64, 913);
  c.build_pooled(64);
  const hisa_decode_test::DeviceCase dc(c);
  const hisa::DecodeProblem& view = dc.view;
  auto run = [&](Config cfg, bool portable) {
    const int64_t n = view.batch * view.next_n * cfg.topk;
    DeviceBuffer out(n * 4);
    HISA_TEST_CUDA(cudaMemset(out.ptr, 0x5A, n * 4));
    hisa::Options o;
    o.device = hisa::Device::cuda;
    hisa::cuda::decode_force_portable(portable);
    hisa::decode_select(view, cfg, out.as<int32_t>(), o);
    hisa::cuda::decode_force_portable(false);
    std::vector<int32_t> host(n);
    HISA_TEST_CUDA(cudaMemcpy(host.data(), out.ptr, n * 4, cudaMemcpyDeviceToHost));
    return host;
  };
  for (const Config& base : {hisa_decode_test::decode_cfg(Method::flat, 2048),
                             hisa_decode_test::decode_cfg(Method::hisa, 2048, 64, 64),
                             hisa_decode_test::decode_cfg(Method::block, 2048, 64)}) {
    for (bool portable : {true, false}) {
      if (!portable && !have_sm90()) continue;
      Config cfg = base;
      const std::vector<int32_t> by_score = run(cfg, portable);
      cfg.order = hisa::Order::index;
      const std::vector<int32_t> by_index = run(cfg, portable);
      expect_rows(by_index, expected_index_order(by_score, cfg.topk), cfg.topk,
                  std::string("decode ") + hisa::to_spec(base) + (portable ? " portable" : " sm90"));
    }
  }
}

}  // namespace
