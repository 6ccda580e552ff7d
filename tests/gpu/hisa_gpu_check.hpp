// Helpers of the CUDA HISA tests (tests/gpu/test_hisa*.cpp): device upload, direct runs of
// hisa::cuda::hisa_select with a poisoned output, CPU references on sampled rows, and the
// tolerant row comparison of the tensor-core path (docs/cuda_hisa.md "Testing").
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cpu/cpu_backend.hpp"
#include "cpu/score.hpp"
#include "cuda/hisa_launch.cuh"
#include "cuda/methods.cuh"
#include "hisa/hisa.hpp"

namespace hisa_gpu_test {

using hisa::Config;
using hisa::DType;
using hisa::Method;
using hisa::Problem;

constexpr int32_t kPoison = 0x5A5A5A5A;  // cudaMemset(0x5A): never a valid index nor -1

#define HISA_TEST_CUDA(call)                                                    \
  do {                                                                          \
    cudaError_t e_ = (call);                                                    \
    if (e_ != cudaSuccess) throw std::runtime_error(std::string(#call) + ": " + \
                                                    cudaGetErrorString(e_));    \
  } while (0)

struct DeviceBuffer {
  void* ptr = nullptr;
  explicit DeviceBuffer(std::size_t bytes) {
    if (bytes > 0) HISA_TEST_CUDA(cudaMalloc(&ptr, bytes));
  }
  DeviceBuffer(const void* host, std::size_t bytes) : DeviceBuffer(bytes) {
    if (bytes > 0 && host != nullptr)
      HISA_TEST_CUDA(cudaMemcpy(ptr, host, bytes, cudaMemcpyHostToDevice));
  }
  ~DeviceBuffer() {
    if (ptr != nullptr) cudaFree(ptr);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr);
  }
};

// A host problem copied to the device, with ks/ke materialised (the causal default when absent).
struct DeviceProblem {
  std::vector<int32_t> ks, ke;  // host copies of the materialised ranges
  DeviceBuffer q, k, k_scale, w, dks, dke;
  Problem view;
  explicit DeviceProblem(const Problem& h)
      : ks(materialise(h, true)),
        ke(materialise(h, false)),
        q(h.q, static_cast<std::size_t>(h.T * h.H * h.D) * hisa::dtype_size(h.dtype)),
        k(h.k, static_cast<std::size_t>(h.S * h.D) * hisa::dtype_size(h.dtype)),
        k_scale(h.k_scale, h.k_scale ? sizeof(float) * h.S : 0),
        w(h.w, sizeof(float) * h.T * h.H),
        dks(ks.data(), sizeof(int32_t) * h.T),
        dke(ke.data(), sizeof(int32_t) * h.T) {
    view = h;
    view.memory = hisa::Device::cuda;
    view.q = q.ptr;
    view.k = k.ptr;
    view.k_scale = h.k_scale ? k_scale.as<float>() : nullptr;
    view.w = w.as<float>();
    view.ks = dks.as<int32_t>();
    view.ke = dke.as<int32_t>();
  }
  static std::vector<int32_t> materialise(const Problem& h, bool start) {
    std::vector<int32_t> v(h.T);
    for (int64_t t = 0; t < h.T; ++t) {
      const hisa::Range r = hisa::range_of(h, t);
      v[t] = static_cast<int32_t>(start ? r.ks : r.ke);
    }
    return v;
  }
};

// A GPU of compute capability 9.0 (the sm_90a kernels run) is visible.
inline bool have_sm90() {
  if (hisa::cuda_device_count() == 0) return false;
  cudaDeviceProp prop{};
  return cudaGetDeviceProperties(&prop, 0) == cudaSuccess && prop.major == 9 && prop.minor == 0;
}

// Runs hisa::cuda::hisa_select on a poisoned output; `unwritten` counts entries left poisoned.
struct GpuRun {
  std::vector<int32_t> idx;
  int64_t unwritten = 0;
};
inline GpuRun run_direct(const DeviceProblem& dp, const Config& cfg, bool portable) {
  hisa::cuda::hisa_force_portable(portable);
  const Problem& p = dp.view;
  const std::size_t ws_bytes = hisa::cuda::hisa_workspace_bytes(p, cfg);
  DeviceBuffer ws(ws_bytes);
  DeviceBuffer out(sizeof(int32_t) * p.T * cfg.topk);
  HISA_TEST_CUDA(cudaMemset(out.ptr, 0x5A, sizeof(int32_t) * p.T * cfg.topk));
  if (ws_bytes > 0) HISA_TEST_CUDA(cudaMemset(ws.ptr, 0xA5, ws_bytes));  // stale workspace
  hisa::cuda::hisa_select(p, cfg, out.as<int32_t>(), ws.ptr, nullptr);
  HISA_TEST_CUDA(cudaGetLastError());
  HISA_TEST_CUDA(cudaDeviceSynchronize());
  hisa::cuda::hisa_force_portable(false);
  GpuRun r;
  r.idx.resize(p.T * cfg.topk);
  HISA_TEST_CUDA(cudaMemcpy(r.idx.data(), out.ptr, sizeof(int32_t) * r.idx.size(),
                            cudaMemcpyDeviceToHost));
  for (int32_t v : r.idx) r.unwritten += v == kPoison ? 1 : 0;
  return r;
}

inline std::vector<int32_t> cpu_select(const Problem& h, const Config& cfg,
                                       bool allow_nonfinite = false) {
  std::vector<int32_t> out(h.T * cfg.topk);
  hisa::Options o;
  o.device = hisa::Device::cpu;
  o.allow_nonfinite = allow_nonfinite;
  hisa::select(h, cfg, out.data(), o);
  return out;
}

// Host copy of some query rows of `h` with explicit ks/ke (keys shared with h): the CPU
// reference of a big problem on a sample of its rows.
struct SampledRows {
  std::vector<int64_t> rows;
  std::vector<uint8_t> q;
  std::vector<float> w;
  std::vector<int32_t> ks, ke;
  Problem view;
  SampledRows(const Problem& h, std::vector<int64_t> r) : rows(std::move(r)) {
    const std::size_t qrow = static_cast<std::size_t>(h.H * h.D) * hisa::dtype_size(h.dtype);
    const uint8_t* qsrc = static_cast<const uint8_t*>(h.q);
    for (int64_t t : rows) {
      q.insert(q.end(), qsrc + t * qrow, qsrc + (t + 1) * qrow);
      w.insert(w.end(), h.w + t * h.H, h.w + (t + 1) * h.H);
      const hisa::Range rg = hisa::range_of(h, t);
      ks.push_back(static_cast<int32_t>(rg.ks));
      ke.push_back(static_cast<int32_t>(rg.ke));
    }
    view = h;
    view.T = static_cast<int64_t>(rows.size());
    view.q = q.data();
    view.w = w.data();
    view.ks = ks.data();
    view.ke = ke.data();
  }
};

inline std::vector<int64_t> spread(int64_t T, int64_t count) {
  std::vector<int64_t> r;
  if (count >= T) {
    for (int64_t t = 0; t < T; ++t) r.push_back(t);
    return r;
  }
  for (int64_t i = 0; i < count; ++i) r.push_back((T - 1) - i * (T - 1) / std::max<int64_t>(1, count - 1));
  std::sort(r.begin(), r.end());
  r.erase(std::unique(r.begin(), r.end()), r.end());
  return r;
}

// ---- the tolerant comparison ---------------------------------------------------------------

struct TolStats {
  int64_t rows = 0, identical_rows = 0;
  int64_t token_swaps = 0;  // differing tokens whose exact scores tie within tol_I
  int64_t block_swaps = 0;  // differing tokens explained by a kept block tied within tol_J
  int64_t violations = 0;
  std::string first;
  void fail(const std::string& msg) {
    if (violations++ == 0) first = msg;
  }
  std::string summary() const {
    std::ostringstream s;
    s << rows << " rows, " << identical_rows << " identical, " << token_swaps
      << " token near-tie swaps, " << block_swaps << " block near-tie swaps, " << violations
      << " violations" << (violations ? " (first: " + first + ")" : "");
    return s.str();
  }
};

// Tolerances of the tensor-core path relative to Cauchy-Schwarz magnitudes (docs/cuda_hisa.md):
// tol_I = 1e-3 * sum_h |w_h| |q_h| * max_s k_scale_s |k_s|; tol_J = 4e-3 * sum_h |w_h| |q_h| *
// max_j |kbar_j| (bf16 pooled keys: 2^-9 per element).
constexpr double kTolI = 1e-3, kTolJ = 4e-3;

// Random Gaussian workload of the DSA shape (H = 64, D = 128), quantized to FP8 (per-key
// scales) or rounded to bf16.
inline hisa::Workload dsa_gaussian(int64_t T, int64_t S, uint64_t seed, DType dt) {
  hisa::GaussianSpec g;
  g.T = T, g.S = S, g.H = 64, g.D = 128, g.seed = seed;
  hisa::Workload w = hisa::make_gaussian(g);
  return dt == DType::fp8_e4m3 ? hisa::quantize_fp8(w) : hisa::to_bf16(w);
}

// Causal sequences of the given lengths (DSA shape, seeds first_seed, first_seed + 1, ...)
// packed into one problem.
inline hisa::Workload packed_dsa_gaussian(std::initializer_list<int64_t> lengths,
                                          uint64_t first_seed, DType dt) {
  std::vector<hisa::Workload> seqs;
  uint64_t seed = first_seed;
  for (int64_t n : lengths) seqs.push_back(dsa_gaussian(n, n, seed++, dt));
  return hisa::pack_sequences(seqs);
}

// DSA-shaped FP8 problems for the selection's edge cases: every block holds the same 64 keys
// with k_scale 1 (exact score ties everywhere), or every 7th k_scale is NaN (NaN scores).
inline hisa::Workload tied_blocks_fp8(int64_t T, int64_t S, uint64_t seed) {
  hisa::Workload w = dsa_gaussian(T, S, seed, DType::fp8_e4m3);
  for (int64_t s = 64; s < w.S; ++s)
    std::copy_n(w.k.begin() + (s % 64) * w.D, w.D, w.k.begin() + s * w.D);
  std::fill(w.k_scale.begin(), w.k_scale.end(), 1.0f);
  return w;
}
inline hisa::Workload nan_scales_fp8(int64_t T, int64_t S, uint64_t seed) {
  hisa::Workload w = dsa_gaussian(T, S, seed, DType::fp8_e4m3);
  for (int64_t s = 0; s < w.S; s += 7) w.k_scale[s] = std::numeric_limits<float>::quiet_NaN();
  return w;
}

// Cauchy-Schwarz magnitudes of row t's scores, of which the tensor-core tolerances are
// fractions: query_magnitude = sum_{h in heads} |w_h| |q_h| (heads empty: all H heads),
// key_magnitude = max_{s in [ks, ke)} |k_scale_s| |k_s|, magnitude = their product.
inline double query_magnitude(const Problem& h, int64_t t, const std::vector<int32_t>& heads = {}) {
  std::vector<float> v(h.D);
  double wq = 0;
  const int64_t n = heads.empty() ? h.H : static_cast<int64_t>(heads.size());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t hh = heads.empty() ? i : heads[i];
    hisa::cpu::decode_run(h.dtype, h.q, (t * h.H + hh) * h.D, h.D, v.data());
    double s2 = 0;
    for (float x : v) s2 += double(x) * x;
    wq += std::fabs(h.w[t * h.H + hh]) * std::sqrt(s2);
  }
  return wq;
}
inline double key_magnitude(const Problem& h, int64_t t) {
  const hisa::Range r = hisa::range_of(h, t);
  std::vector<float> v(h.D);
  double kmax = 0;
  for (int64_t s = r.ks; s < r.ke; ++s) {
    hisa::cpu::decode_run(h.dtype, h.k, s * h.D, h.D, v.data());
    double s2 = 0;
    for (float x : v) s2 += double(x) * x;
    kmax = std::max(kmax, (h.k_scale ? std::fabs(h.k_scale[s]) : 1.0) * std::sqrt(s2));
  }
  return kmax;
}
inline double magnitude(const Problem& h, int64_t t, const std::vector<int32_t>& heads = {}) {
  return query_magnitude(h, t, heads) * key_magnitude(h, t);
}

