// CUDA error reporting: every failing runtime call becomes a BackendError that names the call,
// where it was made and what it was working on, so a failure in a user's process is diagnosable
// from the message alone.
#include <cuda_runtime.h>

#include <string>

#include "cuda/common.cuh"
#include "hisa/error.hpp"

namespace hisa::cuda {

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line,
                      const std::string& context) {
  // Clear a non-sticky error so that later calls in this process are not blamed for it.
  (void)cudaGetLastError();
  std::string msg = std::string("CUDA error ") + cudaGetErrorName(err) + " (" +
                    cudaGetErrorString(err) + ") in " + call + " at " + file + ":" +
                    std::to_string(line);
  if (!context.empty()) msg += " [" + context + "]";
  throw BackendError(msg);
}

}  // namespace hisa::cuda
