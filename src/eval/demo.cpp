// `hisa demo` (demo.hpp): generate, run every method, print one table.
#include "eval/demo.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include "eval/device_problem.hpp"
#include "eval/format.hpp"
#include "eval/json_writer.hpp"
#include "eval/method_runner.hpp"
#include "eval/results_json.hpp"
#include "eval/text_table.hpp"
#include "hisa/error.hpp"
#include "hisa/workload.hpp"

namespace hisa::eval {
namespace {

constexpr int64_t kBlock = 64;

std::vector<Config> demo_methods(int64_t topk) {
  std::vector<Config> out;
  for (int64_t factor : {2, 4, 8}) {  // candidates = 2x, 4x, 8x topk
    Config c;
    c.method = Method::hisa;
    c.block_size = kBlock;
    c.blocks = std::max<int64_t>(2, factor * topk / kBlock);
    out.push_back(c);
  }
  Config block;
  block.method = Method::block;
  block.block_size = kBlock;
  out.push_back(block);
  for (int64_t c : {1, 4}) {
    Config m;
    m.method = Method::misa;
    m.block_size = kMisaBlockSize;
    m.heads = 8;
    m.candidates = c;
    out.push_back(m);
  }
  return out;
}

std::string method_name(const Config& c) {
  if (c.method == Method::block) return "block-sparse";
  if (c.method == Method::misa) return c.candidates > 1 ? "misa-hier" : "misa";
  return to_string(c.method);
}

}  // namespace

int64_t demo_default_L(Device device) { return device == Device::cuda ? 32768 : 8192; }

int64_t demo_topk(int64_t L) {
  if (L >= 32768) return 2048;
  return std::max<int64_t>(128, L / 16 / kBlock * kBlock);
}

void run_demo(const DemoOptions& opts, std::ostream& out, std::ostream& log) {
  const int64_t L = opts.L > 0 ? opts.L : demo_default_L(opts.device);
  if (L < 256) throw ArgumentError("--L", "must be >= 256, got " + std::to_string(L));
  if (opts.threads < 0) throw ArgumentError("--threads", "must be >= 0");
  if (opts.device == Device::cuda) require_cuda_device();
  const int64_t topk = demo_topk(L);
  RunOptions ro;
  ro.device = opts.device;
  ro.threads = opts.threads;
  ro.reps = opts.reps > 0 ? opts.reps : (opts.device == Device::cuda ? 5 : 1);
  ro.mass_rows = -1;  // the table shows no mass recall; eval measures it

  const auto t0 = std::chrono::steady_clock::now();
  log << "hisa demo: generating structured workload L=" << L << " ..." << std::endl;
  StructuredSpec spec;
  spec.T = L;
  spec.S = L;
  spec.seed = opts.seed;
  const Workload f32 = make_structured(spec);
  const auto t1 = std::chrono::steady_clock::now();
  const Workload wl = quantize_fp8(f32);
  const auto t2 = std::chrono::steady_clock::now();
  log << "hisa demo: generated in " << fmt("%.2f", std::chrono::duration<double>(t1 - t0).count())
      << " s, quantised in " << fmt("%.2f", std::chrono::duration<double>(t2 - t1).count()) << " s"
      << std::endl;
  log << "hisa demo: running flat (the exact DSA indexer, reference) ..." << std::endl;
  auto progress = [&log](const std::string& line) { log << "  " << line << std::endl; };
  MethodRunner runner(wl, topk, ro, progress);

  std::vector<Record> records;
  records.push_back({L, wl.description, runner.flat().seconds, runner.flat(), ""});
  for (const Config& cfg : demo_methods(topk))
    records.push_back({L, wl.description, runner.flat().seconds, runner.run(cfg), ""});

  const std::string device =
      opts.device == Device::cuda
          ? cuda_device_name()
          : "cpu" + (opts.threads > 0 ? " (" + std::to_string(opts.threads) + " threads)"
                                      : std::string(" (all threads)"));
  out << "hisa demo: structured long-context workload (docs/workloads.md), FP8 e4m3 as DSA\n"
      << "  L=" << L << " (one causal prefill: T=S=" << L << ", H=" << wl.H << ", D=" << wl.D
      << "), " << wl.needles.size() << " planted needles, seed " << opts.seed << "\n"
      << "  topk=" << topk
      << (topk == 2048 ? " (as DSA)" : " (DSA uses 2048; scaled to L/16 for this L)") << ", device "
      << device << ", time = median of " << ro.reps << " call(s)\n\n";
  TextTable table(
      {"method", "config", "time", "speed-up", "mean IoU", "p5 IoU", "recall", "needles"}, 2);
  for (const Record& r : records) {
    const MethodResult& m = r.result;
    if (!m.error.empty()) {
      table.add({method_name(m.cfg), config_label(m.cfg), "n/a", "-", "-", "-", "-", "-"});
      continue;
    }
    const std::string needles = m.needle_recall < 0 ? "-"
                                                    : std::to_string(m.needles_found) + "/" +
                                                          std::to_string(wl.needles.size());
    table.add({method_name(m.cfg), config_label(m.cfg), fmt_seconds(m.seconds),
               fmt("%.2fx", r.flat_seconds / std::max(m.seconds, 1e-12)), fmt("%.4f", m.iou.mean),
               fmt("%.4f", m.iou.p5), fmt("%.4f", m.recall.mean), needles});
  }
  table.print(out);
  out << "\nIoU and recall are per query row against flat's selection (mean over rows; p5 = the\n"
         "5th-percentile row). needles: planted (query, key) pairs whose key the method selects.\n"
         "HISA m = kept blocks of B tokens; block-sparse keeps topk/B blocks without refinement;\n"
         "MISA scores with the a most active heads (hier: top c*topk by a heads, then exact).\n";
  for (const Record& r : records)
    if (!r.result.error.empty())
      out << "n/a: " << method_name(r.result.cfg) << " " << config_label(r.result.cfg) << ": "
          << r.result.error << "\n";

  if (!opts.json.empty()) {
    RunInfo info;
    info.tool = "hisa demo";
    info.device = device;
    info.threads = opts.threads;
    info.reps = ro.reps;
    info.workload = "structured";
    info.dtype = to_string(wl.dtype);
    info.seed = opts.seed;
    info.H = wl.H;
    info.D = wl.D;
    info.topk = topk;
    info.mass_rows = ro.mass_rows;
    write_file_atomic(opts.json, results_json(info, records), "--json");
    log << "hisa demo: wrote " << opts.json << std::endl;
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log << "hisa demo: done in " << fmt("%.1f", total) << " s" << std::endl;
}

}  // namespace hisa::eval
