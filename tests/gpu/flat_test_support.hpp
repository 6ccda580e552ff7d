// Helpers of the CUDA flat/backend tests: device buffers, random FP8 problems, a CPU reference
// on a subset of rows, and the tolerance comparison of a GPU selection with the CPU's.
//
// Tolerance (tensor-core scorers): the CPU scores in sequential f32 fma; a tensor core sums the
// D products in its own order (FP8 wgmma with its own accumulator precision) and the heads are
// summed in another order. Both are within rel * A(t, s) of the exact value, where
//   A(t, s) = |k_scale[s]| * sum_h |w[t,h]| * sum_d |q[t,h,d] * k[s,d]|
// bounds every partial sum. So a GPU selection G is accepted against the CPU selection C when
//   * G has the same length min(topk, n_t), distinct indices inside [ks, ke), -1 after;
//   * every s in G \ C has I(s) >= I(c_kth) - rel * (A(s) + A(c_kth))   (a near tie),
//   * every s in C \ G has I(s) <= I(g_min) + rel * (A(s) + A(g_min)),
//   * G is ranked: I(G[j]) >= I(G[j+1]) - rel * (A(G[j]) + A(G[j+1])).
// with I the CPU's exact score (hisa::cpu::token_score). rel = 2e-3 (about 2^-9; the FP8
// accumulator keeps more than 13 bits). The simt scorer is bitwise exact: its indices must be
// EQUAL to the CPU's.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cpu/cpu_backend.hpp"
#include "cpu/score.hpp"
#include "hisa/hisa.hpp"

namespace hisa::test {

constexpr double kTensorCoreRel = 2e-3;
constexpr int32_t kPoison = 0x7F7F7F7F;

#define SKIP_WITHOUT_GPU()                                                        \
  do {                                                                            \
    if (::hisa::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device visible"; \
  } while (0)

inline void cuda_ok(cudaError_t e, const char* what) {
  ASSERT_EQ(e, cudaSuccess) << what << ": " << cudaGetErrorString(e);
}

// Owning device buffer.
template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(std::size_t n) : n_(n) {
    if (n > 0 && cudaMalloc(&p_, n * sizeof(T)) != cudaSuccess) throw std::bad_alloc();
  }
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) { upload(host); }
  ~DeviceArray() {
    if (p_) cudaFree(p_);
  }
  DeviceArray(DeviceArray&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  T* get() const { return static_cast<T*>(p_); }
  std::size_t size() const { return n_; }
  void upload(const std::vector<T>& h) {
    if (!h.empty()) cudaMemcpy(p_, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice);
  }
  std::vector<T> download() const {
    std::vector<T> h(n_);
    if (n_ > 0) cudaMemcpy(h.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost);
    return h;
  }
  void fill_bytes(int byte) {
    if (n_ > 0) cudaMemset(p_, byte, n_ * sizeof(T));
  }

 private:
  void* p_ = nullptr;
  std::size_t n_ = 0;
};

// A host workload copied to the device; problem() has device pointers.
struct DeviceProblem {
  DeviceArray<uint8_t> q, k;
  DeviceArray<float> k_scale, w;
  DeviceArray<int32_t> ks, ke;
  Problem host;
  explicit DeviceProblem(const Workload& wl) : host(wl.problem()) {
    q = DeviceArray<uint8_t>(wl.q);
    k = DeviceArray<uint8_t>(wl.k);
    w = DeviceArray<float>(wl.w);
    if (!wl.k_scale.empty()) k_scale = DeviceArray<float>(wl.k_scale);
    if (!wl.ks.empty()) {
      ks = DeviceArray<int32_t>(wl.ks);
      ke = DeviceArray<int32_t>(wl.ke);
    }
  }
  Problem problem() const {
    Problem p = host;
    p.q = q.get();
    p.k = k.get();
    p.w = w.get();
    p.k_scale = host.k_scale ? k_scale.get() : nullptr;
    p.ks = host.ks ? ks.get() : nullptr;
    p.ke = host.ke ? ke.get() : nullptr;
    p.memory = Device::cuda;
    return p;
  }
};

// Calls fn(i) for i in [0, n) on all hardware threads.
template <class Fn>
void parallel_rows(int64_t n, Fn&& fn) {
  const int workers = std::max(1u, std::thread::hardware_concurrency());
  std::atomic<int64_t> next{0};
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w)
    pool.emplace_back([&] {
      for (int64_t i = next++; i < n; i = next++) fn(i);
    });
  for (auto& t : pool) t.join();
}

// Random FP8 e4m3 problem: q, k codes of N(0, 100^2) values (the e4m3 range; drawn from a
// table of 4096 encoded normals, fast at T = 32K), k_scale in [0.5, 1.5), w ~ N(0,1)/8 (both
// signs), default causal range. Finite values only.
inline Workload random_fp8(int64_t T, int64_t S, int64_t H, int64_t D, uint64_t seed) {
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&state] {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
  };
  auto normal = [&] {
    double u1 = ((next() >> 11) + 1) * (1.0 / 9007199254740993.0);
    double u2 = (next() >> 11) * (1.0 / 9007199254740992.0);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  };
  std::vector<uint8_t> table(4096);
  for (auto& c : table) c = float_to_fp8_e4m3(static_cast<float>(normal() * 100.0));
  Workload wl;
  wl.dtype = DType::fp8_e4m3;
  wl.T = T;
  wl.S = S;
  wl.H = H;
  wl.D = D;
  wl.q.resize(T * H * D);
  wl.k.resize(S * D);
  for (auto& c : wl.q) c = table[next() & 4095];
  for (auto& c : wl.k) c = table[next() & 4095];
  wl.k_scale.resize(S);
  for (auto& s : wl.k_scale) s = 0.5f + static_cast<float>((next() >> 40) * (1.0 / 16777216.0));
  wl.w.resize(T * H);
  for (auto& x : wl.w) x = static_cast<float>(normal() / 8.0);
  wl.description = "random fp8";
  return wl;
}

