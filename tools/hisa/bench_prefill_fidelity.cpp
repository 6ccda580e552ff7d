// Fidelity runs of `hisa bench prefill` (bench_prefill_fidelity.hpp).
#include "bench_prefill_fidelity.hpp"

#ifdef HISA_WITH_CUDA
#include <algorithm>
#include <chrono>
#include <exception>
#include <utility>

#include "cuda/common.cuh"

namespace hisa::cli {

Fidelity fidelity_length(int64_t L, const std::vector<int64_t>& ms, int64_t B, int64_t topk,
                         int64_t sample, MethodSet set, int repeats, cudaStream_t st) {
  Fidelity f;
  f.L = L;
  const auto t0 = std::chrono::steady_clock::now();
  StructuredSpec spec;
  spec.T = spec.S = L;
  spec.H = kH;
  spec.D = kD;
  spec.seed = 1;
  const Workload wl = quantize_fp8(make_structured(spec));
  f.gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Problem hp = wl.problem();
  DeviceBytes q(wl.q.size()), k(wl.k.size()), scale(wl.k_scale.size() * 4), w(wl.w.size() * 4),
      out(L * topk * 4);
  HISA_CUDA_CHECK(cudaMemcpy(q.p, wl.q.data(), wl.q.size(), cudaMemcpyHostToDevice));
  HISA_CUDA_CHECK(cudaMemcpy(k.p, wl.k.data(), wl.k.size(), cudaMemcpyHostToDevice));
  HISA_CUDA_CHECK(cudaMemcpy(scale.p, wl.k_scale.data(), wl.k_scale.size() * 4, cudaMemcpyHostToDevice));
  HISA_CUDA_CHECK(cudaMemcpy(w.p, wl.w.data(), wl.w.size() * 4, cudaMemcpyHostToDevice));
  Problem p = hp;
  p.q = q.p;
  p.k = k.p;
  p.k_scale = scale.as<float>();
  p.w = w.as<float>();
  p.memory = Device::cuda;
  Options o;
  o.device = Device::cuda;
  o.stream = st;
  o.check_values = false;

  const std::vector<int64_t> rows = eval::spread_rows(L, sample);
  f.rows = static_cast<int64_t>(rows.size());
  auto run = [&](const Config& cfg) {
    select(p, cfg, out.as<int32_t>(), o);
    HISA_CUDA_CHECK(cudaStreamSynchronize(st));
    std::vector<int32_t> all(L * topk), sub(rows.size() * topk);
    HISA_CUDA_CHECK(cudaMemcpy(all.data(), out.p, all.size() * 4, cudaMemcpyDeviceToHost));
    for (std::size_t i = 0; i < rows.size(); ++i)
      std::copy_n(all.data() + rows[i] * topk, topk, sub.data() + i * topk);
    return std::make_pair(all, sub);
  };
  const auto configs = method_configs(ms, B, topk, set);
  // Each method is also timed here (the structured workload: neighbouring queries share
  // blocks as real text does), with a caller workspace as in bench_length.
  std::size_t ws_bytes = 0;
  for (const auto& c : configs) {
    try {
      ws_bytes = std::max(ws_bytes, workspace_bytes(p, c.second, Device::cuda));
    } catch (const std::exception&) {
    }
  }
  DeviceBytes ws(ws_bytes);
  Options timed = o;
  timed.workspace = ws.p;
  timed.workspace_bytes = ws_bytes;
  auto time_it = [&](const Config& cfg) {
    return time_ms(st, repeats, [&] { select(p, cfg, out.as<int32_t>(), timed); });
  };
  const auto [flat_all, flat_sub] = run(configs[0].second);
  f.flat_ms = time_it(configs[0].second);
  f.flat_needles = eval::needle_recall({flat_all.data(), topk}, L, wl.needles);
  for (std::size_t i = 1; i < configs.size(); ++i) {
    Fidelity::Row r;
    r.name = configs[i].first;
    r.order = configs[i].second.order;
    try {
      const auto [all, sub] = run(configs[i].second);
      const int64_t n = static_cast<int64_t>(rows.size());
      r.iou = summarize(row_iou(sub.data(), topk, flat_sub.data(), topk, n));
      r.recall = summarize(row_recall(sub.data(), topk, flat_sub.data(), topk, n));
      r.needles = eval::needle_recall({all.data(), topk}, L, wl.needles);
      r.ms = time_it(configs[i].second);
    } catch (const std::exception& e) {
      r.error = e.what();
      (void)cudaGetLastError();
    }
    f.methods.push_back(r);
  }
  return f;
}

}  // namespace hisa::cli
#endif
