// `hisa bench decode`: the decode indexer benchmark on one GPU, as engines call it. For each
// context length L, batch and next_n: a random FP8 paged cache (P-token pages, random block
// tables), one query group per sequence at context L, H = 64, D = 128, topk = 2048;
//   * flat, HISA (B, each m) and block-sparse through hisa::decode_select, each call captured
//     in a CUDA graph (the serving path: no host launch gaps), caller workspace, no value
//     checks; timed one graph launch at a time with CUDA events;
//   * the pooled-cache append of one decode step (next_n new tokens per sequence) likewise;
//   * inputs rotated over disjoint sets (cache pages, q, w, tables) covering >= 3x the L2, so
//     every call starts cold, as MiniMax's MSA benchmarks do (DESIGN.md);
//   * outputs poisoned before every call and checked after (every slot written, in range,
//     distinct, -1 padded);
//   * bytes each step must move (cache bytes of the positions scored, pooled rows, logits) and
//     the GB/s that implies, against a device-to-device copy ceiling measured in the same run.
// Median (and min, p90, CV) of --repeats calls per set. JSON with every figure; a short table
// is printed last.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "hisa/hisa.hpp"

#ifdef HISA_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda/decode_bench.hpp"
#endif

namespace hisa::cli {
namespace {

constexpr const char* kUsage = R"(usage: hisa bench decode [options]

Times decode selection on one GPU: `batch` sequences of context L in a random FP8 paged cache
(P-token pages, [pages, P, 1, D+4]), next_n queries each, H=64, D=128; flat, HISA and
block-sparse through hisa::decode_select inside CUDA graphs, plus the pooled-cache append of
one step. Inputs rotate over disjoint sets larger than 3x the L2 (cold cache).

options:
  --L LIST          context lengths (default 32768,131072)
  --batch LIST      sequences per step (default 1,8,64,256)
  --next-n LIST     queries per sequence (default 1,2)
  --m LIST          HISA kept blocks (default 64)
  --B N             HISA / block-sparse block size (default 64)
  --P N             page size (default 64)
  --topk N          (default 2048)
  --methods LIST    which of flat,hisa,block (default all)
  --repeats N       timed calls per input set (default 10); median over all calls
  --max-gb X        device memory the inputs may use (default 40)
  --json FILE       write every figure as JSON
  --commit SHA      git commit recorded in the JSON (default: $HISA_GIT_COMMIT or unknown)
)";

#ifdef HISA_WITH_CUDA

#define BENCH_CUDA(call)                                                                    \
  do {                                                                                      \
    cudaError_t e_ = (call);                                                                \
    if (e_ != cudaSuccess)                                                                  \
      throw BackendError(std::string("hisa bench decode: ") + #call + ": " + cudaGetErrorString(e_)); \
  } while (0)

constexpr int64_t kH = 64, kD = 128;
constexpr int32_t kPoison = 0x5A5A5A5A;

std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}
std::string num(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}
std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

struct Stats {
  double median = NAN, min = NAN, p90 = NAN, cv = NAN;
  int n = 0;
};
Stats stats_of(std::vector<double> v) {
  Stats s;
  s.n = static_cast<int>(v.size());
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.median = v[v.size() / 2];
  s.min = v.front();
  s.p90 = v[std::min(v.size() - 1, static_cast<std::size_t>(std::ceil(0.9 * v.size())) - 1)];
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  s.cv = mean > 0 ? std::sqrt(var / v.size()) / mean : NAN;
  return s;
}

struct DevMem {
  void* p = nullptr;
  explicit DevMem(std::size_t bytes) {
    if (bytes) BENCH_CUDA(cudaMalloc(&p, bytes));
  }
  ~DevMem() {
    if (p) cudaFree(p);
  }
  template <class T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

double copy_ceiling_gbps(cudaStream_t st) {
  const std::size_t bytes = std::size_t{1} << 30;
  DevMem a(bytes), b(bytes);
  BENCH_CUDA(cudaMemsetAsync(a.p, 1, bytes, st));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<double> ms;
  for (int i = 0; i < 6; ++i) {
    cudaEventRecord(e0, st);
    BENCH_CUDA(cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice, st));
    cudaEventRecord(e1, st);
    cudaEventSynchronize(e1);
    float t = 0;
    cudaEventElapsedTime(&t, e0, e1);
    if (i > 0) ms.push_back(t);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return 2.0 * bytes / (stats_of(ms).median * 1e-3) / 1e9;  // read + write
}

struct MethodRun {
  std::string name;  // flat, hisa, block
  Config cfg;
};

struct Result {
  int64_t L, batch, next_n;
  std::string method;
  int64_t m = 0;
  Stats ms;
  double bytes = 0;  // bytes the step must move
  std::string error;
  int64_t sets = 0;
  bool outputs_ok = false;
};

// Bytes one step must move: keys (and scales) of every scored position, pooled rows read,
// q, w, logits written and read once (flat), candidate keys (HISA, block).
double step_bytes(const MethodRun& mr, int64_t L, int64_t batch, int64_t next_n, int64_t P) {
  const double key = kD + 4, rows = double(batch) * next_n;
  const double q = rows * kH * (kD + 4);
  if (mr.cfg.method == Method::flat) return batch * L * key + q + 2.0 * rows * L * 4;
  const int64_t B = mr.cfg.block_size;
  const int64_t m = mr.cfg.method == Method::block ? mr.cfg.topk / B : mr.cfg.blocks;
  const int64_t nb = L / B;
  const double cand = std::min<double>(L, double(m) * B);
  (void)P;
  return batch * (nb * kD * 4.0) + rows * cand * key + q + rows * cand * 4 * 2;
}

int run_decode(const std::vector<std::string>& argv) {
  const Args a(argv, {"--L", "--batch", "--next-n", "--m", "--B", "--P", "--topk", "--methods",
                      "--repeats", "--max-gb", "--json", "--commit"},
               {"--help"});
  if (a.has("--help")) {
    std::cout << kUsage;
    return 0;
  }
  const auto Ls = a.integers("--L", {32768, 131072});
  const auto batches = a.integers("--batch", {1, 8, 64, 256});
  const auto next_ns = a.integers("--next-n", {1, 2});
  const auto ms = a.integers("--m", {64});
  const int64_t B = a.integer("--B", 64), P = a.integer("--P", 64), topk = a.integer("--topk", 2048);
  const int repeats = static_cast<int>(std::max<int64_t>(1, a.integer("--repeats", 10)));
  const double max_gb = a.real("--max-gb", 40.0);
  const std::string methods = a.str("--methods", "flat,hisa,block");
  const char* env_commit = std::getenv("HISA_GIT_COMMIT");
  const std::string commit = a.str("--commit", env_commit ? env_commit : "unknown");

  std::vector<MethodRun> runs;
  auto wants = [&](const std::string& n) { return ("," + methods + ",").find("," + n + ",") != std::string::npos; };
  if (wants("flat")) {
    Config c;
    c.method = Method::flat;
    c.topk = topk;
    runs.push_back({"flat", c});
  }
  if (wants("hisa"))
    for (int64_t m : ms) {
      Config c;
      c.method = Method::hisa;
      c.topk = topk;
      c.block_size = B;
      c.blocks = m;
      runs.push_back({"hisa", c});
    }
  if (wants("block")) {
    Config c;
    c.method = Method::block;
    c.topk = topk;
    c.block_size = B;
    runs.push_back({"block", c});
  }

  int dev = 0;
  BENCH_CUDA(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  BENCH_CUDA(cudaGetDeviceProperties(&prop, dev));
  cudaStream_t st;
  BENCH_CUDA(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  const double copy_gbps = copy_ceiling_gbps(st);
  const double l2 = prop.l2CacheSize;
  std::fprintf(stderr, "[bench decode] %s: copy ceiling %.0f GB/s, L2 %.0f MB\n", prop.name,
               copy_gbps, l2 / 1e6);

  std::vector<Result> results;
  struct AppendResult {
    int64_t L, batch, next_n;
    Stats ms;
  };
  std::vector<AppendResult> appends;
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::mt19937_64 rng(12345);

  for (int64_t L : Ls)
    for (int64_t batch : batches)
      for (int64_t next_n : next_ns) {
        const int64_t pps = (L + P - 1) / P, max_pages = pps;
        const int64_t page_bytes = P * (kD + 4);
        const double set_bytes = double(batch) * pps * page_bytes;
        int64_t sets = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(3.0 * l2 / set_bytes)), 1, 64);
        const double per_set = set_bytes * (1.0 + 4.0 * kD / page_bytes) +
                               double(batch) * next_n * kH * (kD + 4);
        while (sets > 1 && sets * per_set > max_gb * 1e9) --sets;
        if (per_set > max_gb * 1e9) {
          std::fprintf(stderr, "L=%lld batch=%lld: %.1f GB > --max-gb, skipped\n", (long long)L,
                       (long long)batch, per_set / 1e9);
          continue;
        }
        const int64_t num_pages = sets * batch * pps;
        const int64_t rows = batch * next_n;
        DevMem cache(static_cast<std::size_t>(num_pages * page_bytes));
        DevMem pooled(static_cast<std::size_t>(num_pages * kD * 4));
        DevMem q(static_cast<std::size_t>(sets * rows * kH * kD));
        DevMem w(static_cast<std::size_t>(sets * rows * kH * 4));
        DevMem lens(static_cast<std::size_t>(batch * 4));
        DevMem tables(static_cast<std::size_t>(sets * batch * max_pages * 4));
        DevMem out(static_cast<std::size_t>(rows * topk * 4));
        hisa::cuda::fill_decode_random(cache.as<uint8_t>(), num_pages, P, kD, q.as<uint8_t>(),
                                       sets * rows * kH * kD, w.as<float>(), sets * rows * kH,
                                       static_cast<uint64_t>(L * 1000003 + batch * 101 + next_n), st);
        std::vector<int32_t> h_lens(batch, static_cast<int32_t>(L));
        std::vector<int32_t> perm(num_pages);
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), rng);  // disjoint random pages per set
        BENCH_CUDA(cudaMemcpyAsync(lens.p, h_lens.data(), batch * 4, cudaMemcpyHostToDevice, st));
        BENCH_CUDA(cudaMemcpyAsync(tables.p, perm.data(), num_pages * 4, cudaMemcpyHostToDevice, st));
        BENCH_CUDA(cudaStreamSynchronize(st));

