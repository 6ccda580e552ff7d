// `hisa demo [--L N] [--device cpu|cuda] [--threads N] [--reps N] [--seed N] [--json F]`:
// parses the flags and runs the demo of src/eval/demo.cpp.
#include <iostream>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "eval/demo.hpp"
#include "hisa/error.hpp"

namespace hisa::cli {
namespace {

constexpr const char* kDemoUsage =
    R"(usage: hisa demo [--L N] [--device cpu|cuda] [--threads N] [--reps N]
                 [--seed N] [--json FILE]

Generates one structured long-context workload (topic segments, recalled passages, planted
needles; FP8 e4m3 quantised as DSA does), runs flat (the exact indexer), HISA at three
block budgets, block-sparse and MISA (plain and hierarchical), and prints one table: time,
speed-up over flat, mean and 5th-percentile IoU against flat, recall, needles retrieved.

  --L N          sequence length (default 8192 on cpu, 32768 on cuda; >= 256)
  --device D     cpu (default) or cuda
  --threads N    CPU threads (default: all)
  --reps N       timed calls per method, median reported (default 1 on cpu, 5 on cuda)
  --seed N       workload seed (default 1)
  --json FILE    also write the results as JSON (written atomically)
)";

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu;
  if (s == "cuda") return Device::cuda;
  throw ArgumentError("--device", "expected cpu or cuda, got '" + s + "'");
}

}  // namespace

int cmd_demo(const std::vector<std::string>& argv) {
  for (const std::string& a : argv)
    if (a == "--help" || a == "-h") {
      std::cout << kDemoUsage;
      return 0;
    }
  const Args args(argv, {"--L", "--device", "--threads", "--reps", "--seed", "--json"}, {});
  eval::DemoOptions opts;
  opts.device = parse_device(args.str("--device", "cpu"));
  opts.L = args.integer("--L", 0);
  if (args.has("--L") && opts.L < 256)
    throw ArgumentError("--L", "must be >= 256, got " + std::to_string(opts.L));
  const int64_t threads = args.integer("--threads", 0);
  if (threads < 0 || threads > 4096) throw ArgumentError("--threads", "must be in [0, 4096]");
  opts.threads = static_cast<int>(threads);
  const int64_t reps = args.integer("--reps", 0);
  if (reps < 0 || reps > 1000) throw ArgumentError("--reps", "must be in [1, 1000]");
  opts.reps = static_cast<int>(reps);
  const int64_t seed = args.integer("--seed", 1);
  if (seed < 0) throw ArgumentError("--seed", "must be >= 0");
  opts.seed = static_cast<uint64_t>(seed);
  opts.json = args.str("--json", "");
  eval::run_demo(opts, std::cout, std::cerr);
  return 0;
}

}  // namespace hisa::cli
