// A host Problem copied once to CUDA memory, with an output buffer and the method's workspace,
// so that the demo and eval time the selection kernels alone (the host-staged path of
// select() would add the upload of q and k to every call). Throws BackendError in a build
// without CUDA or without a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "hisa/types.hpp"

namespace hisa::eval {

class DeviceProblem {
 public:
  explicit DeviceProblem(const Problem& host);
  ~DeviceProblem();
  DeviceProblem(const DeviceProblem&) = delete;
  DeviceProblem& operator=(const DeviceProblem&) = delete;

  // The problem with device pointers (memory == Device::cuda).
  const Problem& problem() const { return dev_; }

  // Runs select() for `cfg` on the device `reps` times after one warm-up call, with a
  // preallocated workspace and no value checks (the host copy was checked), synchronising
  // after each call. Returns the median wall time of one call in seconds and downloads the
  // last result into `host_out` [T, cfg.topk].
  double time_select(const Config& cfg, int reps, int32_t* host_out);

 private:
  Problem dev_;
  void* block_ = nullptr;  // q, k, k_scale, w, ks, ke in one allocation
  void* out_ = nullptr;    // [T, topk] int32, grown on demand
  std::size_t out_bytes_ = 0;
  void* workspace_ = nullptr;  // grown on demand
  std::size_t workspace_bytes_ = 0;
};

// Throws BackendError unless this build has CUDA and a GPU is visible (checked before any
// expensive work, so a demo on a machine without a GPU fails at once).
void require_cuda_device();

// "cuda: <device name>" of the current device (for result files).
std::string cuda_device_name();

}  // namespace hisa::eval
