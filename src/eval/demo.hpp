// `hisa demo`: one structured FP8 workload with planted needles, every method, one table.
// In the library (not tools/) so that tests can run it in-process.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "hisa/types.hpp"

namespace hisa::eval {

struct DemoOptions {
  int64_t L = 0;  // 0: 8192 on the CPU, 32768 on CUDA
  Device device = Device::cpu;
  int threads = 0;  // CPU backend threads (0 = all)
  int reps = 0;     // timed calls per method; 0: 1 on the CPU, 5 on CUDA
  uint64_t seed = 1;
  std::string json;  // non-empty: also write the records there (results_json.hpp)
};

// The demo's default L and its top-k for a given L: 2048 (DSA) when L >= 32768, else L/16
// rounded down to a multiple of 64, at least 128 — so that selection stays selective.
int64_t demo_default_L(Device device);
int64_t demo_topk(int64_t L);

// Prints the header and the table on `out`, progress lines on `log`. Throws ArgumentError for
// bad options (L < 256), BackendError when the device cannot run at all.
void run_demo(const DemoOptions& opts, std::ostream& out, std::ostream& log);

}  // namespace hisa::eval