// CPU flat selection of rows `rows` of host problem p (a sub-problem with explicit ranges).
inline std::vector<int32_t> cpu_flat_rows(const Problem& p, const std::vector<int64_t>& rows,
                                          int64_t topk) {
  const std::size_t es = dtype_size(p.dtype);
  const int64_t n = static_cast<int64_t>(rows.size());
  std::vector<uint8_t> q(n * p.H * p.D * es);
  std::vector<float> w(n * p.H);
  std::vector<int32_t> ks(n), ke(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = rows[i];
    std::memcpy(q.data() + i * p.H * p.D * es,
                static_cast<const uint8_t*>(p.q) + t * p.H * p.D * es, p.H * p.D * es);
    std::memcpy(w.data() + i * p.H, p.w + t * p.H, p.H * sizeof(float));
    const Range r = range_of(p, t);
    ks[i] = static_cast<int32_t>(r.ks);
    ke[i] = static_cast<int32_t>(r.ke);
  }
  Problem sub = p;
  sub.T = n;
  sub.q = q.data();
  sub.w = w.data();
  sub.ks = ks.data();
  sub.ke = ke.data();
  Config cfg;
  cfg.method = Method::flat;
  cfg.topk = topk;
  Options o;
  o.device = Device::cpu;
  std::vector<int32_t> out(n * topk);
  select(sub, cfg, out.data(), o);
  return out;
}

// The L1 bound A(t, s) of the header comment, in double.
inline double score_bound(const Problem& p, int64_t t, int64_t s) {
  std::vector<float> k(p.D), q(p.D);
  cpu::decode_run(p.dtype, p.k, s * p.D, p.D, k.data());
  double a = 0;
  for (int64_t h = 0; h < p.H; ++h) {
    cpu::decode_run(p.dtype, p.q, (t * p.H + h) * p.D, p.D, q.data());
    double l1 = 0;
    for (int64_t d = 0; d < p.D; ++d) l1 += std::fabs(static_cast<double>(q[d]) * k[d]);
    a += std::fabs(p.w[t * p.H + h]) * l1;
  }
  return a * (p.k_scale ? std::fabs(p.k_scale[s]) : 1.0);
}

// Structural check of one GPU row: min(topk, n) distinct indices inside the range, then -1.
// Returns an empty string when fine, else the first problem found.
inline std::string check_row_shape(const Problem& p, int64_t t, const int32_t* row, int64_t topk) {
  const Range r = range_of(p, t);
  const int64_t m = std::min<int64_t>(topk, r.n());
  std::set<int32_t> seen;
  for (int64_t j = 0; j < topk; ++j) {
    const int32_t v = row[j];
    if (j < m) {
      if (v < r.ks || v >= r.ke)
        return "row " + std::to_string(t) + " slot " + std::to_string(j) + ": index " +
               std::to_string(v) + " outside [" + std::to_string(r.ks) + ", " +
               std::to_string(r.ke) + ")";
      if (!seen.insert(v).second)
        return "row " + std::to_string(t) + ": index " + std::to_string(v) + " repeated";
    } else if (v != -1) {
      return "row " + std::to_string(t) + " slot " + std::to_string(j) + ": expected -1, got " +
             std::to_string(v);
    }
  }
  return {};
}

