// Where the time of CUDA MISA goes (src/cuda/misa_*.cu), stage by stage, against its FLOP and
// byte counts. One causal sequence of L tokens, H = 64, D = 128, FP8 e4m3 random data generated
// on the device with the same generator and seed as `hisa bench prefill` (fill_random_fp8, seed
// 1234 + L), so flat here is the same problem. For each L: flat through hisa::select (the
// reference), then each MISA configuration (a, c, router block B) through misa_select with a
// caller workspace: total (median of --reps) and, from CUDA events between the stages, pooling,
// router, routed scoring, routed top-k and re-scoring (summed over query chunks; events add a
// little overhead, so the stages may sum to slightly more than the total). Counts printed next
// to the times:
//   router     2 * 64 * 128 FLOPs per (routed row, full block) pair (bf16 wgmma)
//   scoring    2 * A * 128 FLOPs per visible (query, key) pair, A = head slots per query (a
//              padded to 8); logits written: 2 or 4 bytes per pair
//   top-k      GB/s counting one read of the visible logits (the radix select reads about two)
//   re-score   2 * 64 * 128 FLOPs per candidate (c * topk per routed row, n otherwise)
// Also the router alone for every --router-B (its cost falls as 1 / B) and an f16 / f32 routed
// logits A/B. Writes JSON (device, date, commit) to --json; prints a table last.
//
//   misa_timing [--L 65536,131072] [--a 8] [--c 1,4] [--B 1024] [--router-B 64,256,1024]
//               [--reps 5] [--json PATH] [--commit SHA]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cuda/flat_stages.hpp"
#include "cuda/methods.cuh"
#include "cuda/misa_launch.cuh"
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

struct Stages {
  double total = 0, pool = 0, router = 0, score = 0, topk = 0, rescore = 0;
};

struct Row {
  int64_t L = 0, a = 0, c = 0, B = 0;
  std::string logits;
  Stages t;
  double flat_ms = 0, router_flops = 0, score_flops = 0, pairs = 0, rescore_flops = 0;
  int A = 8;
};

