// `hisa bench prefill`: the prefill indexer benchmark on one GPU. One causal sequence of L
// tokens, H = 64, D = 128, topk = 2048, FP8 e4m3 random data generated on the device:
//   * flat, its two stages timed apart (scoring: TFLOP/s with 2*H*D FLOPs per visible pair;
//     top-k: GB/s of one read of the logits), and end to end through hisa::select;
//   * HISA (B, each m), block-sparse (B, m = topk / B) and MISA (each a, c; router block
//     --misa-B) through hisa::select; these and flat end to end once per row order (--order);
//   * a device-to-device copy ceiling measured in the same run, peak device memory;
//   * fidelity (IoU / recall / needles vs flat) on the structured workload at the --fidelity-L
//     sizes, from host copies of the indices (hisa metrics functions);
//   * torch.topk on the same logits shapes, read from --torch-json (bench/prefill/torch_topk.py).
// Warm-up, CUDA events, median of --repeats. Writes JSON (device, date, commit, every figure)
// and prints a short table last.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "args.hpp"
#include "bench_prefill_fidelity.hpp"
#include "bench_prefill_methods.hpp"
#include "bench_util.hpp"
#include "commands.hpp"
#include "hisa/hisa.hpp"

#ifdef HISA_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda/common.cuh"
#include "cuda/flat_stages.hpp"
#include "eval/compare.hpp"
#endif

namespace hisa::cli {
namespace {

constexpr const char* kUsage = R"(usage: hisa bench prefill [options]

Times the prefill indexer on one GPU: one causal sequence of L tokens, H=64, D=128, FP8 e4m3
random data; flat (scoring and top-k timed apart), HISA, block-sparse and MISA side by side.

options:
  --L LIST            context lengths (default 8192,32768,65536,131072)
  --m LIST            HISA kept blocks (default 32,64,128)
  --B N               block size for HISA and block-sparse (default 64)
  --Q LIST            HISA shared_candidates tile sizes, 1 = plain HISA (default 1)
  --order LIST        row orders to time every method in: score (best first), index (the same
                      indices ascending) (default score)
  --methods LIST      which of flat,hisa,block,misa to run (default all; flat's stage
                      timings always run)
  --a LIST            MISA active heads (default 8)
  --c LIST            MISA candidate factors, 1 = plain (default 1,4)
  --misa-B N          MISA router block size (default 1024)
  --topk N            (default 2048)
  --repeats N         timed repetitions after one warm-up; the median is reported (default 5)
  --fidelity-L LIST   sizes of the structured workload for IoU/recall vs flat (default: --L)
  --fidelity-rows N   rows spread over [0, L) on which fidelity is measured (default 4096, 0 = all)
  --no-fidelity       skip the fidelity runs (which also time every method on the structured
                      workload, printed beside the random-data times)
  --flat-chunks K     time flat's stages on K evenly spaced query chunks only and scale by
                      visible pairs (marked in the JSON; for 256K-1M tokens); 0 = all
  --torch-json FILE   torch.topk timings from bench/prefill/torch_topk.py, shown side by side
  --json FILE         write every figure as JSON
  --commit SHA        git commit recorded in the JSON (default: $HISA_GIT_COMMIT or unknown)
)";

#ifdef HISA_WITH_CUDA

// A device-to-device copy of 1 GiB: (read + write) bytes / time.
double copy_ceiling_gbps(int repeats) {
  const std::size_t bytes = std::size_t{1} << 30;
  DeviceBytes a(bytes), b(bytes);
  HISA_CUDA_CHECK(cudaMemset(a.p, 1, bytes));
  Events ev(2);
  std::vector<double> t;
  for (int r = 0; r <= repeats; ++r) {
    HISA_CUDA_CHECK(cudaEventRecord(ev.e[0]));
    HISA_CUDA_CHECK(cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice));
    HISA_CUDA_CHECK(cudaEventRecord(ev.e[1]));
    HISA_CUDA_CHECK(cudaEventSynchronize(ev.e[1]));
    if (r > 0) t.push_back(ev.ms(0, 1));
  }
  return 2.0 * bytes / (median(t) * 1e-3) / 1e9;
}

struct MethodRun {
  std::string name;  // flat, hisa_m64, block
  Order order = Order::score;
  double ms = -1;
  std::string error;
  std::size_t workspace = 0;
};

