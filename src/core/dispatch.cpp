// The one dispatcher: validates, then routes to the CPU or CUDA backend.
#include <string>

#include "cpu/cpu_backend.hpp"
#include "cuda/cuda_backend.hpp"
#include "hisa/error.hpp"
#include "hisa/select.hpp"

namespace hisa {
namespace {

// Methods and knobs that exist only in the CPU reference so far (GPU kernels follow once a
// method earns its place on the fidelity-cost front, docs/fidelity.md).
void require_cuda_support(const Config& cfg) {
  if (cfg.method == Method::proj || cfg.method == Method::hisa_misa)
    throw BackendError(std::string("method ") + to_string(cfg.method) +
                       ": not implemented on CUDA (use the CPU backend, --device cpu)");
  if (cfg.block_summary != BlockSummary::mean)
    throw BackendError(std::string("block_summary ") + to_string(cfg.block_summary) +
                       ": not implemented on CUDA (use the CPU backend, --device cpu)");
}

}  // namespace

bool cuda_compiled() {
#ifdef HISA_WITH_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count() { return cuda_compiled() ? cuda::device_count() : 0; }

std::size_t workspace_bytes(const Problem& p, const Config& cfg, Device device) {
  validate_shapes(p, cfg);
  if (device != Device::cuda) return 0;
  require_cuda_support(cfg);
  return cuda::workspace_bytes(p, cfg);
}

void select(const Problem& p, const Config& cfg, int32_t* out, const Options& opts) {
  validate_shapes(p, cfg);
  if (out == nullptr && p.T > 0) throw ArgumentError("out", "null output buffer");
  if (opts.device == Device::cpu) {
    if (p.memory != Device::cpu)
      throw ArgumentError("device", "inputs are in CUDA memory but the CPU backend was chosen");
    validate_host_values(p, opts);
    cpu::select(p, cfg, out, opts);
    if (cfg.order == Order::index) order_rows_by_index(out, p.T, cfg.topk);
    return;
  }
  if (!cuda_compiled())
    throw BackendError(
        "--device cuda: this build of hisa has no CUDA backend (rebuild with nvcc on PATH)");
  if (cuda::device_count() == 0)
    throw BackendError("--device cuda: no CUDA-capable GPU is visible to this process");
  require_cuda_support(cfg);
  if (p.memory == Device::cpu) {
    validate_host_values(p, opts);
    cuda::select_host_staged(p, cfg, out, opts);
  } else {
    cuda::select_device(p, cfg, out, opts);
  }
}

}  // namespace hisa
