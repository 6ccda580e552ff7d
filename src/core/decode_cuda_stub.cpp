// Stand-in CUDA decode backend for builds without nvcc (the CUDA build defines HISA_WITH_CUDA
// and gets src/cuda/decode_*.cu instead): reports clearly instead of crashing.
#ifndef HISA_WITH_CUDA
#include "cuda/decode_backend.hpp"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {
[[noreturn]] void unavailable() {
  throw BackendError(
      "--device cuda: this build of hisa has no CUDA backend (configure with nvcc on PATH, "
      "-DHISA_CUDA=ON)");
}
}  // namespace

std::size_t decode_workspace_bytes(const DecodeProblem&, const Config&) { return 0; }
void decode_select_device(const DecodeProblem&, const Config&, int32_t*, const Options&) {
  unavailable();
}
void decode_select_host_staged(const DecodeProblem&, const Config&, int32_t*, const Options&) {
  unavailable();
}
void pooled_update_device(const PagedCache&, const PooledCache&, const PooledUpdate&,
                          const Options&) {
  unavailable();
}
void decode_force_portable(bool) {}
void decode_rank_rows_for_test(const uint32_t*, int, int, int, int32_t*, int32_t*) { unavailable(); }

}  // namespace hisa::cuda
#endif