struct LengthResult {
  int64_t L = 0;
  std::string scorer;
  double pairs = 0;
  double score_ms = -1, topk_ms = -1, staged_ms = -1;
  double topk_index_ms = -1;  // the top-k stage in index order (when --order lists index)
  double score_tflops = 0, topk_gbps = 0;
  int64_t chunk_rows = 0;
  int64_t flat_sampled_chunks = 0;  // > 0: flat stage times extrapolated from this many chunks
  std::vector<MethodRun> methods;
  double device_used_gb = 0, buffers_gb = 0;
};

LengthResult bench_length(int64_t L, const std::vector<int64_t>& ms, int64_t B, int64_t topk,
                          int repeats, MethodSet set, int64_t flat_chunks, cudaStream_t st) {
  LengthResult res;
  res.L = L;
  const int64_t T = L, S = L;
  DeviceBytes q(T * kH * kD), k(S * kD), scale(S * 4), w(T * kH * 4), ks(T * 4), ke(T * 4),
      out(T * topk * 4);
  cuda::fill_random_fp8(q.as<uint8_t>(), T * kH * kD, k.as<uint8_t>(), S * kD, scale.as<float>(),
                        S, w.as<float>(), T * kH, kH, 1234 + L, st);
  std::vector<int32_t> hks(T, 0), hke(T);
  for (int64_t t = 0; t < T; ++t) hke[t] = static_cast<int32_t>(S - T + t + 1);
  HISA_CUDA_CHECK(cudaMemcpy(ks.p, hks.data(), T * 4, cudaMemcpyHostToDevice));
  HISA_CUDA_CHECK(cudaMemcpy(ke.p, hke.data(), T * 4, cudaMemcpyHostToDevice));

  Problem p;
  p.dtype = DType::fp8_e4m3;
  p.T = T;
  p.S = S;
  p.H = kH;
  p.D = kD;
  p.q = q.p;
  p.k = k.p;
  p.k_scale = scale.as<float>();
  p.w = w.as<float>();
  p.memory = Device::cuda;  // default causal range: the API path materialises it
  Problem pe = p;           // explicit ranges for the stage timings
  pe.ks = ks.as<int32_t>();
  pe.ke = ke.as<int32_t>();
  res.pairs = 0.5 * static_cast<double>(L) * static_cast<double>(L + 1);

  const auto configs = method_configs(ms, B, topk, set);
  std::size_t ws_bytes = 0;
  for (const auto& [name, cfg] : configs) {
    MethodRun m;
    m.name = name;
    m.order = cfg.order;
    try {
      m.workspace = workspace_bytes(p, cfg, Device::cuda);
      ws_bytes = std::max(ws_bytes, m.workspace);
    } catch (const std::exception& e) {
      m.error = e.what();
    }
    res.methods.push_back(m);
  }
  DeviceBytes ws(ws_bytes);
  std::size_t free_b = 0, total_b = 0;
  HISA_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  res.device_used_gb = (total_b - free_b) / 1e9;
  res.buffers_gb = (T * kH * kD + S * kD + S * 4 + T * kH * 4 + T * 8 + T * topk * 4 + ws_bytes) / 1e9;

  // Flat, stage by stage (the layout flat_select uses).
  const cuda::FlatScorer scorer = cuda::resolve_flat_scorer(pe, cuda::FlatScorer::automatic);
  res.scorer = cuda::to_string(scorer);
  const int64_t rows = cuda::flat_chunk_rows(pe), ld = cuda::flat_logits_ld(pe);
  res.chunk_rows = rows;
  cuda::WorkspaceCarver carve(ws.p);
  float* logits = carve.take<float>(rows * ld);
  void* scratch = carve.take<unsigned char>(cuda::flat_score_scratch_bytes(rows));
  const int64_t chunks = cuda::ceil_div(T, rows);
  // --flat-chunks K: time only K evenly spaced chunks and scale by visible pairs (long L).
  std::vector<int64_t> timed;
  double timed_pairs = 0;
  const bool sampled = flat_chunks > 0 && flat_chunks < chunks;
  for (int64_t i = 0; i < (sampled ? flat_chunks : chunks); ++i) {
    const int64_t c = sampled ? (2 * i + 1) * chunks / (2 * flat_chunks) : i;
    timed.push_back(c);
    const int64_t t0 = c * rows, n = std::min(rows, T - t0);
    timed_pairs += static_cast<double>(n) * (t0 + 1) + 0.5 * static_cast<double>(n) * (n - 1);
  }
  res.flat_sampled_chunks = sampled ? flat_chunks : 0;
  const double scale_up = sampled ? res.pairs / timed_pairs : 1.0;
  // Per chunk: scoring, the top-k in score order, then (if index order is asked for) the
  // top-k of the same logits in index order.
  const bool time_index =
      std::find(set.orders.begin(), set.orders.end(), Order::index) != set.orders.end();
  Events ev(4 * chunks);
  std::vector<double> score_t, topk_t, topk_index_t;
  for (int r = 0; r <= repeats; ++r) {
    for (int64_t c : timed) {
      const int64_t t0 = c * rows, n = std::min(rows, T - t0);
      HISA_CUDA_CHECK(cudaEventRecord(ev.e[4 * c], st));
      cuda::flat_score_rows(pe, pe.ks, pe.ke, t0, n, logits, ld, scratch, scorer, st);
      HISA_CUDA_CHECK(cudaEventRecord(ev.e[4 * c + 1], st));
      cuda::flat_topk_rows(logits, ld, S, pe.ks, pe.ke, t0, n, topk, out.as<int32_t>(), st);
      HISA_CUDA_CHECK(cudaEventRecord(ev.e[4 * c + 2], st));
      if (time_index)
        cuda::flat_topk_rows(logits, ld, S, pe.ks, pe.ke, t0, n, topk, out.as<int32_t>(), st,
                             /*by_index=*/true);
      HISA_CUDA_CHECK(cudaEventRecord(ev.e[4 * c + 3], st));
    }
    HISA_CUDA_CHECK(cudaStreamSynchronize(st));
    if (r == 0) continue;
    double s = 0, k2 = 0, k3 = 0;
    for (int64_t c : timed) {
      s += ev.ms(4 * c, 4 * c + 1);
      k2 += ev.ms(4 * c + 1, 4 * c + 2);
      k3 += ev.ms(4 * c + 2, 4 * c + 3);
    }
    score_t.push_back(s * scale_up);
    topk_t.push_back(k2 * scale_up);
    topk_index_t.push_back(k3 * scale_up);
  }
  res.score_ms = median(score_t);
  res.topk_ms = median(topk_t);
  if (time_index) res.topk_index_ms = median(topk_index_t);
  res.staged_ms = res.score_ms + res.topk_ms;
  res.score_tflops = 2.0 * kH * kD * res.pairs / (res.score_ms * 1e-3) / 1e12;
  res.topk_gbps = 4.0 * res.pairs / (res.topk_ms * 1e-3) / 1e9;

  // Every method end to end through the public API (device memory, caller workspace, no
  // value scan: the graph-capturable hot path).
  for (std::size_t i = 0; i < configs.size(); ++i) {
    MethodRun& m = res.methods[i];
    if (!m.error.empty()) continue;
    if (sampled && configs[i].second.method == Method::flat) {
      m.error = "not run end to end: flat stages timed on " + std::to_string(flat_chunks) +
                " of " + std::to_string(chunks) + " chunks and scaled by visible pairs";
      continue;
    }
    Options o;
    o.device = Device::cuda;
    o.stream = st;
    o.workspace = ws.p;
    o.workspace_bytes = ws_bytes;
    o.check_values = false;
    try {
      m.ms = time_ms(st, repeats, [&] { select(p, configs[i].second, out.as<int32_t>(), o); });
    } catch (const std::exception& e) {
      m.error = e.what();
      (void)cudaGetLastError();
    }
  }
  return res;
}

