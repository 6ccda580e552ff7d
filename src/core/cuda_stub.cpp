// Stand-in CUDA backend for builds without nvcc: reports clearly instead of crashing.
#include "cuda/cuda_backend.hpp"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {
[[noreturn]] void unavailable() {
  throw BackendError(
      "--device cuda: this build of hisa has no CUDA backend (configure with nvcc on PATH, "
      "-DHISA_CUDA=ON)");
}
}  // namespace

int device_count() { return 0; }
std::size_t workspace_bytes(const Problem&, const Config&) { return 0; }
void select_device(const Problem&, const Config&, int32_t*, const Options&) { unavailable(); }
void select_host_staged(const Problem&, const Config&, int32_t*, const Options&) {
  unavailable();
}

}  // namespace hisa::cuda
