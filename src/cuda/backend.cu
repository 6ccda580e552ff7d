// hisa::cuda entry points (cuda_backend.hpp): device discovery, workspace layout, the
// device-side value checks, the causal default range, dispatch by method, and the host-staged
// convenience path.
//
// Workspace layout (each part 256-byte aligned, WorkspaceCarver):
//   [ks, ke default ranges: 2 x T int32, only when the caller passed none]
//   [value-check results: kNumChecks uint64]
//   [the method's own workspace: flat_ / hisa_ / misa_workspace_bytes]
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/cuda_backend.hpp"
#include "cuda/methods.cuh"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

// Slots of the value-check results: first offending element (or row) of each check,
// UINT64_MAX when none.
enum Check : int { kQ = 0, kK, kW, kScale, kKsNegative, kKsAboveKe, kKeAboveS, kNumChecks };

struct Layout {
  int32_t* ks = nullptr;
  int32_t* ke = nullptr;
  unsigned long long* checks = nullptr;
  void* method = nullptr;
  std::size_t total = 0;
};

std::size_t method_workspace_bytes(const Problem& p, const Config& cfg) {
  switch (cfg.method) {
    case Method::flat: return flat_workspace_bytes(p, cfg);
    case Method::hisa:
    case Method::block: return hisa_workspace_bytes(p, cfg);
    case Method::misa: return misa_workspace_bytes(p, cfg);
  }
  return 0;
}

// `dp` is the problem as the method sees it (ks/ke always set) — sizes only depend on shapes.
Layout layout(const Problem& p, const Config& cfg, void* base) {
  WorkspaceCarver c(base);
  Layout L;
  if (p.ks == nullptr) {
    L.ks = c.take<int32_t>(p.T);
    L.ke = c.take<int32_t>(p.T);
  }
  L.checks = c.take<unsigned long long>(kNumChecks);
  L.method = c.take<unsigned char>(method_workspace_bytes(p, cfg));
  L.total = c.used();
  return L;
}

__global__ void fill_causal_kernel(int32_t* ks, int32_t* ke, int64_t T, int64_t S) {
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < T;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    ks[t] = 0;
    ke[t] = static_cast<int32_t>(S - T + t + 1);
  }
}

// NaN/Inf test on raw element bits, as validate_host_values does on the host.
template <typename TBits>
__device__ __forceinline__ bool nonfinite(TBits v);
template <>
__device__ __forceinline__ bool nonfinite<uint32_t>(uint32_t v) {
  return (v & 0x7F800000u) == 0x7F800000u;
}
template <>
__device__ __forceinline__ bool nonfinite<uint16_t>(uint16_t v) {
  return (v & 0x7F80u) == 0x7F80u;
}
template <>
__device__ __forceinline__ bool nonfinite<uint8_t>(uint8_t v) {
  return (v & 0x7Fu) == 0x7Fu;
}

template <typename TBits>
__global__ void first_nonfinite_kernel(const TBits* data, int64_t n, unsigned long long* first) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    if (nonfinite<TBits>(data[i])) atomicMin(first, static_cast<unsigned long long>(i));
}

__global__ void range_check_kernel(const int32_t* ks, const int32_t* ke, int64_t T, int64_t S,
                                   unsigned long long* checks) {
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < T;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t a = ks[t], b = ke[t];
    const auto u = static_cast<unsigned long long>(t);
    if (a < 0) atomicMin(checks + kKsNegative, u);
    if (a > b) atomicMin(checks + kKsAboveKe, u);
    if (b > S) atomicMin(checks + kKeAboveS, u);
  }
}

unsigned grid_for(int64_t n) {
  return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(ceil_div(n, 256), 1), 4096));
}

template <typename TBits>
void scan_nonfinite(const void* data, int64_t n, unsigned long long* slot, cudaStream_t st) {
  if (n <= 0 || data == nullptr) return;
  first_nonfinite_kernel<TBits><<<grid_for(n), 256, 0, st>>>(static_cast<const TBits*>(data), n,
                                                              slot);
  HISA_CUDA_CHECK_LAUNCH("first_nonfinite_kernel", "n=" + std::to_string(n));
}

void scan_elements(DType dtype, const void* data, int64_t n, unsigned long long* slot,
                   cudaStream_t st) {
  switch (dtype) {
    case DType::f32: scan_nonfinite<uint32_t>(data, n, slot, st); break;
    case DType::bf16: scan_nonfinite<uint16_t>(data, n, slot, st); break;
    case DType::fp8_e4m3: scan_nonfinite<uint8_t>(data, n, slot, st); break;
  }
}

int32_t read_int(const int32_t* device_ptr) {
  int32_t v = 0;
  HISA_CUDA_CHECK(cudaMemcpy(&v, device_ptr, sizeof v, cudaMemcpyDeviceToHost));
  return v;
}