// torch.topk timings keyed by L, from the small JSON torch_topk.py writes:
// {"rows": [{"L": 8192, "topk_ms": 1.7, ...}, ...]}.
std::map<int64_t, double> read_torch(const std::string& path) {
  std::map<int64_t, double> m;
  if (path.empty()) return m;
  std::ifstream in(path);
  if (!in) throw ArgumentError("--torch-json", "cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  std::size_t pos = 0;
  while ((pos = s.find("\"L\":", pos)) != std::string::npos) {
    const int64_t L = std::strtoll(s.c_str() + pos + 4, nullptr, 10);
    const std::size_t t = s.find("\"topk_ms\":", pos);
    if (t == std::string::npos) break;
    m[L] = std::strtod(s.c_str() + t + 10, nullptr);
    pos = t;
  }
  return m;
}

std::string summary_json(const Summary& s) {
  return "{\"mean\": " + num(s.mean) + ", \"p1\": " + num(s.p1) + ", \"p5\": " + num(s.p5) +
         ", \"min\": " + num(s.min) + "}";
}

int run_prefill(const std::vector<std::string>& argv) {
  const Args a(argv,
               {"--L", "--m", "--B", "--Q", "--order", "--methods", "--topk", "--repeats", "--fidelity-L", "--fidelity-rows",
                "--flat-chunks",
                "--a", "--c", "--misa-B",
                "--torch-json", "--json", "--commit"},
               {"--no-fidelity", "--help"});
  if (a.has("--help")) {
    std::cout << kUsage;
    return 0;
  }
  const auto Ls = a.integers("--L", {8192, 32768, 65536, 131072});
  const auto ms = a.integers("--m", {32, 64, 128});
  const int64_t B = a.integer("--B", 64), topk = a.integer("--topk", 2048);
  const int repeats = static_cast<int>(a.integer("--repeats", 5));
  const auto fid_Ls = a.has("--no-fidelity") ? std::vector<int64_t>{} : a.integers("--fidelity-L", Ls);
  const int64_t fid_rows = a.integer("--fidelity-rows", 4096);
  const int64_t flat_chunks = a.integer("--flat-chunks", 0);
  if (flat_chunks < 0) throw ArgumentError("--flat-chunks", "must be >= 0");
  for (int64_t L : Ls)
    if (L < 1) throw ArgumentError("--L", "lengths must be >= 1");
  if (repeats < 1) throw ArgumentError("--repeats", "must be >= 1");
  MethodSet set;
  set.hisa = set.block = set.misa = false;
  set.misa_a = a.integers("--a", set.misa_a);
  set.misa_c = a.integers("--c", set.misa_c);
  set.misa_B = a.integer("--misa-B", set.misa_B);
  set.hisa_q = a.integers("--Q", set.hisa_q);
  for (int64_t Q : set.hisa_q)
    if (Q < 1) throw ArgumentError("--Q", "tile sizes must be >= 1, got " + std::to_string(Q));
  {
    std::stringstream list(a.str("--order", "score"));
    std::string item;
    set.orders.clear();
    while (std::getline(list, item, ',')) set.orders.push_back(parse_order(item, "--order"));
    if (set.orders.empty()) throw ArgumentError("--order", "expected a list of score, index");
  }
  {
    std::stringstream list(a.str("--methods", "flat,hisa,block,misa"));
    std::string item;
    while (std::getline(list, item, ',')) {
      if (item == "hisa") set.hisa = true;
      else if (item == "block") set.block = true;
      else if (item == "misa") set.misa = true;
      else if (item != "flat")
        throw ArgumentError("--methods", "expected a list of flat, hisa, block, misa; got '" + item + "'");
    }
  }
  const auto torch = read_torch(a.str("--torch-json"));
  std::string commit = a.str("--commit");
  if (commit.empty()) commit = std::getenv("HISA_GIT_COMMIT") ? std::getenv("HISA_GIT_COMMIT") : "unknown";

  cudaDeviceProp prop{};
  int dev = 0, driver = 0, runtime = 0;
  HISA_CUDA_CHECK(cudaGetDevice(&dev));
  HISA_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  cudaStream_t st;
  HISA_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));

  const double copy_gbps = copy_ceiling_gbps(repeats);
  std::cerr << "copy ceiling " << num(copy_gbps) << " GB/s\n";
  std::vector<LengthResult> results;
  for (int64_t L : Ls) {
    results.push_back(bench_length(L, ms, B, topk, repeats, set, flat_chunks, st));
    std::cerr << "L=" << L << " done\n";
  }
  std::vector<Fidelity> fids;
  for (int64_t L : fid_Ls) {
    fids.push_back(fidelity_length(L, ms, B, topk, fid_rows, set, repeats, st));
    std::cerr << "fidelity L=" << L << " done (structured workload built in "
              << num(fids.back().gen_s) << " s)\n";
  }

  std::ostringstream js;
  js << "{\n \"benchmark\": \"hisa bench prefill\",\n \"device\": " << json_str(prop.name)
     << ",\n \"sm_count\": " << prop.multiProcessorCount << ",\n \"device_memory_gb\": "
     << num(prop.totalGlobalMem / 1e9) << ",\n \"driver_version\": " << driver
     << ",\n \"runtime_version\": " << runtime << ",\n \"date\": " << json_str(utc_now())
     << ",\n \"commit\": " << json_str(commit) << ",\n \"H\": " << kH << ", \"D\": " << kD
     << ", \"topk\": " << topk << ", \"B\": " << B << ", \"misa_B\": " << set.misa_B
     << ", \"repeats\": " << repeats
     << ",\n \"data\": \"random FP8 e4m3 (codes of N(0,16)), k_scale U[0.5,1.5), w N(0,1/H)\""
     << ",\n \"copy_gbps\": " << num(copy_gbps) << ",\n \"prefill\": [";
  for (std::size_t i = 0; i < results.size(); ++i) {
    const LengthResult& r = results[i];
    js << (i ? "," : "") << "\n  {\"L\": " << r.L << ", \"scorer\": " << json_str(r.scorer)
       << ", \"chunk_rows\": " << r.chunk_rows << ", \"visible_pairs\": " << num(r.pairs)
       << ", \"flat_score_ms\": " << num(r.score_ms) << ", \"flat_topk_ms\": " << num(r.topk_ms)
       << ", \"flat_staged_ms\": " << num(r.staged_ms)
       << ", \"flat_sampled_chunks\": " << r.flat_sampled_chunks
       << ", \"flat_score_tflops\": " << num(r.score_tflops)
       << ", \"flat_topk_gbps_one_read\": " << num(r.topk_gbps)
       << ", \"device_used_gb\": " << num(r.device_used_gb)
       << ", \"buffers_gb\": " << num(r.buffers_gb);
    if (r.topk_index_ms > 0) js << ", \"flat_topk_index_ms\": " << num(r.topk_index_ms);
    if (torch.count(r.L)) {
      js << ", \"torch_topk_ms\": " << num(torch.at(r.L))
         << ", \"topk_speedup_vs_torch\": " << num(torch.at(r.L) / r.topk_ms);
      if (r.topk_index_ms > 0)
        js << ", \"topk_index_speedup_vs_torch\": " << num(torch.at(r.L) / r.topk_index_ms);
    }
    js << ", \"methods\": {";
    for (std::size_t j = 0; j < r.methods.size(); ++j) {
      const MethodRun& m = r.methods[j];
      js << (j ? ", " : "") << json_str(method_key(m.name, m.order))
         << ": {\"order\": " << json_str(to_string(m.order)) << ", \"ms\": " << num(m.ms)
         << ", \"workspace_bytes\": " << m.workspace;
      if (!m.error.empty()) js << ", \"error\": " << json_str(m.error);
      js << "}";
    }
    js << "}}";
  }
  js << "\n ],\n \"fidelity\": [";
  for (std::size_t i = 0; i < fids.size(); ++i) {
    const Fidelity& f = fids[i];
    js << (i ? "," : "") << "\n  {\"L\": " << f.L << ", \"rows\": " << f.rows
       << ", \"workload\": \"make_structured (seed 1) + quantize_fp8\""
       << ", \"flat_needle_recall\": " << num(f.flat_needles) << ", \"flat_ms\": " << num(f.flat_ms)
       << ", \"methods\": {";
    for (std::size_t j = 0; j < f.methods.size(); ++j) {
      const auto& m = f.methods[j];
      js << (j ? ", " : "") << json_str(method_key(m.name, m.order))
         << ": {\"order\": " << json_str(to_string(m.order)) << ", ";
      if (m.error.empty())
        js << "\"iou\": " << summary_json(m.iou) << ", \"recall\": " << summary_json(m.recall)
           << ", \"needle_recall\": " << num(m.needles) << ", \"ms\": " << num(m.ms);
      else
        js << "\"error\": " << json_str(m.error);
      js << "}";
    }
    js << "}}";
  }
  js << "\n ]\n}\n";
  if (a.has("--json")) {
    std::ofstream f(a.str("--json"));
    if (!f) throw ArgumentError("--json", "cannot write '" + a.str("--json") + "'");
    f << js.str();
  }

  // Short table, last: a line per L and row order, flat end to end as "select", then the
  // other methods of that order.
  const auto configs = method_configs(ms, B, topk, set);
  const std::size_t per_order = configs.size() / set.orders.size();
  std::printf("\nhisa bench prefill on %s (%s), copy ceiling %.0f GB/s, times in ms (median of %d)\n",
              prop.name, commit.c_str(), copy_gbps, repeats);
  std::printf("%7s %6s %7s %9s %7s %9s %7s %8s %8s", "L", "order", "scorer", "score", "TFLOP/s",
              "topk", "GB/s", "torch", "select");
  for (std::size_t j = 1; j < per_order; ++j) std::printf(" %9s", configs[j].first.c_str());
  std::printf("\n");
  for (const LengthResult& r : results)
    for (std::size_t o = 0; o < set.orders.size(); ++o) {
      const MethodRun* runs = r.methods.data() + o * per_order;
      // The top-k stage in this line's order (score order unless index was timed).
      const bool idx = set.orders[o] == Order::index && r.topk_index_ms > 0;
      const double topk_ms = idx ? r.topk_index_ms : r.topk_ms;
      std::printf("%7lld %6s %7s %9.3f %7.0f %9.3f %7.0f %8s %8.3f", static_cast<long long>(r.L),
                  to_string(set.orders[o]), r.scorer.c_str(), r.score_ms, r.score_tflops,
                  topk_ms, r.topk_gbps * r.topk_ms / topk_ms,
                  torch.count(r.L) ? num(torch.at(r.L)).c_str() : "-", runs[0].ms);
      for (std::size_t j = 1; j < per_order; ++j)
        std::printf(" %9s", runs[j].error.empty() ? num(runs[j].ms).c_str() : "err");
      std::printf("\n");
    }
  for (const Fidelity& f : fids) {
    std::vector<std::string> cells{num(f.flat_ms)};  // every config's time, as in `configs`
    for (const auto& m : f.methods) cells.push_back(m.error.empty() ? num(m.ms) : "err");
    for (std::size_t o = 0; o < set.orders.size(); ++o) {
      std::printf("%7lld %6s %7s %9s %7s %9s %7s %8s %8s", static_cast<long long>(f.L),
                  to_string(set.orders[o]), "struct", "-", "-", "-", "-", "-",
                  cells[o * per_order].c_str());
      for (std::size_t j = 1; j < per_order; ++j)
        std::printf(" %9s", cells[o * per_order + j].c_str());
      std::printf("   (structured workload)\n");
    }
  }
  for (const Fidelity& f : fids) {
    std::printf("fidelity L=%lld (%lld rows, flat needles %.2f):", static_cast<long long>(f.L),
                static_cast<long long>(f.rows), f.flat_needles);
    for (const auto& m : f.methods) {
      const std::string key = method_key(m.name, m.order);
      if (m.error.empty())
        std::printf("  %s IoU %.4f (p1 %.3f) rec %.4f", key.c_str(), m.iou.mean, m.iou.p1,
                    m.recall.mean);
      else
        std::printf("  %s err", key.c_str());
    }
    std::printf("\n");
  }
  for (const LengthResult& r : results)
    for (const MethodRun& m : r.methods)
      if (!m.error.empty())
        std::printf("L=%lld %s: %s\n", static_cast<long long>(r.L),
                    method_key(m.name, m.order).c_str(), m.error.c_str());
  cudaStreamDestroy(st);
  return 0;
}

#endif  // HISA_WITH_CUDA

}  // namespace

int cmd_bench(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "decode") return cmd_bench_decode({args.begin() + 1, args.end()});
  if (args[0] != "prefill")
    throw ArgumentError("bench", "unknown benchmark '" + args[0] + "' (expected: prefill, decode)");
  const std::vector<std::string> rest(args.begin() + 1, args.end());
#ifdef HISA_WITH_CUDA
  if (std::find(rest.begin(), rest.end(), "--help") == rest.end() && cuda_device_count() == 0)
    throw BackendError("hisa bench prefill: no CUDA-capable GPU is visible to this process");
  return run_prefill(rest);
#else
  if (std::find(rest.begin(), rest.end(), "--help") != rest.end()) {
    std::cout << kUsage;
    return 0;
  }
  throw BackendError(
      "hisa bench prefill: this build of hisa has no CUDA backend (configure with nvcc on PATH, "
      "-DHISA_CUDA=ON)");
#endif
}

}  // namespace hisa::cli