// Row t of host problem h (ranges as h defines them): `gpu` and `cpu` are its idx rows.
inline void check_row(const Problem& h, int64_t t, const Config& cfg, const int32_t* gpu,
                      const int32_t* cpu, TolStats& st) {
  st.rows++;
  const int64_t topk = cfg.topk, B = cfg.block_size;
  const int64_t m = cfg.method == Method::block ? topk / B
                    : cfg.method == Method::flat ? INT64_MAX / 4
                                                 : cfg.blocks;
  const hisa::Range r = hisa::range_of(h, t);
  const int64_t n = r.n(), nb = (n + B - 1) / B;
  const bool all_blocks = cfg.method == Method::flat || nb <= m || n <= topk;
  auto tag = [&](const std::string& what) {
    return "row " + std::to_string(t) + " [" + std::to_string(r.ks) + "," + std::to_string(r.ke) +
           "): " + what;
  };
  std::vector<int32_t> G, C;
  bool pad_ok = true;
  for (int64_t i = 0; i < topk; ++i) {
    if (gpu[i] >= 0 && (G.size() == static_cast<std::size_t>(i))) G.push_back(gpu[i]);
    else if (gpu[i] != -1) pad_ok = false;
    if (cpu[i] >= 0 && (C.size() == static_cast<std::size_t>(i))) C.push_back(cpu[i]);
  }
  if (!pad_ok) return st.fail(tag("GPU row has an entry after -1 or a value < -1"));
  if (G.size() != C.size())
    return st.fail(tag("GPU has " + std::to_string(G.size()) + " valid entries, CPU " +
                       std::to_string(C.size())));
  std::set<int32_t> gs(G.begin(), G.end()), cs(C.begin(), C.end());
  if (gs.size() != G.size()) return st.fail(tag("duplicate index in GPU row"));
  for (int32_t s : G)
    if (s < r.ks || s >= r.ke) return st.fail(tag("index " + std::to_string(s) + " outside range"));
  if (std::equal(G.begin(), G.end(), C.begin())) {
    st.identical_rows++;
    return;
  }
  const double wq = query_magnitude(h, t), tol_i = kTolI * wq * key_magnitude(h, t);
  auto I = [&](int32_t s) { return static_cast<double>(hisa::cpu::token_score(h, t, s)); };
  std::vector<double> gi(G.size());
  for (std::size_t i = 0; i < G.size(); ++i) gi[i] = I(G[i]);
  for (std::size_t i = 0; i + 1 < G.size(); ++i)
    if (!(gi[i] >= gi[i + 1] - tol_i) && !std::isnan(gi[i + 1]))
      return st.fail(tag("GPU order: I(" + std::to_string(G[i]) + ")=" + std::to_string(gi[i]) +
                         " < I(" + std::to_string(G[i + 1]) + ")=" + std::to_string(gi[i + 1])));
  // CPU-kept blocks and their threshold, recomputed with the contract's arithmetic.
  std::vector<double> J(std::max<int64_t>(nb, 0), 0.0);
  std::vector<char> kept(std::max<int64_t>(nb, 0), all_blocks ? 1 : 0);
  double jthr = 0, tol_j = 0;
  if (!all_blocks) {
    std::vector<float> kbar(h.D), krow(h.D);
    std::vector<std::vector<float>> qs(h.H, std::vector<float>(h.D));
    for (int64_t hh = 0; hh < h.H; ++hh)
      hisa::cpu::decode_run(h.dtype, h.q, (t * h.H + hh) * h.D, h.D, qs[hh].data());
    double kbmax = 0;
    std::vector<uint64_t> ranked;
    for (int64_t j = 1; j < nb - 1; ++j) {
      std::fill(kbar.begin(), kbar.end(), 0.0f);
      for (int64_t s = r.ks + j * B; s < r.ks + (j + 1) * B; ++s) {
        hisa::cpu::decode_run(h.dtype, h.k, s * h.D, h.D, krow.data());
        const float sc = h.k_scale ? h.k_scale[s] : 1.0f;
        for (int64_t d = 0; d < h.D; ++d) kbar[d] = kbar[d] + (h.k_scale ? sc * krow[d] : krow[d]);
      }
      double s2 = 0;
      for (auto& x : kbar) {
        x = x / static_cast<float>(B);
        s2 += double(x) * x;
      }
      kbmax = std::max(kbmax, std::sqrt(s2));
      float sc = 0.0f;
      for (int64_t hh = 0; hh < h.H; ++hh)
        sc = std::fma(h.w[t * h.H + hh],
                      hisa::cpu::relu(hisa::cpu::dot_sequential(qs[hh].data(), kbar.data(), h.D)),
                      sc);
      J[j] = sc;
      ranked.push_back(hisa::cpu::rank_key(sc, j));
    }
    std::sort(ranked.rbegin(), ranked.rend());
    kept[0] = kept[nb - 1] = 1;
    for (int64_t i = 0; i < m - 2; ++i) kept[hisa::cpu::index_of(ranked[i])] = 1;
    jthr = m > 2 ? J[hisa::cpu::index_of(ranked[m - 3])] : INFINITY;
    tol_j = kTolJ * wq * kbmax;
  }
  for (int32_t s : C)
    if (!kept[(s - r.ks) / B]) return st.fail(tag("test bug: CPU token outside recomputed blocks"));
  double ik_c = INFINITY, ik_g = INFINITY;
  for (int32_t s : C) ik_c = std::min(ik_c, I(s));
  for (double v : gi) ik_g = std::min(ik_g, v);
  for (std::size_t i = 0; i < G.size(); ++i) {
    const int32_t s = G[i];
    if (cs.count(s)) continue;
    const int64_t j = (s - r.ks) / B;
    if (kept[j]) {
      if (gi[i] >= ik_c - tol_i) st.token_swaps++;
      else return st.fail(tag("GPU token " + std::to_string(s) + " I=" + std::to_string(gi[i]) +
                              " below CPU k-th " + std::to_string(ik_c) + " - tol " +
                              std::to_string(tol_i)));
    } else {
      if (J[j] >= jthr - tol_j) st.block_swaps++;
      else return st.fail(tag("GPU token " + std::to_string(s) + " from block " +
                              std::to_string(j) + " with J=" + std::to_string(J[j]) +
                              " below the kept threshold " + std::to_string(jthr) + " - tol " +
                              std::to_string(tol_j)));
    }
  }
  for (int32_t s : C) {
    if (gs.count(s)) continue;
    const int64_t j = (s - r.ks) / B;
    const double v = I(s);
    if (v <= ik_g + tol_i) st.token_swaps++;
    else if (!all_blocks && j > 0 && j < nb - 1 && J[j] <= jthr + tol_j) st.block_swaps++;
    else return st.fail(tag("CPU token " + std::to_string(s) + " I=" + std::to_string(v) +
                            " missing on GPU (GPU k-th " + std::to_string(ik_g) + ")"));
  }
}

