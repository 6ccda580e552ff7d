// Small helpers of `hisa bench` (cmd_bench.cpp): median, UTC time stamp, JSON strings and
// numbers, and (CUDA builds) an owned device allocation and a set of CUDA events.
#pragma once

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#ifdef HISA_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda/common.cuh"
#endif

namespace hisa::cli {

inline double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

inline std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

inline std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  }
  return o + "\"";
}

inline std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

#ifdef HISA_WITH_CUDA
// Device allocation owned by the benchmark.
struct DeviceBytes {
  void* p = nullptr;
  explicit DeviceBytes(std::size_t bytes) {
    if (bytes > 0) HISA_CUDA_CHECK_CTX(cudaMalloc(&p, bytes), std::to_string(bytes) + " bytes");
  }
  ~DeviceBytes() {
    if (p) cudaFree(p);
  }
  DeviceBytes(const DeviceBytes&) = delete;
  DeviceBytes& operator=(const DeviceBytes&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(p); }
};

struct Events {
  std::vector<cudaEvent_t> e;
  explicit Events(std::size_t n) : e(n) {
    for (auto& x : e) HISA_CUDA_CHECK(cudaEventCreate(&x));
  }
  ~Events() {
    for (auto& x : e) cudaEventDestroy(x);
  }
  double ms(std::size_t a, std::size_t b) const {
    float v = 0;
    HISA_CUDA_CHECK(cudaEventElapsedTime(&v, e[a], e[b]));
    return v;
  }
};
#endif  // HISA_WITH_CUDA

}  // namespace hisa::cli
