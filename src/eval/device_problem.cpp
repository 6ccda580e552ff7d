// DeviceProblem (device_problem.hpp): one upload, then timed device-resident select() calls.
#include "eval/device_problem.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "hisa/error.hpp"
#include "hisa/select.hpp"

#ifdef HISA_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace hisa::eval {

void require_cuda_device() {
  if (!cuda_compiled())
    throw BackendError(
        "--device cuda: this build of hisa has no CUDA backend (configure with nvcc on PATH, "
        "-DHISA_CUDA=ON)");
  if (cuda_device_count() == 0)
    throw BackendError("--device cuda: no CUDA-capable GPU is visible to this process");
}

#ifdef HISA_WITH_CUDA
namespace {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    throw BackendError(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(err));
  }
}

std::size_t aligned(std::size_t bytes) { return (bytes + 255) / 256 * 256; }

// Grows a device buffer to at least `bytes`.
void ensure(void*& ptr, std::size_t& have, std::size_t bytes, const char* what) {
  if (bytes <= have) return;
  if (ptr != nullptr) check(cudaFree(ptr), what);
  ptr = nullptr;
  have = 0;
  check(cudaMalloc(&ptr, bytes), what);
  have = bytes;
}

}  // namespace

DeviceProblem::DeviceProblem(const Problem& host) : dev_(host) {
  if (host.memory != Device::cpu) throw ArgumentError("problem", "expected host memory");
  require_cuda_device();
  const std::size_t q_bytes =
      static_cast<std::size_t>(host.T * host.H * host.D) * dtype_size(host.dtype);
  const std::size_t k_bytes = static_cast<std::size_t>(host.S * host.D) * dtype_size(host.dtype);
  const std::size_t s_bytes = host.k_scale ? static_cast<std::size_t>(host.S) * 4 : 0;
  const std::size_t w_bytes = static_cast<std::size_t>(host.T * host.H) * 4;
  const std::size_t r_bytes = host.ks ? static_cast<std::size_t>(host.T) * 4 : 0;
  const std::size_t total = aligned(q_bytes) + aligned(k_bytes) + aligned(s_bytes) +
                            aligned(w_bytes) + 2 * aligned(r_bytes);
  check(cudaMalloc(&block_, std::max<std::size_t>(total, 256)), "cudaMalloc(problem)");
  char* at = static_cast<char*>(block_);
  auto upload = [&](const void* src, std::size_t bytes) -> void* {
    if (src == nullptr || bytes == 0) return nullptr;
    void* dst = at;
    check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy(upload)");
    at += aligned(bytes);
    return dst;
  };
  try {
    dev_.q = upload(host.q, q_bytes);
    dev_.k = upload(host.k, k_bytes);
    dev_.k_scale = static_cast<const float*>(upload(host.k_scale, s_bytes));
    dev_.w = static_cast<const float*>(upload(host.w, w_bytes));
    dev_.ks = static_cast<const int32_t*>(upload(host.ks, r_bytes));
    dev_.ke = static_cast<const int32_t*>(upload(host.ke, r_bytes));
  } catch (...) {
    cudaFree(block_);
    throw;
  }
  dev_.memory = Device::cuda;
}

std::string cuda_device_name() {
  int dev = 0;
  cudaDeviceProp prop{};
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&prop, dev) != cudaSuccess) {
    (void)cudaGetLastError();
    return "cuda";
  }
  return std::string("cuda: ") + prop.name;
}

DeviceProblem::~DeviceProblem() {
  if (workspace_) cudaFree(workspace_);
  if (out_) cudaFree(out_);
  if (block_) cudaFree(block_);
}

double DeviceProblem::time_select(const Config& cfg, int reps, int32_t* host_out) {
  const std::size_t out_bytes = static_cast<std::size_t>(dev_.T * cfg.topk) * 4;
  ensure(out_, out_bytes_, std::max<std::size_t>(out_bytes, 4), "cudaMalloc(out)");
  ensure(workspace_, workspace_bytes_, workspace_bytes(dev_, cfg, Device::cuda),
         "cudaMalloc(workspace)");
  Options opts;
  opts.device = Device::cuda;
  opts.check_values = false;
  opts.workspace = workspace_;
  opts.workspace_bytes = workspace_bytes_;
  int32_t* out = static_cast<int32_t*>(out_);
  select(dev_, cfg, out, opts);  // warm-up
  check(cudaDeviceSynchronize(), "warm-up select");
  std::vector<double> times;
  for (int r = 0; r < std::max(reps, 1); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    select(dev_, cfg, out, opts);
    check(cudaDeviceSynchronize(), "select");
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  if (out_bytes > 0)
    check(cudaMemcpy(host_out, out, out_bytes, cudaMemcpyDeviceToHost), "download");
  return times[times.size() / 2];
}

#else  // no CUDA in this build

namespace {
[[noreturn]] void unavailable() {
  require_cuda_device();  // throws: this build has no CUDA
  throw BackendError("--device cuda: unavailable in this build");
}
}  // namespace

DeviceProblem::DeviceProblem(const Problem& host) : dev_(host) { unavailable(); }
std::string cuda_device_name() { return "cuda (not in this build)"; }
DeviceProblem::~DeviceProblem() = default;
double DeviceProblem::time_select(const Config&, int, int32_t*) { unavailable(); }

#endif

}  // namespace hisa::eval