        auto problem = [&](int64_t s) {
          DecodeProblem p;
          p.cache = PagedCache{DType::fp8_e4m3, num_pages, P, kD, cache.p};
          p.batch = batch;
          p.next_n = next_n;
          p.H = kH;
          p.q = q.as<uint8_t>() + s * rows * kH * kD;
          p.w = w.as<float>() + s * rows * kH;
          p.context_lens = lens.as<int32_t>();
          p.block_table = tables.as<int32_t>() + s * batch * max_pages;
          p.max_pages = max_pages;
          p.pooled = pooled.as<float>();
          p.memory = Device::cuda;
          return p;
        };
        Options opts;
        opts.device = Device::cuda;
        opts.stream = st;
        opts.check_values = false;
        // Prefill-to-decode hand-off: the pooled rows of every set.
        for (int64_t s = 0; s < sets; ++s) {
          const DecodeProblem p = problem(s);
          pooled_build(p.cache, PooledCache{pooled.as<float>(), B}, batch, p.block_table, max_pages,
                       p.context_lens, opts, Device::cuda);
        }
        BENCH_CUDA(cudaStreamSynchronize(st));

        // Times graph launches: one graph per set, `repeats` rounds over all sets after one.
        auto time_graphs = [&](const std::vector<cudaGraphExec_t>& execs, bool poison) {
          std::vector<double> t;
          for (int round = -1; round < repeats; ++round)
            for (std::size_t s = 0; s < execs.size(); ++s) {
              if (poison) BENCH_CUDA(cudaMemsetAsync(out.p, 0x5A, rows * topk * 4, st));
              cudaEventRecord(e0, st);
              BENCH_CUDA(cudaGraphLaunch(execs[s], st));
              cudaEventRecord(e1, st);
              BENCH_CUDA(cudaEventSynchronize(e1));
              float ms_ = 0;
              cudaEventElapsedTime(&ms_, e0, e1);
              if (round >= 0) t.push_back(ms_);
            }
          return stats_of(t);
        };
        auto capture = [&](auto&& enqueue) {
          enqueue();  // outside capture first: kernel attributes, errors surface here
          BENCH_CUDA(cudaStreamSynchronize(st));
          cudaGraph_t g;
          cudaGraphExec_t exec;
          BENCH_CUDA(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
          enqueue();
          BENCH_CUDA(cudaStreamEndCapture(st, &g));
          BENCH_CUDA(cudaGraphInstantiate(&exec, g, 0));
          cudaGraphDestroy(g);
          return exec;
        };

        for (const MethodRun& mr : runs) {
          Result r{L, batch, next_n, mr.name, mr.cfg.method == Method::flat ? 0
                                              : mr.cfg.method == Method::block ? topk / B
                                                                                : mr.cfg.blocks};
          r.sets = sets;
          r.bytes = step_bytes(mr, L, batch, next_n, P);
          std::vector<cudaGraphExec_t> execs;
          try {
            const std::size_t need = decode_workspace_bytes(problem(0), mr.cfg, Device::cuda);
            DevMem ws(need);
            Options o = opts;
            o.workspace = ws.p;
            o.workspace_bytes = need;
            for (int64_t s = 0; s < sets; ++s)
              execs.push_back(capture([&] { decode_select(problem(s), mr.cfg, out.as<int32_t>(), o); }));
            r.ms = time_graphs(execs, true);
            // Output check of the last call: every slot written, rows valid.
            std::vector<int32_t> h(rows * topk);
            BENCH_CUDA(cudaMemcpy(h.data(), out.p, h.size() * 4, cudaMemcpyDeviceToHost));
            r.outputs_ok = true;
            for (int64_t row = 0; row < rows && r.outputs_ok; ++row) {
              std::set<int32_t> seen;
              bool padding = false;
              const int64_t vis = L - next_n + row % next_n + 1;
              for (int64_t k = 0; k < topk; ++k) {
                const int32_t v = h[row * topk + k];
                if (v == -1) {
                  padding = true;
                  continue;
                }
                if (padding || v < 0 || v >= vis || !seen.insert(v).second) r.outputs_ok = false;
              }
            }
          } catch (const std::exception& e) {
            r.error = e.what();
            cudaGetLastError();
          }
          for (auto x : execs) cudaGraphExecDestroy(x);
          results.push_back(r);
          std::fprintf(stderr, "L=%lld batch=%lld next_n=%lld %s m=%lld: %.4f ms (%s)%s\n",
                       (long long)L, (long long)batch, (long long)next_n, mr.name.c_str(),
                       (long long)r.m, r.ms.median, r.outputs_ok ? "outputs ok" : "OUTPUTS BAD",
                       r.error.empty() ? "" : (" error: " + r.error).c_str());
        }
        // Pooled-cache append of one step: next_n new tokens per sequence (per-sequence form).
        try {
          std::vector<cudaGraphExec_t> execs;
          for (int64_t s = 0; s < sets; ++s) {
            const DecodeProblem p = problem(s);
            PooledUpdate u;
            u.batch = batch;
            u.block_table = p.block_table;
            u.max_pages = max_pages;
            u.context_lens = p.context_lens;
            u.new_tokens = next_n;
            u.memory = Device::cuda;
            execs.push_back(capture([&] { pooled_update(p.cache, PooledCache{pooled.as<float>(), B}, u, opts); }));
          }
          appends.push_back({L, batch, next_n, time_graphs(execs, false)});
          for (auto x : execs) cudaGraphExecDestroy(x);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "append L=%lld batch=%lld: %s\n", (long long)L, (long long)batch, e.what());
          cudaGetLastError();
        }
      }

