// Helpers of the CUDA MISA tests (tests/gpu/test_misa*.cpp): direct runs of
// hisa::cuda::misa_select with a poisoned output and a stale workspace (and the GPU's active
// heads of every row), the router in double precision, a CPU reference computed WITH THE GPU'S
// HEADS, and the tolerant row comparison of the tensor-core path.
//
// Tolerances (SPEC.md "Tolerances of tensor-core paths", magnitudes as in hisa_gpu_check.hpp):
//   router   r(t,h) is a sum over blocks of bf16-pooled-key dots: a GPU head set may differ from
//            the exact one only by heads whose r is within kTolR * (E_h + E_a-th) of the a-th
//            largest, E_h = |w_h| sum_j sum_d |q_hd kbar_jd| (bf16 keys: 2^-9 per element);
//   I        1e-3 * sum_h |w_h| |q_h| * max_s k_scale_s |k_s| (membership and order, as HISA);
//   I_A      2e-3 * the same sum over the active heads (the tensor-core error plus the f16
//            rounding of the routed logits, 2^-11 relative), at the c*topk candidate boundary.
// Rows are compared with the CPU reference computed with the GPU's heads, so a router near-tie
// never hides a selection error.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cpu/cpu_backend.hpp"
#include "cpu/score.hpp"
#include "cuda/methods.cuh"
#include "cuda/misa_launch.cuh"
#include "hisa_gpu_check.hpp"

