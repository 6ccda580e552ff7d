// Quick timing of the CUDA HISA prefill path (src/cuda/hisa_*.cu) through hisa::select with
// device memory: one causal sequence of L tokens, random FP8 e4m3 q/k (codes of N(0, 4^2)
// samples), k_scale in [0.5, 1.5), w ~ N(0, 1/H). CUDA events around the call and between its
// stages (pool | stage 1 blocks | stage 2 tokens), one warm-up, median of --reps. Prints a
// table with TFLOP/s (2*H*D per scored (query, key) pair, counted from the row geometry) and
// the key bytes streamed into the SMs, and writes JSON (device, date, commit) to --json.
//
//   hisa_timing [--L 8192,32768,131072] [--reps 5] [--B 64] [--m 64[,256...]] [--topk 2048]
//               [--method hisa|block] [--portable] [--json PATH] [--commit SHA]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cuda/hisa_launch.cuh"
#include "hisa/hisa.hpp"

namespace {

#define CK(call)                                                                        \
  do {                                                                                  \
    cudaError_t e_ = (call);                                                            \
    if (e_ != cudaSuccess) {                                                            \
      std::fprintf(stderr, "%s failed: %s\n", #call, cudaGetErrorString(e_));           \
      std::exit(1);                                                                     \
    }                                                                                   \
  } while (0)

struct Rng {
  uint64_t s;
  uint64_t next() {
    s += 0x9E3779B97F4A7C15ull;
    uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
  double normal() {
    const double u1 = std::max(uniform(), 1e-300), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::stoll(item));
  return v;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Result {
  int64_t L, m;
  double call_ms, total_ms, pool_ms, blocks_ms, tokens_ms, score_ms, flops1, flops2, bytes1, bytes2;
  std::vector<double> totals;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> Ls{8192, 32768, 131072};
  int reps = 5;
  int64_t B = 64, topk = 2048;
  std::vector<int64_t> ms{64};
  bool portable = false;
  std::string json, commit = "unknown", method = "hisa";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--L") Ls = parse_list(val());
    else if (a == "--reps") reps = std::stoi(val());
    else if (a == "--B") B = std::stoll(val());
    else if (a == "--m") ms = parse_list(val());
    else if (a == "--topk") topk = std::stoll(val());
    else if (a == "--method") method = val();
    else if (a == "--portable") portable = true;
    else if (a == "--json") json = val();
    else if (a == "--commit") commit = val();
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  const int64_t H = 64, D = 128;
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  hisa::cuda::hisa_force_portable(portable);
  hisa::Config cfg;
  cfg.method = method == "block" ? hisa::Method::block : hisa::Method::hisa;
  cfg.topk = topk;
  cfg.block_size = B;
  // Block-sparse keeps topk / B blocks whatever --m says.
  auto m_of = [&](int64_t m) { return cfg.method == hisa::Method::block ? topk / B : m; };

  std::vector<Result> results;
  for (const int64_t L : Ls) {
    // Host data (FP8 codes through a table of quantised normals: fast for 1 GB of q).
    Rng rng{static_cast<uint64_t>(L) * 7919u + 1};
    std::vector<uint8_t> table(4096);
    for (auto& c : table) c = hisa::float_to_fp8_e4m3(static_cast<float>(4.0 * rng.normal()));
    std::vector<uint8_t> q(L * H * D), k(L * D);
    for (auto* v : {&q, &k})
      for (std::size_t i = 0; i < v->size(); i += 4) {
        uint64_t z = rng.next();
        for (std::size_t e = 0; e < 4 && i + e < v->size(); ++e, z >>= 12) (*v)[i + e] = table[z & 4095];
      }
    std::vector<float> ks_scale(L), w(L * H);
    for (auto& x : ks_scale) x = static_cast<float>(0.5 + rng.uniform());
    for (auto& x : w) x = static_cast<float>(rng.normal() / 8.0);

    void *dq, *dk, *dsc, *dw, *dout;
    CK(cudaMalloc(&dq, q.size()));
    CK(cudaMalloc(&dk, k.size()));
    CK(cudaMalloc(&dsc, 4 * L));
    CK(cudaMalloc(&dw, 4 * L * H));
    CK(cudaMalloc(&dout, 4 * L * topk));
    CK(cudaMemcpy(dq, q.data(), q.size(), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dk, k.data(), k.size(), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dsc, ks_scale.data(), 4 * L, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dw, w.data(), 4 * L * H, cudaMemcpyHostToDevice));
    hisa::Problem p;
    p.dtype = hisa::DType::fp8_e4m3;
    p.T = L, p.S = L, p.H = H, p.D = D;
    p.q = dq, p.k = dk, p.k_scale = static_cast<float*>(dsc), p.w = static_cast<float*>(dw);
    p.memory = hisa::Device::cuda;
    for (const int64_t m : ms) {  // the same inputs for every m
      cfg.blocks = m;
      const int64_t m_eff = m_of(m);
      const std::size_t ws_bytes = hisa::workspace_bytes(p, cfg, hisa::Device::cuda);
      void* ws = nullptr;
      CK(cudaMalloc(&ws, std::max<std::size_t>(ws_bytes, 1)));
      hisa::Options o;
      o.device = hisa::Device::cuda;
      o.check_values = false;
      o.workspace = ws;
      o.workspace_bytes = ws_bytes;

      // Work counted from the row geometry (causal: n_t = t + 1).
      Result r{};
      r.L = L;
      r.m = m_eff;
      for (int64_t t = 0; t < L; ++t) {
        const hisa::cuda::RowGeometry g = hisa::cuda::row_geometry(
            0, static_cast<int>(t + 1), static_cast<int>(B), static_cast<int>(m_eff),
            static_cast<int>(topk));
        if (!g.all_blocks) {
          r.flops1 += 2.0 * H * D * (g.nb - 2);
          r.bytes1 += 2.0 * D * (g.nb - 2);  // bf16 pooled keys
        }
        r.flops2 += 2.0 * H * D * g.cvalid;
        r.bytes2 += 1.0 * D * g.cvalid;  // FP8 key rows
      }
      cudaEvent_t ev[4], outer[2];
      for (auto& e : ev) CK(cudaEventCreate(&e));
      for (auto& e : outer) CK(cudaEventCreate(&e));
      std::vector<double> calls;
      hisa::cuda::hisa_set_stage_events(ev);
      std::vector<double> pool, blocks, tokens;
      for (int rep = -1; rep < reps; ++rep) {  // rep -1: warm-up
        CK(cudaEventRecord(outer[0], nullptr));
        hisa::select(p, cfg, static_cast<int32_t*>(dout), o);
        CK(cudaEventRecord(outer[1], nullptr));
        CK(cudaGetLastError());
        CK(cudaEventSynchronize(outer[1]));
        float whole = 0;
        CK(cudaEventElapsedTime(&whole, outer[0], outer[1]));
        float a = 0, b = 0, c = 0;
        CK(cudaEventElapsedTime(&a, ev[0], ev[1]));
        CK(cudaEventElapsedTime(&b, ev[1], ev[2]));
        CK(cudaEventElapsedTime(&c, ev[2], ev[3]));
        if (rep < 0) continue;
        calls.push_back(whole);
        pool.push_back(a);
        blocks.push_back(b);
        tokens.push_back(c);
        r.totals.push_back(a + b + c);
      }
      // Stage 2 again without its selection (sm_90a only): scoring vs selection split. The
      // output is garbage in this mode; the normal calls above were checked below before it.
      std::vector<int32_t> last(topk);
      CK(cudaMemcpy(last.data(), static_cast<int32_t*>(dout) + (L - 1) * topk, 4 * topk,
                    cudaMemcpyDeviceToHost));
      std::vector<double> score_only;
      hisa::cuda::hisa_bench_score_only(true);
      for (int rep = -1; rep < reps && !portable; ++rep) {
        hisa::select(p, cfg, static_cast<int32_t*>(dout), o);
        CK(cudaEventSynchronize(ev[3]));
        float c = 0;
        CK(cudaEventElapsedTime(&c, ev[2], ev[3]));
        if (rep >= 0) score_only.push_back(c);
      }
      hisa::cuda::hisa_bench_score_only(false);
      hisa::cuda::hisa_set_stage_events(nullptr);
      CK(cudaDeviceSynchronize());
      // Spot check of the output: row L-1 must be a full, distinct, in-range list.
      std::vector<int32_t> sorted = last;
      std::sort(sorted.begin(), sorted.end());
      const bool ok = sorted.front() >= 0 && sorted.back() < L &&
                      std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end();
      if (!ok)
        std::fprintf(stderr, "L=%lld m=%lld: last row malformed\n", static_cast<long long>(L),
                     static_cast<long long>(m_eff));
      r.pool_ms = median(pool);
      r.blocks_ms = median(blocks);
      r.tokens_ms = median(tokens);
      r.score_ms = median(score_only);
      r.total_ms = median(r.totals);
      r.call_ms = median(calls);
      results.push_back(r);
      for (auto& e : ev) CK(cudaEventDestroy(e));
      for (auto& e : outer) CK(cudaEventDestroy(e));
      CK(cudaFree(ws));
    }  // m
    for (void* ptr : {dq, dk, dsc, dw, dout}) CK(cudaFree(ptr));
  }

  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::printf("\nCUDA %s prefill, %s, B=%lld topk=%lld, FP8, H=64 D=128, %s kernels, "
              "median of %d\n",
              method.c_str(), prop.name, (long long)B, (long long)topk,
              portable ? "portable" : "auto", reps);
  std::printf("%5s %8s %8s %9s %8s %9s %9s %9s %11s %11s %10s %10s\n", "m", "L", "call_ms", "stages_ms",
              "pool_ms", "stage1_ms", "stage2_ms", "s2_score", "s1_TFLOP/s", "s2_TFLOP/s", "s1_GB/s",
              "s2_GB/s");
  for (const Result& r : results)
    std::printf("%5lld %8lld %8.3f %9.3f %8.3f %9.3f %9.3f %9.3f %11.1f %11.1f %10.0f %10.0f\n",
                (long long)r.m, (long long)r.L, r.call_ms, r.total_ms, r.pool_ms, r.blocks_ms, r.tokens_ms, r.score_ms,
                r.blocks_ms > 0 ? r.flops1 / r.blocks_ms * 1e-9 : 0.0,
                r.flops2 / r.tokens_ms * 1e-9, r.blocks_ms > 0 ? r.bytes1 / r.blocks_ms * 1e-6 : 0.0,
                r.bytes2 / r.tokens_ms * 1e-6);
  if (!json.empty()) {
    std::ofstream f(json);
    f << "{\n  \"benchmark\": \"hisa_timing\",\n  \"device\": \"" << prop.name
      << "\",\n  \"date\": \"" << date << "\",\n  \"commit\": \"" << commit
      << "\",\n  \"method\": \"" << method << "\",\n  \"kernels\": \""
      << (portable ? "portable" : "auto") << "\",\n  \"dtype\": \"fp8_e4m3\", \"H\": 64, \"D\": 128, \"B\": "
      << B << ", \"topk\": " << topk << ", \"reps\": " << reps
      << ",\n  \"results\": [\n";
    for (std::size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      f << "    {\"m\": " << r.m << ", \"L\": " << r.L << ", \"call_ms\": " << r.call_ms << ", \"stages_ms\": " << r.total_ms << ", \"pool_ms\": " << r.pool_ms
        << ", \"stage1_ms\": " << r.blocks_ms << ", \"stage2_ms\": " << r.tokens_ms
        << ", \"stage2_score_only_ms\": " << r.score_ms
        << ", \"stage1_flops\": " << r.flops1 << ", \"stage2_flops\": " << r.flops2
        << ", \"stage1_key_bytes\": " << r.bytes1 << ", \"stage2_key_bytes\": " << r.bytes2
        << ", \"stages_ms_all\": [";
      for (std::size_t j = 0; j < r.totals.size(); ++j) f << (j ? ", " : "") << r.totals[j];
      f << "]}" << (i + 1 < results.size() ? "," : "") << "\n";
    }
    f << "  ]\n}\n";
  }
  return 0;
}