  // ---- JSON ----------------------------------------------------------------------------
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  std::ostringstream js;
  js << "{\n \"benchmark\": \"hisa bench decode\",\n \"device\": " << json_str(prop.name)
     << ",\n \"runtime_version\": " << runtime << ",\n \"date\": " << json_str(utc_now())
     << ",\n \"commit\": " << json_str(commit) << ",\n \"H\": " << kH << ", \"D\": " << kD
     << ", \"P\": " << P << ", \"B\": " << B << ", \"topk\": " << topk << ", \"dtype\": \"fp8_e4m3\""
     << ",\n \"repeats_per_set\": " << repeats << ", \"copy_gbps\": " << num(copy_gbps)
     << ", \"l2_bytes\": " << num(l2)
     << ",\n \"timing\": \"each decode_select captured in a CUDA graph; CUDA events around one "
        "graph launch; inputs rotated over `sets` disjoint sets (>= 3x L2); median over all calls\""
     << ",\n \"anchor_h200_deepgemm_flat_batch64_ms\": {\"32768\": 0.220, \"131072\": 0.523}"
     << ",\n \"targets_batch64_next_n1_ms\": {\"flat\": \"<= anchor\", \"hisa_m64_32768\": 0.055, "
        "\"hisa_m64_131072\": 0.065, \"append\": \"< 5% of a hisa step\"}"
     << ",\n \"decode\": [";
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    const double gbps = r.bytes / (r.ms.median * 1e-3) / 1e9;
    js << (i ? "," : "") << "\n  {\"L\": " << r.L << ", \"batch\": " << r.batch
       << ", \"next_n\": " << r.next_n << ", \"method\": " << json_str(r.method) << ", \"m\": " << r.m
       << ", \"ms\": " << num(r.ms.median) << ", \"ms_min\": " << num(r.ms.min)
       << ", \"ms_p90\": " << num(r.ms.p90) << ", \"cv\": " << num(r.ms.cv) << ", \"calls\": " << r.ms.n
       << ", \"sets\": " << r.sets << ", \"bytes_per_step\": " << num(r.bytes)
       << ", \"bytes_per_query\": " << num(r.bytes / (r.batch * r.next_n)) << ", \"gbps\": " << num(gbps)
       << ", \"fraction_of_copy\": " << num(gbps / copy_gbps) << ", \"outputs_ok\": "
       << (r.outputs_ok ? "true" : "false") << ", \"error\": " << json_str(r.error) << "}";
  }
  js << "\n ],\n \"append\": [";
  for (std::size_t i = 0; i < appends.size(); ++i)
    js << (i ? "," : "") << "\n  {\"L\": " << appends[i].L << ", \"batch\": " << appends[i].batch
       << ", \"next_n\": " << appends[i].next_n << ", \"ms\": " << num(appends[i].ms.median)
       << ", \"ms_min\": " << num(appends[i].ms.min) << ", \"cv\": " << num(appends[i].ms.cv) << "}";
  js << "\n ]\n}\n";
  if (a.has("--json")) {
    std::ofstream f(a.str("--json"));
    f << js.str();
  }

  // ---- table ---------------------------------------------------------------------------
  std::printf("\nhisa bench decode on %s, commit %s: FP8, H=64, D=128, P=%lld, B=%lld, topk=%lld; "
              "ms = median per step (CUDA graph, cold inputs); GB/s = bytes the step must move / time "
              "(copy ceiling %.0f GB/s)\n",
              prop.name, commit.c_str(), (long long)P, (long long)B, (long long)topk, copy_gbps);
  std::printf("%7s %5s %6s | %-10s %6s %8s %7s %5s | %s\n", "L", "batch", "next_n", "method", "m",
              "ms", "GB/s", "ok", "append ms");
  for (const Result& r : results) {
    double app = NAN;
    for (const auto& ap : appends)
      if (ap.L == r.L && ap.batch == r.batch && ap.next_n == r.next_n) app = ap.ms.median;
    std::printf("%7lld %5lld %6lld | %-10s %6lld %8.4f %7.0f %5s | %.4f%s\n", (long long)r.L,
                (long long)r.batch, (long long)r.next_n, r.method.c_str(), (long long)r.m,
                r.ms.median, r.bytes / (r.ms.median * 1e-3) / 1e9, r.outputs_ok ? "yes" : "NO", app,
                r.error.empty() ? "" : ("  ERROR " + r.error).c_str());
  }
  std::printf("anchor (DeepGEMM fp8_paged_mqa_logits + torch.topk, H200, batch 64, next_n 1): "
              "0.220 ms @32K, 0.523 ms @128K; targets: flat <= anchor, HISA m=64 <= 0.055 / 0.065 ms, "
              "append < 5%% of a HISA step\n");
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaStreamDestroy(st);
  return 0;
}

#endif  // HISA_WITH_CUDA

}  // namespace

int cmd_bench_decode(const std::vector<std::string>& args) {
#ifdef HISA_WITH_CUDA
  if (std::find(args.begin(), args.end(), "--help") == args.end() && cuda_device_count() == 0)
    throw BackendError("hisa bench decode: no CUDA-capable GPU is visible to this process");
  return run_decode(args);
#else
  if (std::find(args.begin(), args.end(), "--help") != args.end()) {
    std::cout << kUsage;
    return 0;
  }
  throw BackendError(
      "hisa bench decode: this build of hisa has no CUDA backend (configure with nvcc on PATH, "
      "-DHISA_CUDA=ON)");
#endif
}

}  // namespace hisa::cli