namespace hisa_gpu_test {

constexpr double kTolR = 4e-3, kTolIA = 2e-3;

inline Config misa_cfg(int64_t topk, int64_t B, int64_t a, int64_t c) {
  Config cfg;
  cfg.method = Method::misa;
  cfg.topk = topk;
  cfg.block_size = B;
  cfg.heads = a;
  cfg.candidates = c;
  return cfg;
}

struct MisaRun {
  std::vector<int32_t> idx, heads;  // [T, topk], [T, a] (-1: row not routed)
  int64_t unwritten = 0;
};

// path: 0 automatic, 1 sm_90a, 2 portable; logits: 0 automatic, 1 f32, 2 f16.
inline MisaRun run_misa(const DeviceProblem& dp, const Config& cfg, int path, int logits = 0) {
  const Problem& p = dp.view;
  DeviceBuffer heads(sizeof(int32_t) * p.T * cfg.heads);
  HISA_TEST_CUDA(cudaMemset(heads.ptr, 0x5A, sizeof(int32_t) * p.T * cfg.heads));
  hisa::cuda::MisaTuning tune;
  tune.path = path;
  tune.logits = logits;
  tune.heads = heads.as<int32_t>();
  hisa::cuda::misa_set_tuning(tune);
  const std::size_t ws_bytes = hisa::cuda::misa_workspace_bytes(p, cfg);
  DeviceBuffer ws(ws_bytes);
  DeviceBuffer out(sizeof(int32_t) * p.T * cfg.topk);
  HISA_TEST_CUDA(cudaMemset(out.ptr, 0x5A, sizeof(int32_t) * p.T * cfg.topk));
  if (ws_bytes > 0) HISA_TEST_CUDA(cudaMemset(ws.ptr, 0xA5, ws_bytes));  // stale workspace
  try {
    hisa::cuda::misa_select(p, cfg, out.as<int32_t>(), ws.ptr, nullptr);
  } catch (...) {
    hisa::cuda::misa_set_tuning({});
    throw;
  }
  HISA_TEST_CUDA(cudaGetLastError());
  HISA_TEST_CUDA(cudaDeviceSynchronize());
  hisa::cuda::misa_set_tuning({});
  MisaRun r;
  r.idx.resize(p.T * cfg.topk);
  r.heads.resize(p.T * cfg.heads);
  HISA_TEST_CUDA(cudaMemcpy(r.idx.data(), out.ptr, sizeof(int32_t) * r.idx.size(),
                            cudaMemcpyDeviceToHost));
  HISA_TEST_CUDA(cudaMemcpy(r.heads.data(), heads.ptr, sizeof(int32_t) * r.heads.size(),
                            cudaMemcpyDeviceToHost));
  for (int32_t v : r.idx) r.unwritten += v == kPoison ? 1 : 0;
  return r;
}

// Structure of every row: min(topk, n) distinct entries inside [ks, ke), then -1.
inline int64_t malformed_rows(const Problem& h, const Config& cfg, const MisaRun& g,
                              int64_t* first = nullptr) {
  int64_t bad = 0;
  for (int64_t t = 0; t < h.T; ++t) {
    const hisa::Range r = hisa::range_of(h, t);
    const int64_t want = std::min<int64_t>(cfg.topk, r.n());
    const int32_t* row = g.idx.data() + t * cfg.topk;
    std::set<int32_t> seen;
    bool ok = true;
    for (int64_t i = 0; i < cfg.topk; ++i)
      ok = ok && (i < want ? row[i] >= r.ks && row[i] < r.ke && seen.insert(row[i]).second
                           : row[i] == -1);
    if (!ok && bad++ == 0 && first != nullptr) *first = t;
  }
  return bad;
}

// ---- the router in double -------------------------------------------------------------------

struct RouterRow {
  std::vector<double> r, err;  // r(t, h) and its error magnitude E_h
  std::vector<int32_t> heads;  // exact choice, ascending
};

inline RouterRow router_double(const Problem& h, int64_t t, int64_t B, int64_t a) {
  const hisa::Range rg = hisa::range_of(h, t);
  const int64_t nfull = rg.n() > 0 ? (rg.n() - 1) / B : 0;
  std::vector<std::vector<float>> q(h.H, std::vector<float>(h.D));
  for (int64_t hh = 0; hh < h.H; ++hh)
    hisa::cpu::decode_run(h.dtype, h.q, (t * h.H + hh) * h.D, h.D, q[hh].data());
  RouterRow out;
  out.r.assign(h.H, 0.0);
  out.err.assign(h.H, 0.0);
  std::vector<float> krow(h.D);
  std::vector<double> kbar(h.D);
  for (int64_t j = 0; j < nfull; ++j) {
    std::fill(kbar.begin(), kbar.end(), 0.0);
    for (int64_t s = rg.ks + j * B; s < rg.ks + (j + 1) * B; ++s) {
      hisa::cpu::decode_run(h.dtype, h.k, s * h.D, h.D, krow.data());
      const double sc = h.k_scale ? h.k_scale[s] : 1.0;
      for (int64_t d = 0; d < h.D; ++d) kbar[d] += sc * krow[d];
    }
    for (auto& x : kbar) x /= static_cast<double>(B);
    for (int64_t hh = 0; hh < h.H; ++hh) {
      double dot = 0, l1 = 0;
      for (int64_t d = 0; d < h.D; ++d) {
        dot += q[hh][d] * kbar[d];
        l1 += std::fabs(q[hh][d] * kbar[d]);
      }
      out.r[hh] += std::max(dot, 0.0);
      out.err[hh] += l1;
    }
  }
  std::vector<std::pair<double, int32_t>> ranked;
  for (int64_t hh = 0; hh < h.H; ++hh) {
    const double w = std::fabs(h.w[t * h.H + hh]);
    out.r[hh] *= w;
    out.err[hh] *= w;
    ranked.push_back({out.r[hh], static_cast<int32_t>(hh)});
  }
  std::sort(ranked.begin(), ranked.end(), [](auto x, auto y) {
    return x.first != y.first ? x.first > y.first : x.second > y.second;
  });
  for (int64_t i = 0; i < a; ++i) out.heads.push_back(ranked[i].second);
  std::sort(out.heads.begin(), out.heads.end());
  return out;
}

struct HeadStats {
  int64_t rows = 0, identical = 0, near_tie_rows = 0, violations = 0;
  std::string first;
  std::string summary() const {
    std::ostringstream s;
    s << rows << " routed rows, " << identical << " identical head sets, " << near_tie_rows
      << " differing by near-tied heads, " << violations << " violations"
      << (violations ? " (first: " + first + ")" : "");
    return s.str();
  }
};

// GPU heads of row t vs the exact router, up to near ties (header comment).
inline void check_heads(const Problem& h, int64_t t, int64_t B, int64_t a, const int32_t* gpu,
                        HeadStats& st) {
  const RouterRow ref = router_double(h, t, B, a);
  st.rows++;
  std::vector<int32_t> g(gpu, gpu + a);
  auto fail = [&](const std::string& m) {
    if (st.violations++ == 0) st.first = "row " + std::to_string(t) + ": " + m;
  };
  if (!std::is_sorted(g.begin(), g.end()) || std::adjacent_find(g.begin(), g.end()) != g.end() ||
      g.front() < 0 || g.back() >= h.H)
    return fail("GPU heads not distinct, ascending and in [0, H)");
  if (g == ref.heads) {
    st.identical++;
    return;
  }
  const std::set<int32_t> gs(g.begin(), g.end()), cs(ref.heads.begin(), ref.heads.end());
  int32_t c_ath = ref.heads[0], g_min = g[0];
  for (int32_t x : ref.heads) if (ref.r[x] < ref.r[c_ath]) c_ath = x;
  for (int32_t x : g) if (ref.r[x] < ref.r[g_min]) g_min = x;
  for (int32_t x : g)
    if (!cs.count(x) && ref.r[x] < ref.r[c_ath] - kTolR * (ref.err[x] + ref.err[c_ath]))
      return fail("GPU head " + std::to_string(x) + " r=" + std::to_string(ref.r[x]) +
                  " below the a-th " + std::to_string(ref.r[c_ath]));
  for (int32_t x : ref.heads)
    if (!gs.count(x) && ref.r[x] > ref.r[g_min] + kTolR * (ref.err[x] + ref.err[g_min]))
      return fail("head " + std::to_string(x) + " r=" + std::to_string(ref.r[x]) +
                  " missing on the GPU (its lowest " + std::to_string(ref.r[g_min]) + ")");
  st.near_tie_rows++;
}

// ---- the selection with the GPU's heads ----------------------------------------------------

// The routed score with the contract's arithmetic over `heads` (ascending).
inline float routed_score(const Problem& h, int64_t t, const std::vector<int32_t>& heads,
                          int64_t s) {
  std::vector<float> q(h.D), k(h.D);
  hisa::cpu::decode_run(h.dtype, h.k, s * h.D, h.D, k.data());
  float sc = 0.0f;
  for (int32_t hh : heads) {
    hisa::cpu::decode_run(h.dtype, h.q, (t * h.H + hh) * h.D, h.D, q.data());
    sc = std::fma(h.w[t * h.H + hh], hisa::cpu::relu(hisa::cpu::dot_sequential(q.data(), k.data(), h.D)), sc);
  }
  return h.k_scale ? h.k_scale[s] * sc : sc;
}

// Row t (routed: n > max(C, B)) of the GPU against the CPU reference with the GPU's heads:
// candidates = top C by I_A (exact), answer = top topk of those by I. Returns "" when accepted;
// counts near-tie swaps in `swaps`.
inline std::string check_routed_row(const Problem& h, int64_t t, const Config& cfg,
                                    const int32_t* gpu, const int32_t* gpu_heads,
                                    int64_t& swaps) {
  const hisa::Range r = hisa::range_of(h, t);
  const int64_t C = cfg.candidates * cfg.topk, K = std::min<int64_t>(cfg.topk, C);
  const std::vector<int32_t> heads(gpu_heads, gpu_heads + cfg.heads);
  std::vector<int32_t> every(h.H);
  for (int64_t i = 0; i < h.H; ++i) every[i] = static_cast<int32_t>(i);
  const double tol_i = kTolI * magnitude(h, t, every), tol_a = kTolIA * magnitude(h, t, heads);
  std::vector<uint64_t> ra;
  std::vector<double> IA(r.n());
  for (int64_t s = r.ks; s < r.ke; ++s) {
    IA[s - r.ks] = routed_score(h, t, heads, s);
    ra.push_back(hisa::cpu::rank_key(static_cast<float>(IA[s - r.ks]), s));
  }
  std::sort(ra.rbegin(), ra.rend());
  ra.resize(C);
  const double thr_a = IA[hisa::cpu::index_of(ra.back()) - r.ks];
  std::set<int32_t> cand;
  std::vector<uint64_t> fi;
  for (uint64_t key : ra) {
    const int32_t s = hisa::cpu::index_of(key);
    cand.insert(s);
    fi.push_back(hisa::cpu::rank_key(hisa::cpu::token_score(h, t, s), s));
  }
  std::sort(fi.rbegin(), fi.rend());
  fi.resize(K);
  std::set<int32_t> F;
  for (uint64_t key : fi) F.insert(hisa::cpu::index_of(key));
  auto I = [&](int32_t s) { return static_cast<double>(hisa::cpu::token_score(h, t, s)); };
  const double i_kth = I(hisa::cpu::index_of(fi.back()));
  std::vector<int32_t> G(gpu, gpu + K);
  const std::set<int32_t> gs(G.begin(), G.end());
  std::vector<double> gi(K);
  double i_gmin = INFINITY;
  for (int64_t i = 0; i < K; ++i) i_gmin = std::min(i_gmin, gi[i] = I(G[i]));
  auto tag = [&](const std::string& m) { return "row " + std::to_string(t) + ": " + m; };
  for (int64_t i = 0; i + 1 < K; ++i)
    if (gi[i] < gi[i + 1] - tol_i)
      return tag("GPU order: I(" + std::to_string(G[i]) + ")=" + std::to_string(gi[i]) + " < " +
                 std::to_string(gi[i + 1]));
  for (int64_t i = 0; i < K; ++i) {
    const int32_t s = G[i];
    if (F.count(s)) continue;
    const bool near_i = cand.count(s) && gi[i] >= i_kth - tol_i;
    const bool near_a = !cand.count(s) && IA[s - r.ks] >= thr_a - tol_a;
    if (!near_i && !near_a)
      return tag("GPU token " + std::to_string(s) + " I=" + std::to_string(gi[i]) + " I_A=" +
                 std::to_string(IA[s - r.ks]) + " (CPU k-th I " + std::to_string(i_kth) +
                 ", candidate threshold " + std::to_string(thr_a) + ")");
    swaps++;
  }
  for (int32_t s : F) {
    if (gs.count(s)) continue;
    if (I(s) > i_gmin + tol_i && IA[s - r.ks] > thr_a + tol_a)
      return tag("CPU token " + std::to_string(s) + " I=" + std::to_string(I(s)) +
                 " missing on the GPU (its lowest I " + std::to_string(i_gmin) + ")");
    swaps++;
  }
  return {};
}

// Every sampled row of a tensor-core run: routed rows against the exact router (heads, up to
// near ties) and the CPU reference with the GPU's heads; unrouted rows (n <= max(c*topk, B))
// against CPU flat (check_row with the flat rule) and with head ids -1.
struct MisaStats {
  HeadStats heads;
  TolStats flat_rows;
  int64_t routed_rows = 0, routed_identical = 0, swaps = 0, violations = 0;
  std::string first;
  std::string summary() const {
    std::ostringstream s;
    s << "routed: " << routed_rows << " rows (" << routed_identical << " identical to the CPU "
      << "with the GPU's heads, " << swaps << " near-tie token swaps, " << violations
      << " violations" << (violations ? ", first: " + first : "") << "); heads: "
      << heads.summary() << "; unrouted (flat) rows: " << flat_rows.summary();
    return s.str();
  }
  bool ok() const { return violations == 0 && heads.violations == 0 && flat_rows.violations == 0; }
};

inline MisaStats compare_misa(const Problem& h, const Config& cfg, const MisaRun& g,
                              const std::vector<int64_t>& rows) {
  MisaStats st;
  const int64_t C = cfg.candidates * cfg.topk, B = cfg.block_size, a = cfg.heads;
  std::vector<int64_t> routed, plain;
  for (int64_t t : rows) {
    const int64_t n = hisa::range_of(h, t).n();
    (n > C && n > B ? routed : plain).push_back(t);
  }
  // Unrouted rows: flat's answer (ids must be -1).
  if (!plain.empty()) {
    SampledRows sr(h, plain);
    Config flat = cfg;
    flat.method = Method::flat;
    const std::vector<int32_t> c = cpu_select(sr.view, flat);
    for (std::size_t i = 0; i < plain.size(); ++i) {
      const int64_t t = plain[i];
      for (int64_t j = 0; j < a; ++j)
        if (g.heads[t * a + j] != -1) st.flat_rows.fail("row " + std::to_string(t) + ": head id set on an unrouted row");
      check_row(h, t, flat, g.idx.data() + t * cfg.topk, c.data() + i * cfg.topk, st.flat_rows);
    }
  }
  // Routed rows, in parallel (each row costs O(c * topk * H * D) CPU work).
  std::vector<std::string> err(routed.size());
  std::vector<int64_t> swaps(routed.size(), 0), ident(routed.size(), 0);
  std::vector<HeadStats> hs(routed.size());
  std::vector<std::thread> pool;
  std::atomic<std::size_t> next{0};
  const unsigned workers = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned w = 0; w < workers; ++w)
    pool.emplace_back([&] {
      for (std::size_t i = next++; i < routed.size(); i = next++) {
        const int64_t t = routed[i];
        check_heads(h, t, B, a, g.heads.data() + t * a, hs[i]);
        if (hs[i].violations == 0 && g.heads[t * a] >= 0)
          err[i] = check_routed_row(h, t, cfg, g.idx.data() + t * cfg.topk, g.heads.data() + t * a, swaps[i]);
        ident[i] = swaps[i] == 0 && err[i].empty();
      }
    });
  for (auto& th : pool) th.join();
  for (std::size_t i = 0; i < routed.size(); ++i) {
    st.routed_rows++;
    st.routed_identical += ident[i];
    st.swaps += swaps[i];
    st.heads.rows += hs[i].rows;
    st.heads.identical += hs[i].identical;
    st.heads.near_tie_rows += hs[i].near_tie_rows;
    if (hs[i].violations && st.heads.violations++ == 0) st.heads.first = hs[i].first;
    if (!err[i].empty() && st.violations++ == 0) st.first = err[i];
  }
  return st;
}

}  // namespace hisa_gpu_test