// ---- fast FP8 random problems (big cases; avoids a 1 GB f32 intermediate) ----------------------

struct Fp8Problem {
  int64_t T = 0, S = 0, H = 64, D = 128;
  std::vector<uint8_t> q, k;
  std::vector<float> k_scale, w;
  std::vector<int32_t> ks, ke;  // empty: causal default
  Problem view() const {
    Problem p;
    p.dtype = DType::fp8_e4m3;
    p.T = T, p.S = S, p.H = H, p.D = D;
    p.q = q.data(), p.k = k.data(), p.k_scale = k_scale.data(), p.w = w.data();
    p.ks = ks.empty() ? nullptr : ks.data();
    p.ke = ke.empty() ? nullptr : ke.data();
    return p;
  }
};

// q, k: FP8 codes of N(0, 4^2) samples through a 4096-entry table (so every code is a
// quantised normal); k_scale in [0.5, 1.5); w ~ N(0, 1/H). Deterministic per seed.
inline Fp8Problem make_fp8_random(int64_t T, int64_t S, uint64_t seed) {
  uint64_t st = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&]() {
    st += 0x9E3779B97F4A7C15ull;
    uint64_t z = st;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  auto uniform = [&]() { return (next() >> 11) * (1.0 / 9007199254740992.0); };
  auto normal = [&]() {
    const double u1 = std::max(uniform(), 1e-300), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  };
  std::vector<uint8_t> table(4096);
  for (auto& c : table) c = hisa::float_to_fp8_e4m3(static_cast<float>(4.0 * normal()));
  Fp8Problem p;
  p.T = T, p.S = S;
  p.q.resize(T * p.H * p.D);
  p.k.resize(S * p.D);
  auto fill = [&](std::vector<uint8_t>& v) {
    for (std::size_t i = 0; i < v.size(); i += 4) {
      uint64_t z = next();
      for (std::size_t e = 0; e < 4 && i + e < v.size(); ++e, z >>= 12) v[i + e] = table[z & 4095];
    }
  };
  fill(p.q);
  fill(p.k);
  p.k_scale.resize(S);
  for (auto& x : p.k_scale) x = static_cast<float>(0.5 + uniform());
  p.w.resize(T * p.H);
  for (auto& x : p.w) x = static_cast<float>(normal() / std::sqrt(double(p.H)));
  return p;
}

