// The result-file format of `hisa demo --json` and `hisa eval --out` (docs/fidelity.md):
// one header (tool, date, device, workload) and one record per (L, method, config).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eval/block_diagnostics.hpp"
#include "eval/method_runner.hpp"

namespace hisa::eval {

struct RunInfo {
  std::string tool;    // "hisa demo" / "hisa eval"
  std::string device;  // "cpu" or "cuda: <name>"
  int threads = 0;     // CPU threads (0 = all)
  int reps = 1;
  std::string workload;  // "structured" / "gaussian"
  std::string dtype;     // "fp8_e4m3" / "bf16" / "f32"
  uint64_t seed = 1;
  int64_t H = 0, D = 0, topk = 0;
  int64_t mass_rows = 0;   // rows sampled for mass recall (< 0: not measured)
  int64_t query_rows = 0;  // query rows run per L (0: all, a full prefill)
  std::string commit;      // empty: unknown
  std::string inputs;      // `hisa eval --inputs DIR`: the directory (workload/dtype/seed unused)
  double attn_scale = 0;   // inputs: softmax scale of the attention mass (0: 1/sqrt(D))
};

struct Record {
  int64_t L = 0;
  std::string description;  // the workload's one-line description
  double flat_seconds = 0;
  MethodResult result;
  std::string case_name;  // inputs: the case directory's name, or "all" (pooled); else empty
};

// Block diagnostics of one case ("all": pooled) at one B.
struct CaseDiagnostics {
  std::string case_name;
  BlockDiagnostics diag;
};

std::string results_json(const RunInfo& info, const std::vector<Record>& records,
                         const std::vector<CaseDiagnostics>& diagnostics = {});

}  // namespace hisa::eval