// Median stage times of `reps` runs of misa_select (after one warm-up).
Stages time_misa(const hisa::Problem& p, const hisa::Config& cfg, void* ws, int32_t* out,
                 int reps, int logits) {
  hisa::cuda::MisaTuning plan_tune;  // the chunk count depends on the logits type
  plan_tune.logits = logits;
  hisa::cuda::misa_set_tuning(plan_tune);
  const int64_t chunks = hisa::cuda::misa_chunks(p, cfg);
  std::vector<cudaEvent_t> ev(2 + 4 * std::max<int64_t>(chunks, 1));
  for (auto& e : ev) CK(cudaEventCreate(&e));
  std::vector<double> tot, pool, router, score, topk, rescore;
  for (int r = 0; r <= reps; ++r) {
    hisa::cuda::MisaTuning tune;
    tune.logits = logits;
    tune.events = ev.data();
    hisa::cuda::misa_set_tuning(tune);
    hisa::cuda::misa_select(p, cfg, out, ws, nullptr);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    if (r == 0) continue;
    auto ms = [&](int64_t a, int64_t b) {
      float v = 0;
      CK(cudaEventElapsedTime(&v, ev[a], ev[b]));
      return static_cast<double>(v);
    };
    double ro = 0, sc = 0, tk = 0, rs = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      ro += ms(c == 0 ? 1 : 5 + 4 * (c - 1), 2 + 4 * c);
      sc += ms(2 + 4 * c, 3 + 4 * c);
      tk += ms(3 + 4 * c, 4 + 4 * c);
      rs += ms(4 + 4 * c, 5 + 4 * c);
    }
    tot.push_back(ms(0, 1 + 4 * chunks));
    pool.push_back(ms(0, 1));
    router.push_back(ro);
    score.push_back(sc);
    topk.push_back(tk);
    rescore.push_back(rs);
  }
  hisa::cuda::misa_set_tuning({});
  for (auto& e : ev) cudaEventDestroy(e);
  return Stages{median(tot), median(pool), median(router), median(score), median(topk), median(rescore)};
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> Ls{65536, 131072}, as{8}, cs{1, 4}, router_Bs{64, 256, 1024};
  int64_t B = 1024, topk = 2048;
  int reps = 5;
  std::string json, commit = "unknown";
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
    else if (a == "--a") as = parse_list(val());
    else if (a == "--c") cs = parse_list(val());
    else if (a == "--B") B = std::stoll(val());
    else if (a == "--router-B") router_Bs = parse_list(val());
    else if (a == "--reps") reps = std::stoi(val());
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
  std::vector<Row> rows;
  for (const int64_t L : Ls) {
    void *q, *k, *sc, *w, *ks, *ke, *out;
    CK(cudaMalloc(&q, L * H * D));
    CK(cudaMalloc(&k, L * D));
    CK(cudaMalloc(&sc, 4 * L));
    CK(cudaMalloc(&w, 4 * L * H));
    CK(cudaMalloc(&ks, 4 * L));
    CK(cudaMalloc(&ke, 4 * L));
    CK(cudaMalloc(&out, 4 * L * topk));
    hisa::cuda::fill_random_fp8(static_cast<uint8_t*>(q), L * H * D, static_cast<uint8_t*>(k),
                                L * D, static_cast<float*>(sc), L, static_cast<float*>(w), L * H, H,
                                1234 + L, nullptr);
    std::vector<int32_t> hks(L, 0), hke(L);
    for (int64_t t = 0; t < L; ++t) hke[t] = static_cast<int32_t>(t + 1);
    CK(cudaMemcpy(ks, hks.data(), 4 * L, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(ke, hke.data(), 4 * L, cudaMemcpyHostToDevice));
    hisa::Problem p;
    p.dtype = hisa::DType::fp8_e4m3;
    p.T = p.S = L;
    p.H = H, p.D = D;
    p.q = q, p.k = k, p.k_scale = static_cast<float*>(sc), p.w = static_cast<float*>(w);
    p.ks = static_cast<int32_t*>(ks), p.ke = static_cast<int32_t*>(ke);
    p.memory = hisa::Device::cuda;

    // Configurations: every (a, c) at B, the router sweep at (a0, c=1), the f32 logits A/B.
    struct Cfg { int64_t a, c, B; int logits; };
    std::vector<Cfg> cfgs;
    for (int64_t a : as)
      for (int64_t c : cs) cfgs.push_back({a, c, B, 0});
    for (int64_t rb : router_Bs)
      if (rb != B) cfgs.push_back({as[0], 1, rb, 0});
    cfgs.push_back({as[0], 1, B, 1});
    hisa::Config flat;
    flat.method = hisa::Method::flat;
    flat.topk = topk;
    std::size_t ws_bytes = hisa::cuda::flat_workspace_bytes(p, flat);
    for (const Cfg& x : cfgs) {
      hisa::Config m = flat;
      m.method = hisa::Method::misa, m.heads = x.a, m.candidates = x.c, m.block_size = x.B;
      ws_bytes = std::max(ws_bytes, hisa::cuda::misa_workspace_bytes(p, m));
    }
    void* ws;
    CK(cudaMalloc(&ws, ws_bytes));
    std::vector<double> ft;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int r = 0; r <= reps; ++r) {
      CK(cudaEventRecord(e0));
      hisa::cuda::flat_select(p, flat, static_cast<int32_t*>(out), ws, nullptr);
      CK(cudaEventRecord(e1));
      CK(cudaEventSynchronize(e1));
      float v = 0;
      CK(cudaEventElapsedTime(&v, e0, e1));
      if (r > 0) ft.push_back(v);
    }
    const double flat_ms = median(ft);
    for (const Cfg& x : cfgs) {
      hisa::Config m = flat;
      m.method = hisa::Method::misa, m.heads = x.a, m.candidates = x.c, m.block_size = x.B;
      Row row;
      row.L = L, row.a = x.a, row.c = x.c, row.B = x.B, row.flat_ms = flat_ms;
      row.logits = x.logits == 1 ? "f32" : "f16";
      row.A = static_cast<int>(std::max<int64_t>(8, [&] { int64_t v = 1; while (v < x.a) v <<= 1; return v; }()));
      const int64_t C = x.c * topk;
      for (int64_t t = 0; t < L; ++t) {
        const int64_t n = t + 1;
        const bool routed = n > C && n > x.B;
        row.pairs += n;
        if (routed) row.router_flops += 2.0 * H * D * ((n - 1) / x.B);
        row.rescore_flops += 2.0 * H * D * (routed ? C : n);
      }
      row.score_flops = 2.0 * row.A * D * row.pairs;
      row.t = time_misa(p, m, ws, static_cast<int32_t*>(out), reps, x.logits);
      rows.push_back(row);
      std::fprintf(stderr, "L=%lld a=%lld c=%lld B=%lld %s: %.3f ms\n", (long long)L,
                   (long long)x.a, (long long)x.c, (long long)x.B, row.logits.c_str(), row.t.total);
    }
    CK(cudaFree(ws));
    for (void* b : {q, k, sc, w, ks, ke, out}) CK(cudaFree(b));
  }

  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  if (!json.empty()) {
    std::ofstream f(json);
    f << "{\"benchmark\": \"misa_timing\", \"device\": \"" << prop.name << "\", \"date\": \"" << date
      << "\", \"commit\": \"" << commit << "\", \"topk\": " << topk << ", \"reps\": " << reps
      << ", \"data\": \"fill_random_fp8 seed 1234+L (as hisa bench prefill)\", \"rows\": [";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      f << (i ? "," : "") << "\n {\"L\": " << r.L << ", \"a\": " << r.a << ", \"c\": " << r.c
        << ", \"B\": " << r.B << ", \"logits\": \"" << r.logits << "\", \"head_slots\": " << r.A
        << ", \"flat_ms\": " << r.flat_ms << ", \"total_ms\": " << r.t.total
        << ", \"pool_ms\": " << r.t.pool << ", \"router_ms\": " << r.t.router
        << ", \"score_ms\": " << r.t.score << ", \"topk_ms\": " << r.t.topk
        << ", \"rescore_ms\": " << r.t.rescore << ", \"router_flops\": " << r.router_flops
        << ", \"score_flops\": " << r.score_flops << ", \"visible_pairs\": " << r.pairs
        << ", \"rescore_flops\": " << r.rescore_flops << "}";
    }
    f << "\n]}\n";
  }
  std::printf("\nmisa_timing on %s (%s, %s), ms (median of %d); TF = TFLOP/s, GB/s = one read "
              "of the logits\n", prop.name, commit.c_str(), date, reps);
  std::printf("%7s %2s %2s %5s %4s %8s %8s %6s %6s %7s %5s %8s %6s %7s %6s %7s %5s\n", "L", "a",
              "c", "B", "lgt", "flat", "misa", "x", "pool", "router", "TF", "score", "TF", "topk",
              "GB/s", "rescore", "TF");
  for (const Row& r : rows) {
    const double eb = r.logits == "f32" ? 4.0 : 2.0;
    std::printf("%7lld %2lld %2lld %5lld %4s %8.2f %8.2f %6.2f %6.3f %7.3f %5.0f %8.3f %6.0f %7.3f "
                "%6.0f %7.3f %5.0f\n",
                (long long)r.L, (long long)r.a, (long long)r.c, (long long)r.B, r.logits.c_str(),
                r.flat_ms, r.t.total, r.flat_ms / r.t.total, r.t.pool, r.t.router,
                r.router_flops / (r.t.router * 1e9), r.t.score, r.score_flops / (r.t.score * 1e9),
                r.t.topk, eb * r.pairs / (r.t.topk * 1e6), r.t.rescore,
                r.rescore_flops / (r.t.rescore * 1e9));
  }
  return 0;
}
