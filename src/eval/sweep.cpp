// run_sweep (sweep.hpp).
#include "eval/sweep.hpp"

#include <chrono>
#include <limits>

#include "eval/device_problem.hpp"
#include "eval/format.hpp"
#include "eval/json_writer.hpp"
#include "eval/method_runner.hpp"
#include "eval/results_json.hpp"
#include "eval/sample_queries.hpp"
#include "hisa/error.hpp"
#include "hisa/spec.hpp"
#include "hisa/workload.hpp"

namespace hisa::eval {
namespace {

constexpr int64_t kHeads = 64, kDim = 128;  // DSA's indexer shape

void require_all(const std::vector<int64_t>& v, const char* flag, int64_t lo, int64_t hi,
                 const std::string& what) {
  if (v.empty()) throw ArgumentError(flag, "needs at least one value");
  for (int64_t x : v)
    if (x < lo || x > hi) throw ArgumentError(flag, what + ", got " + std::to_string(x));
}

}  // namespace

void validate_sweep(const SweepOptions& o) {
  if (o.workload != "structured" && o.workload != "gaussian")
    throw ArgumentError("--workload", "expected structured or gaussian, got '" + o.workload + "'");
  if (o.out.empty()) throw ArgumentError("--out", "is required (the JSON results file)");
  const int64_t i32 = std::numeric_limits<int32_t>::max();
  require_all(o.L, "--L", 64, i32, "each L must be in [64, 2^31)");
  require_all(o.B, "--B", 1, i32, "each B must be >= 1");
  require_all(o.m, "--m", 2, i32, "each m must be >= 2 (first and local block are always kept)");
  require_all(o.a, "--a", 1, o.inputs.empty() ? kHeads : i32,
              o.inputs.empty() ? "each a must be in [1, H=64]" : "each a must be >= 1");
  require_all(o.c, "--c", 1, i32, "each c must be >= 1");
  if (o.topk < 1 || o.topk > i32)
    throw ArgumentError("--topk", "must be >= 1, got " + std::to_string(o.topk));
  if (o.threads < 0) throw ArgumentError("--threads", "must be >= 0");
  if (o.mass_rows > i32) throw ArgumentError("--mass-rows", "too large");
  if (o.rows < 0 || o.rows > i32) throw ArgumentError("--rows", "must be >= 0 (0 = all rows)");
  if (o.summaries.empty()) throw ArgumentError("--summary", "needs at least one value");
  for (const std::string& spec : o.methods) parse_method_spec(spec, "--methods");
}

namespace {

Workload make_workload(const SweepOptions& o, int64_t L) {
  Workload f32;
  if (o.workload == "structured") {
    StructuredSpec s;
    s.T = L;
    s.S = L;
    s.H = kHeads;
    s.D = kDim;
    s.seed = o.seed;
    f32 = make_structured(s);
  } else {
    GaussianSpec g;
    g.T = L;
    g.S = L;
    g.H = kHeads;
    g.D = kDim;
    g.seed = o.seed;
    f32 = make_gaussian(g);
  }
  switch (o.dtype) {
    case DType::fp8_e4m3:
      return quantize_fp8(f32);
    case DType::bf16:
      return to_bf16(f32);
    case DType::f32:
      return f32;
  }
  return f32;
}

}  // namespace

std::vector<Config> sweep_configs(const SweepOptions& o, std::ostream& log) {
  std::vector<Config> out;
  if (!o.methods.empty()) {
    for (const std::string& spec : o.methods) {
      Config c = parse_method_spec(spec, "--methods");
      c.topk = o.topk;
      if (c.method != Method::flat) out.push_back(c);
    }
    return out;
  }
  for (int64_t B : o.B) {
    for (BlockSummary summary : o.summaries)
      for (int64_t m : o.m) {
        Config c;
        c.method = Method::hisa;
        c.block_size = B;
        c.blocks = m;
        c.block_summary = summary;
        out.push_back(c);
      }
    if (o.topk % B == 0 && o.topk / B >= 2) {
      for (BlockSummary summary : o.summaries) {
        Config c;
        c.method = Method::block;
        c.block_size = B;
        c.block_summary = summary;
        out.push_back(c);
      }
    } else {
      log << "hisa eval: block-sparse skipped for B=" << B
          << " (needs topk % B == 0 and topk/B >= 2)\n";
    }
  }
  for (int64_t B : o.B)
    for (int64_t a : o.a)
      for (int64_t c : o.c) {
        Config cfg;
        cfg.method = Method::misa;
        cfg.block_size = B;
        cfg.heads = a;
        cfg.candidates = c;
        out.push_back(cfg);
      }
  return out;
}

SweepSetup sweep_setup(const SweepOptions& o) {
  validate_sweep(o);
  if (o.device == Device::cuda) require_cuda_device();
  SweepSetup s;
  s.run.device = o.device;
  s.run.threads = o.threads;
  s.run.reps = o.reps > 0 ? o.reps : (o.device == Device::cuda ? 5 : 1);
  s.run.mass_rows = o.mass_rows;
  s.info.tool = "hisa eval";
  s.info.device = o.device == Device::cuda ? cuda_device_name() : "cpu";
  s.info.threads = o.threads;
  s.info.reps = s.run.reps;
  s.info.topk = o.topk;
  s.info.mass_rows = o.mass_rows;
  s.info.query_rows = o.rows;
  s.info.commit = o.commit;
  return s;
}

void run_sweep(const SweepOptions& o, std::ostream& log) {
  if (!o.inputs.empty()) throw ArgumentError("--inputs", "run_inputs_sweep runs case directories");
  SweepSetup setup = sweep_setup(o);
  const RunOptions& ro = setup.run;
  RunInfo& info = setup.info;
  info.workload = o.workload;
  info.dtype = to_string(o.dtype);
  info.seed = o.seed;
  info.H = kHeads;
  info.D = kDim;

  const std::vector<Config> configs = sweep_configs(o, log);
  std::vector<Record> records;
  for (int64_t L : o.L) {
    log << "hisa eval: L=" << L << ": generating " << o.workload << " workload ..." << std::endl;
    const auto t0 = std::chrono::steady_clock::now();
    const Workload wl = sample_queries(make_workload(o, L), o.rows);
    log << "  L=" << L << " workload ready in "
        << fmt("%.2f", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count())
        << " s" << std::endl;
    auto progress = [&log, L](const std::string& line) {
      log << "  L=" << L << " " << line << std::endl;
    };
    MethodRunner runner(wl, o.topk, ro, progress);
    const double flat_s = runner.flat().seconds;
    records.push_back({L, wl.description, flat_s, runner.flat(), ""});
    for (const Config& cfg : configs)
      records.push_back({L, wl.description, flat_s, runner.run(cfg), ""});
    write_file_atomic(o.out, results_json(info, records), "--out");
    log << "hisa eval: L=" << L << " done; " << records.size() << " records in " << o.out
        << std::endl;
  }
}

}  // namespace hisa::eval
