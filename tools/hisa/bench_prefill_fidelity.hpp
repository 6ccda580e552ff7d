// Fidelity runs of `hisa bench prefill` (cmd_bench.cpp): the structured workload of L tokens
// on the device, every method against flat (IoU / recall on spread rows, needle recall on all
// rows) and timed end to end beside the random-data times.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench_prefill_methods.hpp"
#include "eval/compare.hpp"
#include "hisa/hisa.hpp"

#ifdef HISA_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace hisa::cli {

struct Fidelity {
  int64_t L = 0, rows = 0;
  struct Row {
    std::string name;
    Order order = Order::score;
    Summary iou, recall;
    double needles = -1;
    double ms = -1;  // end to end on the structured workload (median of repeats)
    std::string error;
  };
  std::vector<Row> methods;
  double flat_needles = -1;
  double flat_ms = -1;
  double gen_s = 0;
};

#ifdef HISA_WITH_CUDA
// Builds the structured workload of L tokens (seed 1), runs flat and every method of
// method_configs on `st`, measures them on `sample` spread rows (0 = all) and times each.
Fidelity fidelity_length(int64_t L, const std::vector<int64_t>& ms, int64_t B, int64_t topk,
                         int64_t sample, MethodSet set, int repeats, cudaStream_t st);
#endif

}  // namespace hisa::cli