// Tolerance comparison of one row (header comment). Empty string when accepted.
inline std::string compare_row(const Problem& p, int64_t t, const int32_t* gpu, const int32_t* cpu,
                               int64_t topk, double rel) {
  if (std::string e = check_row_shape(p, t, gpu, topk); !e.empty()) return e;
  const int64_t m = std::min<int64_t>(topk, range_of(p, t).n());
  if (m == 0) return {};
  std::set<int32_t> G(gpu, gpu + m), C(cpu, cpu + m);
  auto I = [&](int64_t s) { return static_cast<double>(cpu::token_score(p, t, s)); };
  auto A = [&](int64_t s) { return score_bound(p, t, s); };
  const int32_t c_kth = cpu[m - 1];
  const double i_kth = I(c_kth), a_kth = A(c_kth);
  int32_t g_min = gpu[0];
  double i_gmin = I(g_min);
  std::vector<double> gi(m);
  for (int64_t j = 0; j < m; ++j) {
    gi[j] = I(gpu[j]);
    if (gi[j] < i_gmin) {
      i_gmin = gi[j];
      g_min = gpu[j];
    }
  }
  const double a_gmin = A(g_min);
  for (int64_t j = 0; j < m; ++j) {
    const int32_t s = gpu[j];
    if (!C.count(s) && gi[j] < i_kth - rel * (A(s) + a_kth))
      return "row " + std::to_string(t) + ": GPU picked " + std::to_string(s) + " (I=" +
             std::to_string(gi[j]) + ") below the CPU k-th score " + std::to_string(i_kth);
    if (j + 1 < m && gi[j] < gi[j + 1] && gi[j] < gi[j + 1] - rel * (A(s) + A(gpu[j + 1])))
      return "row " + std::to_string(t) + ": GPU ranking out of order at slot " +
             std::to_string(j) + " (" + std::to_string(gi[j]) + " < " +
             std::to_string(gi[j + 1]) + ")";
  }
  for (int64_t j = 0; j < m; ++j) {
    const int32_t s = cpu[j];
    if (!G.count(s) && I(s) > i_gmin + rel * (A(s) + a_gmin))
      return "row " + std::to_string(t) + ": GPU missed " + std::to_string(s) + " (I=" +
             std::to_string(I(s)) + ") above its lowest pick " + std::to_string(i_gmin);
  }
  return {};
}

// Compares GPU rows (all T rows, [T, topk]) with the CPU on `rows` (empty: every row).
// Exact mode: identical index lists. Returns the number of rows that failed (and reports
// the first few through ADD_FAILURE).
inline int64_t compare_with_cpu(const Problem& host, const std::vector<int32_t>& gpu,
                                int64_t topk, std::vector<int64_t> rows, bool exact,
                                double rel = kTensorCoreRel) {
  if (rows.empty())
    for (int64_t t = 0; t < host.T; ++t) rows.push_back(t);
  const std::vector<int32_t> cpu = cpu_flat_rows(host, rows, topk);
  const int64_t n = static_cast<int64_t>(rows.size());
  std::vector<std::string> errors(n);
  parallel_rows(n, [&](int64_t i) {
    const int32_t* g = gpu.data() + rows[i] * topk;
    const int32_t* c = cpu.data() + i * topk;
    if (exact) {
      for (int64_t j = 0; j < topk; ++j)
        if (g[j] != c[j]) {
          errors[i] = "row " + std::to_string(rows[i]) + " slot " + std::to_string(j) +
                      ": GPU " + std::to_string(g[j]) + " != CPU " + std::to_string(c[j]);
          return;
        }
    } else {
      errors[i] = compare_row(host, rows[i], g, c, topk, rel);
    }
  });
  int64_t failed = 0;
  for (const std::string& e : errors)
    if (!e.empty() && ++failed <= 5) ADD_FAILURE() << e;
  return failed;
}

// `count` rows spread over [0, T), always including the first and the last.
inline std::vector<int64_t> sample_rows(int64_t T, int64_t count) {
  std::vector<int64_t> rows;
  if (count >= T) {
    for (int64_t t = 0; t < T; ++t) rows.push_back(t);
    return rows;
  }
  for (int64_t i = 0; i < count; ++i) rows.push_back(i * (T - 1) / (count - 1));
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

}  // namespace hisa::test
