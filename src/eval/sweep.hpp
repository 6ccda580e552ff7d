// `hisa eval`: a fidelity sweep over L and method configurations, written as JSON
// (results_json.hpp). In the library (not tools/) so that tests can run it in-process.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "eval/method_runner.hpp"
#include "eval/results_json.hpp"
#include "hisa/types.hpp"

namespace hisa::eval {

struct SweepOptions {
  std::string workload = "structured";  // or "gaussian"
  std::vector<int64_t> L = {4096, 8192};
  std::vector<int64_t> B = {32, 64};
  std::vector<int64_t> m = {16, 32, 64};
  std::vector<int64_t> a = {4, 8, 16};
  std::vector<int64_t> c = {1, 4};
  std::vector<BlockSummary> summaries = {BlockSummary::mean};  // HISA and block-sparse
  std::vector<std::string> methods;  // method specs (spec.hpp); non-empty: run exactly these
                                     // (after flat) instead of the B/m/a/c cross product
  int64_t topk = 2048;
  DType dtype = DType::fp8_e4m3;
  Device device = Device::cpu;
  uint64_t seed = 1;
  int threads = 0;
  int reps = 0;             // 0: 1 on the CPU, 5 on CUDA
  int64_t rows = 0;         // query rows evaluated per L (spread evenly, plus every needle's
                            // query; sample_queries.hpp); 0 = all rows (a full prefill)
  int64_t mass_rows = 256;  // rows sampled for mass recall; 0 = all; < 0 = skip
  std::string out;          // JSON path (required)
  std::string commit;       // recorded in the file when given
  std::string inputs;       // a directory of case directories (case_inputs.hpp) instead of
                            // synthetic workloads; L, workload, dtype and seed are then unused
  double attn_scale = 0;    // inputs: softmax scale of the attention mass (<= 0: 1/sqrt(D))
};

// Validates every option up front (ArgumentError naming the flag), then for each L: one
// workload (T = S = L; with `rows`, only those query rows are run), flat, HISA for every
// (B, m), block-sparse for every B with topk % B == 0, MISA for every (a, c, B). Rewrites
// `out` atomically after each L, so a long sweep keeps its finished part. Progress lines go
// to `log`.
void run_sweep(const SweepOptions& opts, std::ostream& log);

// `hisa eval --inputs DIR`: the same method sweep on every case directory under DIR (per case
// and pooled over all cases), plus the attention mass and block diagnostics. Prints the pooled
// table to `table`; rewrites `out` after each case.
void run_inputs_sweep(const SweepOptions& opts, std::ostream& log, std::ostream& table);

// Internal to the two sweeps: options validation, the run options and result header they
// share (validates; checks for a CUDA device when asked), and the list of method
// configurations (HISA per (B, m), block-sparse per B when topk % B == 0, MISA per (B, a, c)).
void validate_sweep(const SweepOptions& o);
struct SweepSetup {
  RunOptions run;
  RunInfo info;
};
SweepSetup sweep_setup(const SweepOptions& o);
std::vector<Config> sweep_configs(const SweepOptions& o, std::ostream& log);

}  // namespace hisa::eval