inline Config hisa_cfg(int64_t topk, int64_t B, int64_t m) {
  Config c;
  c.method = Method::hisa;
  c.topk = topk;
  c.block_size = B;
  c.blocks = m;
  return c;
}

// ---- two runs of one problem ----------------------------------------------------------------

// Rows where two runs' idx rows differ: their count, and the first (-1 if none).
struct RowDiff {
  int64_t count = 0, first = -1;
};
inline RowDiff differing_rows(const GpuRun& a, const GpuRun& b, int64_t T, int64_t topk) {
  RowDiff d;
  for (int64_t t = 0; t < T; ++t)
    if (!std::equal(a.idx.begin() + t * topk, a.idx.begin() + (t + 1) * topk,
                    b.idx.begin() + t * topk) &&
        d.count++ == 0)
      d.first = t;
  return d;
}

// hisa_select on a caller stream and workspace, captured into a CUDA graph and replayed `reps`
// times on poisoned outputs: the idx of each replay (the call must not sync the host).
inline std::vector<std::vector<int32_t>> graph_replays(const DeviceProblem& dp, const Config& cfg,
                                                       int reps) {
  const Problem& p = dp.view;
  const std::size_t ws_bytes = hisa::cuda::hisa_workspace_bytes(p, cfg);
  DeviceBuffer ws(ws_bytes);
  DeviceBuffer out(sizeof(int32_t) * p.T * cfg.topk);
  cudaStream_t st;
  HISA_TEST_CUDA(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  cudaGraph_t graph;
  HISA_TEST_CUDA(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
  hisa::cuda::hisa_select(p, cfg, out.as<int32_t>(), ws.ptr, st);
  HISA_TEST_CUDA(cudaStreamEndCapture(st, &graph));
  cudaGraphExec_t exec;
  HISA_TEST_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  std::vector<std::vector<int32_t>> got(reps, std::vector<int32_t>(p.T * cfg.topk));
  for (int rep = 0; rep < reps; ++rep) {
    HISA_TEST_CUDA(cudaMemsetAsync(out.ptr, 0x5A, sizeof(int32_t) * p.T * cfg.topk, st));
    HISA_TEST_CUDA(cudaGraphLaunch(exec, st));
    HISA_TEST_CUDA(cudaStreamSynchronize(st));
    HISA_TEST_CUDA(cudaMemcpy(got[rep].data(), out.ptr, sizeof(int32_t) * got[rep].size(),
                              cudaMemcpyDeviceToHost));
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(st);
  return got;
}

// check_row of `idx` (a full GPU output of h) against the CPU on `nsample` spread rows; the
// CPU runs `ref_cfg` if given (e.g. flat, for a configuration whose answer is flat's).
inline TolStats check_sampled_rows(const Problem& h, const Config& cfg,
                                   const std::vector<int32_t>& idx, int64_t nsample,
                                   const Config* ref_cfg = nullptr) {
  SampledRows sr(h, spread(h.T, nsample));
  const std::vector<int32_t> c = cpu_select(sr.view, ref_cfg ? *ref_cfg : cfg);
  TolStats st;
  for (std::size_t i = 0; i < sr.rows.size(); ++i)
    check_row(h, sr.rows[i], cfg, idx.data() + sr.rows[i] * cfg.topk, c.data() + i * cfg.topk, st);
  return st;
}

}  // namespace hisa_gpu_test