// Device-side counterpart of validate_host_values: same checks, same messages. Costs one
// device->host copy and a stream sync (the reason graph-captured callers turn it off).
void check_device_values(const Problem& p, const Options& opts, unsigned long long* checks,
                         cudaStream_t st) {
  const std::string ctx = shape_string(p);
  HISA_CUDA_CHECK_CTX(cudaMemsetAsync(checks, 0xFF, kNumChecks * sizeof(unsigned long long), st),
                      ctx);
  if (p.ks != nullptr) {
    range_check_kernel<<<grid_for(p.T), 256, 0, st>>>(p.ks, p.ke, p.T, p.S, checks);
    HISA_CUDA_CHECK_LAUNCH("range_check_kernel", ctx);
  }
  if (!opts.allow_nonfinite) {
    scan_elements(p.dtype, p.q, p.T * p.H * p.D, checks + kQ, st);
    scan_elements(p.dtype, p.k, p.S * p.D, checks + kK, st);
    scan_elements(DType::f32, p.w, p.T * p.H, checks + kW, st);
    scan_elements(DType::f32, p.k_scale, p.k_scale ? p.S : 0, checks + kScale, st);
  }
  unsigned long long found[kNumChecks];
  HISA_CUDA_CHECK_CTX(cudaMemcpyAsync(found, checks, sizeof found, cudaMemcpyDeviceToHost, st),
                      ctx);
  HISA_CUDA_CHECK_CTX(cudaStreamSynchronize(st), ctx);
  const unsigned long long none = ~0ull;
  auto str = [](long long v) { return std::to_string(v); };
  // Ranges first (the host check's order), reporting the first offending row of each kind.
  if (found[kKsNegative] != none) {
    const auto t = static_cast<int64_t>(found[kKsNegative]);
    throw ArgumentError("ks", "ks[" + str(t) + "]=" + str(read_int(p.ks + t)) + " is negative");
  }
  if (found[kKsAboveKe] != none) {
    const auto t = static_cast<int64_t>(found[kKsAboveKe]);
    throw ArgumentError("ks", "ks[" + str(t) + "]=" + str(read_int(p.ks + t)) + " > ke[" +
                                  str(t) + "]=" + str(read_int(p.ke + t)) +
                                  " (need 0 <= ks <= ke <= S)");
  }
  if (found[kKeAboveS] != none) {
    const auto t = static_cast<int64_t>(found[kKeAboveS]);
    throw ArgumentError("ke", "ke[" + str(t) + "]=" + str(read_int(p.ke + t)) + " > S=" + str(p.S));
  }
  const char* names[] = {"q", "k", "w", "k_scale"};
  for (int c = kQ; c <= kScale; ++c)
    if (found[c] != none)
      throw ArgumentError(names[c], "element " + str(static_cast<long long>(found[c])) +
                                        " is NaN or Inf (rejected by default; pass "
                                        "allow_nonfinite / --allow-nonfinite to accept)");
}

