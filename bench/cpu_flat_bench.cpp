// CPU flat selector benchmark: random FP8 e4m3 q/k with non-zero per-key scales, default
// causal range. Prints time and GFLOP/s (2*H*D FLOPs per visible (query, key) pair) and writes
// a JSON record (machine, date, commit, sizes, seconds, GFLOP/s).
//
//   cpu_flat_bench [--T 8192] [--S 8192] [--H 64] [--D 128] [--topk 2048] [--threads 0]
//                  [--reps 1] [--method flat|hisa|block|misa] [--json PATH]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "hisa/hisa.hpp"

namespace {

std::string run_command(const char* cmd) {
  std::string out;
  if (FILE* f = popen(cmd, "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, f)) out += buf;
    pclose(f);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) o += c;
  }
  return o;
}

// splitmix64 -> approximately standard normal (sum of 4 uniforms, scaled): cheap, seeded.
struct Rng {
  uint64_t x;
  uint64_t next() {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) / static_cast<float>(1 << 24); }
  float normal() { return (uniform() + uniform() + uniform() + uniform() - 2.0f) * 1.7320508f; }
};

}  // namespace

int main(int argc, char** argv) {
  int64_t T = 8192, S = 8192, H = 64, D = 128, topk = 2048, reps = 1;
  int threads = 0;
  std::string json, method = "flat";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--T") T = std::stoll(v);
    else if (a == "--S") S = std::stoll(v);
    else if (a == "--H") H = std::stoll(v);
    else if (a == "--D") D = std::stoll(v);
    else if (a == "--topk") topk = std::stoll(v);
    else if (a == "--threads") threads = std::stoi(v);
    else if (a == "--reps") reps = std::stoll(v);
    else if (a == "--json") json = v;
    else if (a == "--method") method = v;
    else {
      std::cerr << "unknown option " << a << "\n";
      return 2;
    }
  }

  // FP8 data the way DSA quantises: values of about unit size, scales ~ amax / 448.
  Rng rng{42};
  std::vector<uint8_t> q(T * H * D), k(S * D);
  for (auto& c : q) c = hisa::float_to_fp8_e4m3(rng.normal() * 64.0f);
  for (auto& c : k) c = hisa::float_to_fp8_e4m3(rng.normal() * 64.0f);
  std::vector<float> k_scale(S), w(T * H);
  for (auto& s : k_scale) s = (1.0f + rng.uniform()) / 448.0f;
  for (auto& x : w) x = rng.normal() / std::sqrt(static_cast<float>(H)) / 448.0f;

  hisa::Problem p;
  p.dtype = hisa::DType::fp8_e4m3;
  p.T = T, p.S = S, p.H = H, p.D = D;
  p.q = q.data(), p.k = k.data(), p.k_scale = k_scale.data(), p.w = w.data();
  hisa::Config cfg;
  cfg.topk = topk;
  if (method == "hisa") cfg.method = hisa::Method::hisa;
  else if (method == "block") cfg.method = hisa::Method::block;
  else if (method == "misa") cfg.method = hisa::Method::misa;
  else if (method != "flat") {
    std::cerr << "unknown method " << method << "\n";
    return 2;
  }
  hisa::Options opts;
  opts.threads = threads;
  std::vector<int32_t> out(T * topk);

  double pairs = 0;  // visible (query, key) pairs of the default causal range
  for (int64_t t = 0; t < T; ++t) pairs += static_cast<double>(S - T + t + 1);
  const double flops = 2.0 * H * D * pairs;

  double best = 1e30;
  for (int64_t r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    hisa::select(p, cfg, out.data(), opts);
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  const double gflops = flops / best / 1e9;
  const int used = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
  std::printf("cpu %s fp8 T=%lld S=%lld H=%lld D=%lld topk=%lld threads=%d: %.3f s, %.1f GFLOP/s%s\n",
              method.c_str(), (long long)T, (long long)S, (long long)H, (long long)D,
              (long long)topk, used, best, gflops,
              method == "flat" ? "" : " (flat-equivalent FLOPs)");

  if (!json.empty()) {
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    const std::string machine =
        run_command("lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1");
    const std::string commit = run_command("git rev-parse --short HEAD 2>/dev/null");
    // The measured code may be uncommitted: say so rather than pin it to HEAD silently.
    const bool dirty = !run_command("git status --porcelain -- src include bench 2>/dev/null").empty();
    std::ofstream f(json);
    f << "{\n"
      << "  \"bench\": \"cpu_flat_bench\",\n"
      << "  \"method\": \"" << method << "\",\n"
      << "  \"dtype\": \"fp8_e4m3\",\n"
      << "  \"machine\": \"" << json_escape(machine) << "\",\n"
      << "  \"threads\": " << used << ",\n"
      << "  \"date\": \"" << date << "\",\n"
      << "  \"commit\": \"" << json_escape(commit) << "\",\n"
      << "  \"worktree_dirty\": " << (dirty ? "true" : "false") << ",\n"
      << "  \"T\": " << T << ", \"S\": " << S << ", \"H\": " << H << ", \"D\": " << D
      << ", \"topk\": " << topk << ",\n"
      << "  \"flops\": " << static_cast<long long>(flops) << ",\n"
      << "  \"seconds\": " << best << ",\n"
      << "  \"gflops\": " << gflops << ",\n"
      << "  \"reps\": " << reps << "\n"
      << "}\n";
    if (!f) {
      std::cerr << "cannot write " << json << "\n";
      return 1;
    }
  }
  return 0;
}
