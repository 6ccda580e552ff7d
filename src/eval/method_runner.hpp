// Runs selection methods on one workload, times them, and measures their fidelity against
// flat on the same inputs (SPEC.md "Fidelity metrics"). Shared by `hisa demo` and `hisa eval`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hisa/metrics.hpp"
#include "hisa/types.hpp"
#include "hisa/workload.hpp"

namespace hisa::eval {

class AttentionMass;
class DeviceProblem;
class FlatMass;

struct RunOptions {
  Device device = Device::cpu;
  int threads = 0;          // CPU backend threads (0 = all)
  int reps = 1;             // timed calls per method (median); CUDA adds one warm-up call
  int64_t mass_rows = 256;  // query rows sampled for mass recall; 0 = all rows; < 0 = skip
  bool attention = false;   // also measure the softmax attention mass (attention_mass.hpp) on
                            // the mass rows: meaningful when q, k are a model's attention inputs
  double attn_scale = 0;    // softmax scale of the attention mass; <= 0: 1/sqrt(D)
};

// Per-row values behind the summaries, kept so that several inputs can be pooled.
struct RowValues {
  std::vector<double> iou, recall, mass, attn;
};

struct MethodResult {
  Config cfg;
  std::string error;          // non-empty: the method could not run here (BackendError text)
  double seconds = 0;         // median wall time of one select() call
  Summary iou, recall, mass;  // per-row metrics vs flat (mass: sampled rows; rows = 0 if skipped)
  Summary attn;               // attention mass covered (absolute share; rows = 0 if not measured)
  double needle_recall = -1;  // fraction of planted needles retrieved; -1 without needles
  int64_t needles_found = 0;
  double triples = 0;         // scored (query, head, token) triples per query, mean (cost.hpp)
  double flat_triples = 0;    // the same for flat: cost relative to flat = triples / flat_triples
  RowValues rows;
};

// "B=64 m=16", "B=64 (m=32)", "a=8 B=64", "a=8 c=4 B=64"; "-" for flat.
std::string config_label(const Config& cfg);

class MethodRunner {
 public:
  // Runs flat (the reference) at `topk` immediately. `progress` receives one line per step.
  MethodRunner(const Workload& wl, int64_t topk, const RunOptions& opts,
               std::function<void(const std::string&)> progress = {});
  ~MethodRunner();

  const MethodResult& flat() const { return flat_; }
  const std::vector<int32_t>& flat_indices() const { return flat_idx_; }  // [T, topk]
  // Runs `cfg` (its topk is set to the runner's) and compares it with flat. A BackendError
  // (e.g. a method the CUDA backend lacks) is reported in MethodResult::error, not thrown.
  MethodResult run(Config cfg);

 private:
  double time_once(const Config& cfg, int32_t* out);
  void measure(MethodResult& r, const std::vector<int32_t>& idx) const;

  const Workload& wl_;
  Problem host_;
  int64_t topk_;
  RunOptions opts_;
  std::function<void(const std::string&)> progress_;
  std::unique_ptr<DeviceProblem> device_;
  std::unique_ptr<FlatMass> flat_mass_;
  std::unique_ptr<AttentionMass> attention_;
  std::vector<int32_t> flat_idx_;
  MethodResult flat_;
};

}  // namespace hisa::eval