// Device memory owned for the duration of one call; stream-ordered so that a call without a
// caller workspace still never synchronises.
class StreamBuffer {
 public:
  StreamBuffer(std::size_t bytes, cudaStream_t st, const std::string& ctx) : st_(st) {
    if (bytes > 0) HISA_CUDA_CHECK_CTX(cudaMallocAsync(&ptr_, bytes, st), ctx);
  }
  ~StreamBuffer() {
    if (ptr_ != nullptr) (void)cudaFreeAsync(ptr_, st_);
  }
  StreamBuffer(const StreamBuffer&) = delete;
  StreamBuffer& operator=(const StreamBuffer&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
  cudaStream_t st_;
};

// Plain device allocation for the host-staged path.
class DeviceBuffer {
 public:
  DeviceBuffer(std::size_t bytes, const char* what) {
    if (bytes > 0) HISA_CUDA_CHECK_CTX(cudaMalloc(&ptr_, bytes), std::string(what) + " " + std::to_string(bytes) + " bytes");
  }
  ~DeviceBuffer() {
    if (ptr_ != nullptr) (void)cudaFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
};

}  // namespace

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

const cudaDeviceProp& current_device_properties() {
  static std::mutex mu;
  static std::map<int, cudaDeviceProp> cache;
  int dev = 0;
  HISA_CUDA_CHECK(cudaGetDevice(&dev));
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(dev);
  if (it == cache.end()) {
    cudaDeviceProp prop{};
    HISA_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    it = cache.emplace(dev, prop).first;
  }
  return it->second;
}

int env_switch(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return -1;
  const std::string s(v);
  if (s == "0" || s == "1") return s == "1" ? 1 : 0;
  throw ArgumentError(name, "expected 0 or 1, got '" + s + "'");
}

int env_choice(const char* name, std::initializer_list<int> allowed, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  const std::string s(v);
  std::string list;
  for (int a : allowed) {
    if (s == std::to_string(a)) return a;
    list += (list.empty() ? "" : ", ") + std::to_string(a);
  }
  throw ArgumentError(name, "expected one of " + list + ", got '" + s + "'");
}

bool sm90a_kernel_ready(const void* kernel) {
  const cudaDeviceProp& prop = current_device_properties();
  if (prop.major != 9 || prop.minor != 0) return false;
  static std::mutex mu;
  static std::map<const void*, bool> loaded;
  std::lock_guard<std::mutex> lock(mu);
  auto it = loaded.find(kernel);
  if (it == loaded.end()) {
    cudaFuncAttributes attr{};
    const bool ok = cudaFuncGetAttributes(&attr, kernel) == cudaSuccess && attr.binaryVersion == 90;
    (void)cudaGetLastError();
    it = loaded.emplace(kernel, ok).first;
  }
  return it->second;
}

std::string shape_string(const Problem& p) {
  return "T=" + std::to_string(p.T) + " S=" + std::to_string(p.S) + " H=" + std::to_string(p.H) +
         " D=" + std::to_string(p.D) + " dtype=" + to_string(p.dtype);
}

std::size_t workspace_bytes(const Problem& p, const Config& cfg) {
  return layout(p, cfg, nullptr).total;
}

void select_device(const Problem& p, const Config& cfg, int32_t* out, const Options& opts) {
  if (p.T == 0) return;
  const auto st = static_cast<cudaStream_t>(opts.stream);
  const std::size_t need = workspace_bytes(p, cfg);
  void* ws = opts.workspace;
  std::unique_ptr<StreamBuffer> own;
  if (ws == nullptr || opts.workspace_bytes < need) {
    own = std::make_unique<StreamBuffer>(need, st, "workspace for " + shape_string(p));
    ws = own->get();
  }
  const Layout L = layout(p, cfg, ws);
  Problem dp = p;
  if (p.ks == nullptr) {
    fill_causal_kernel<<<grid_for(p.T), 256, 0, st>>>(L.ks, L.ke, p.T, p.S);
    HISA_CUDA_CHECK_LAUNCH("fill_causal_kernel", shape_string(p));
    dp.ks = L.ks;
    dp.ke = L.ke;
  }
  if (opts.check_values) check_device_values(p, opts, L.checks, st);
  switch (cfg.method) {
    case Method::flat: flat_select(dp, cfg, out, L.method, st); break;
    case Method::hisa:
    case Method::block: hisa_select(dp, cfg, out, L.method, st); break;
    case Method::misa: misa_select(dp, cfg, out, L.method, st); break;
  }
}

void select_host_staged(const Problem& p, const Config& cfg, int32_t* out, const Options& opts) {
  if (p.T == 0) return;
  const auto st = static_cast<cudaStream_t>(opts.stream);
  const std::size_t es = dtype_size(p.dtype);
  DeviceBuffer q(p.T * p.H * p.D * es, "q"), k(p.S * p.D * es, "k"),
      w(p.T * p.H * sizeof(float), "w"), scale(p.k_scale ? p.S * sizeof(float) : 0, "k_scale"),
      ks(p.ks ? p.T * sizeof(int32_t) : 0, "ks"), ke(p.ke ? p.T * sizeof(int32_t) : 0, "ke"),
      idx(p.T * cfg.topk * sizeof(int32_t), "out");
  auto up = [&](const DeviceBuffer& d, const void* h, std::size_t bytes) {
    if (bytes > 0)
      HISA_CUDA_CHECK_CTX(cudaMemcpyAsync(d.get(), h, bytes, cudaMemcpyHostToDevice, st),
                          shape_string(p));
  };
  up(q, p.q, p.T * p.H * p.D * es);
  up(k, p.k, p.S * p.D * es);
  up(w, p.w, p.T * p.H * sizeof(float));
  if (p.k_scale) up(scale, p.k_scale, p.S * sizeof(float));
  if (p.ks) {
    up(ks, p.ks, p.T * sizeof(int32_t));
    up(ke, p.ke, p.T * sizeof(int32_t));
  }
  Problem dp = p;
  dp.q = q.get();
  dp.k = k.get();
  dp.w = static_cast<const float*>(w.get());
  dp.k_scale = p.k_scale ? static_cast<const float*>(scale.get()) : nullptr;
  dp.ks = p.ks ? static_cast<const int32_t*>(ks.get()) : nullptr;
  dp.ke = p.ke ? static_cast<const int32_t*>(ke.get()) : nullptr;
  dp.memory = Device::cuda;
  Options o = opts;
  o.check_values = false;  // the dispatcher validated the host values
  o.workspace = nullptr;
  o.workspace_bytes = 0;
  select_device(dp, cfg, static_cast<int32_t*>(idx.get()), o);
  HISA_CUDA_CHECK_CTX(cudaMemcpyAsync(out, idx.get(), p.T * cfg.topk * sizeof(int32_t),
                                      cudaMemcpyDeviceToHost, st),
                      shape_string(p));
  HISA_CUDA_CHECK_CTX(cudaStreamSynchronize(st), shape_string(p));
}

}  // namespace hisa::cuda
