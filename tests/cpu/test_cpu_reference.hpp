// Brute-force reference of SPEC.md for the CPU tests: readable loops, a full sort with an
// independently written comparator, and the scalar arithmetic of src/cpu/score.hpp (sequential
// fma dot, relu keeping NaN, fma head sum, f32 pooled mean), so results must match EXACTLY.
// Also: a small owner of random test problems in any dtype.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "hisa/hisa.hpp"

namespace hisa_test {

using hisa::Config;
using hisa::DType;
using hisa::Method;

// ---- test problems ---------------------------------------------------------------------------

struct TestProblem {
  DType dtype = DType::f32;
  int64_t T = 0, S = 0, H = 0, D = 0;
  std::vector<uint8_t> q, k;  // raw elements of dtype
  std::vector<float> k_scale, w;
  std::vector<int32_t> ks, ke;  // empty: default causal range

  hisa::Problem view() const {
    hisa::Problem p;
    p.dtype = dtype;
    p.T = T, p.S = S, p.H = H, p.D = D;
    p.q = q.data(), p.k = k.data(), p.w = w.data();
    p.k_scale = k_scale.empty() ? nullptr : k_scale.data();
    p.ks = ks.empty() ? nullptr : ks.data();
    p.ke = ke.empty() ? nullptr : ke.data();
    return p;
  }
};

inline void store(DType dtype, std::vector<uint8_t>& raw, int64_t i, float v) {
  switch (dtype) {
    case DType::f32: reinterpret_cast<float*>(raw.data())[i] = v; break;
    case DType::bf16: reinterpret_cast<uint16_t*>(raw.data())[i] = hisa::float_to_bf16(v); break;
    case DType::fp8_e4m3: raw[i] = hisa::float_to_fp8_e4m3(v); break;
  }
}

inline float load(DType dtype, const std::vector<uint8_t>& raw, int64_t i) {
  switch (dtype) {
    case DType::f32: return reinterpret_cast<const float*>(raw.data())[i];
    case DType::bf16: return hisa::bf16_to_float(reinterpret_cast<const uint16_t*>(raw.data())[i]);
    case DType::fp8_e4m3: return hisa::fp8_e4m3_to_float(raw[i]);
  }
  return 0;
}

// Random normal q, k (times 4 for FP8 so many codes are used), w of both signs, optional
// k_scale in [0.5, 1.5). Default causal range.
inline TestProblem random_problem(DType dtype, int64_t T, int64_t S, int64_t H, int64_t D,
                                  uint32_t seed, bool with_scale = true) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.5f, 1.5f);
  TestProblem tp;
  tp.dtype = dtype, tp.T = T, tp.S = S, tp.H = H, tp.D = D;
  const float amp = dtype == DType::fp8_e4m3 ? 4.0f : 1.0f;
  const std::size_t es = hisa::dtype_size(dtype);
  tp.q.resize(T * H * D * es);
  tp.k.resize(S * D * es);
  for (int64_t i = 0; i < T * H * D; ++i) store(dtype, tp.q, i, amp * normal(rng));
  for (int64_t i = 0; i < S * D; ++i) store(dtype, tp.k, i, amp * normal(rng));
  tp.w.resize(T * H);
  for (auto& x : tp.w) x = normal(rng);
  if (with_scale) {
    tp.k_scale.resize(S);
    for (auto& x : tp.k_scale) x = uniform(rng);
  }
  return tp;
}

// Structured: keys follow a topic that changes every `segment` positions (coherent blocks),
// each query head leans to one topic, plus noise; exercises block selection on real contrast.
inline TestProblem structured_problem(DType dtype, int64_t T, int64_t S, int64_t H, int64_t D,
                                      int64_t segment, uint32_t seed) {
  TestProblem tp = random_problem(dtype, T, S, H, D, seed);
  std::mt19937 rng(seed + 1000);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t topics = 5;
  std::vector<float> topic(topics * D);
  for (auto& x : topic) x = normal(rng);
  for (int64_t s = 0; s < S; ++s) {
    const int64_t c = (s / segment * 3 + s / (2 * segment)) % topics;
    for (int64_t d = 0; d < D; ++d) store(dtype, tp.k, s * D + d, 2.0f * topic[c * D + d] + 0.5f * normal(rng));
  }
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t c = (t / segment + h * 2) % topics;
      for (int64_t d = 0; d < D; ++d)
        store(dtype, tp.q, (t * H + h) * D + d, topic[c * D + d] + 0.5f * normal(rng));
    }
  return tp;
}

// Copies key row `from` (and its scale) onto row `to`: exact score ties.
inline void duplicate_key(TestProblem& tp, int64_t from, int64_t to) {
  const std::size_t es = hisa::dtype_size(tp.dtype);
  std::copy(tp.k.begin() + from * tp.D * es, tp.k.begin() + (from + 1) * tp.D * es,
            tp.k.begin() + to * tp.D * es);
  if (!tp.k_scale.empty()) tp.k_scale[to] = tp.k_scale[from];
}

// Several causal sequences of the given lengths packed into one problem: query i of a
// sequence starting at key `off` sees [off, off + i + 1).
inline TestProblem packed_problem(DType dtype, const std::vector<int64_t>& lengths, int64_t H,
                                  int64_t D, uint32_t seed) {
  int64_t total = 0;
  for (int64_t L : lengths) total += L;
  TestProblem tp = random_problem(dtype, total, total, H, D, seed);
  int64_t off = 0;
  for (int64_t L : lengths) {
    for (int64_t i = 0; i < L; ++i) {
      tp.ks.push_back(static_cast<int32_t>(off));
      tp.ke.push_back(static_cast<int32_t>(off + i + 1));
    }
    off += L;
  }
  return tp;
}

// ---- reference selection ---------------------------------------------------------------------

// Score descending; NaN after every number; equal scores (+0 == -0): larger index first.
inline bool ref_before(float sa, int64_t ia, float sb, int64_t ib) {
  const bool na = std::isnan(sa), nb = std::isnan(sb);
  if (na != nb) return nb;
  if (!na && sa != sb) return sa > sb;
  return ia > ib;
}

struct Scored {
  float score;
  int64_t index;
};
// The best `keep` of `items` in rank order (full sort).
inline std::vector<Scored> ref_top(std::vector<Scored> items, int64_t keep) {
  std::sort(items.begin(), items.end(), [](const Scored& a, const Scored& b) {
    return ref_before(a.score, a.index, b.score, b.index);
  });
  if (static_cast<int64_t>(items.size()) > keep) items.resize(keep);
  return items;
}

class Reference {
 public:
  explicit Reference(const TestProblem& tp) : tp_(tp) {
    q_.resize(tp.T * tp.H * tp.D);
    k_.resize(tp.S * tp.D);
    for (std::size_t i = 0; i < q_.size(); ++i) q_[i] = load(tp.dtype, tp.q, i);
    for (std::size_t i = 0; i < k_.size(); ++i) k_[i] = load(tp.dtype, tp.k, i);
  }

  int64_t ks(int64_t t) const { return tp_.ks.empty() ? 0 : tp_.ks[t]; }
  int64_t ke(int64_t t) const { return tp_.ks.empty() ? tp_.S - tp_.T + t + 1 : tp_.ke[t]; }

  static float relu(float x) { return x < 0.0f ? 0.0f : x; }
  float dot(int64_t t, int64_t h, const float* key) const {
    const float* qr = &q_[(t * tp_.H + h) * tp_.D];
    float acc = 0.0f;
    for (int64_t d = 0; d < tp_.D; ++d) acc = std::fma(qr[d], key[d], acc);
    return acc;
  }
  // sum over `heads` (ascending) of w * relu(dot), times `scale` when given.
  float head_sum(int64_t t, const std::vector<int64_t>& heads, const float* key,
                 const float* scale) const {
    float sc = 0.0f;
    for (int64_t h : heads) sc = std::fma(tp_.w[t * tp_.H + h], relu(dot(t, h, key)), sc);
    return scale ? *scale * sc : sc;
  }
  std::vector<int64_t> all_heads() const {
    std::vector<int64_t> h(tp_.H);
    for (int64_t i = 0; i < tp_.H; ++i) h[i] = i;
    return h;
  }
  float score(int64_t t, int64_t s, const std::vector<int64_t>& heads) const {
    return head_sum(t, heads, &k_[s * tp_.D], tp_.k_scale.empty() ? nullptr : &tp_.k_scale[s]);
  }
  float score(int64_t t, int64_t s) const { return score(t, s, all_heads()); }

  // Mean of the dequantised keys of block j (aligned to ks), f32 sum then one division.
  std::vector<float> pooled(int64_t ks, int64_t B, int64_t j) const {
    std::vector<float> acc(tp_.D, 0.0f);
    for (int64_t s = ks + j * B; s < ks + (j + 1) * B; ++s)
      for (int64_t d = 0; d < tp_.D; ++d) {
        const float v = tp_.k_scale.empty() ? k_[s * tp_.D + d] : tp_.k_scale[s] * k_[s * tp_.D + d];
        acc[d] = acc[d] + v;
      }
    for (auto& a : acc) a = a / static_cast<float>(B);
    return acc;
  }

  // Dequantised key element k_scale[s] * k[s, d] (f32), as pooling uses it.
  float key_value(int64_t s, int64_t d) const {
    return tp_.k_scale.empty() ? k_[s * tp_.D + d] : tp_.k_scale[s] * k_[s * tp_.D + d];
  }

  // J(t, j) by the block summary (docs/semantics.md "Block summaries"), block j aligned to ks.
  float block_score(int64_t t, int64_t ks, int64_t B, int64_t j, hisa::BlockSummary summary) const {
    const std::vector<float> kbar = pooled(ks, B, j);
    if (summary == hisa::BlockSummary::mean) return head_sum(t, all_heads(), kbar.data(), nullptr);
    std::vector<float> x(tp_.H);
    if (summary == hisa::BlockSummary::bound) {
      std::vector<float> lo(tp_.D), hi(tp_.D);
      for (int64_t d = 0; d < tp_.D; ++d) {
        lo[d] = hi[d] = key_value(ks + j * B, d);
        for (int64_t s = ks + j * B + 1; s < ks + (j + 1) * B; ++s) {
          lo[d] = std::min(lo[d], key_value(s, d));
          hi[d] = std::max(hi[d], key_value(s, d));
        }
      }
      for (int64_t h = 0; h < tp_.H; ++h) {
        const float* qr = &q_[(t * tp_.H + h) * tp_.D];
        float u = 0.0f;
        for (int64_t d = 0; d < tp_.D; ++d) u = u + std::max(qr[d] * lo[d], qr[d] * hi[d]);
        x[h] = u;
      }
    } else {  // emax: mean + sqrt(2 ln B) * sqrt(sum_d q_d^2 var_d)
      std::vector<float> var(tp_.D, 0.0f);
      for (int64_t d = 0; d < tp_.D; ++d) {
        for (int64_t s = ks + j * B; s < ks + (j + 1) * B; ++s) {
          const float diff = key_value(s, d) - kbar[d];
          var[d] = var[d] + diff * diff;
        }
        var[d] = var[d] / static_cast<float>(B);
      }
      const float gamma = static_cast<float>(std::sqrt(2.0 * std::log(static_cast<double>(B))));
      for (int64_t h = 0; h < tp_.H; ++h) {
        const float* qr = &q_[(t * tp_.H + h) * tp_.D];
        float s2 = 0.0f;
        for (int64_t d = 0; d < tp_.D; ++d) s2 = std::fma(qr[d] * qr[d], var[d], s2);
        x[h] = dot(t, h, kbar.data()) + gamma * std::sqrt(s2);
      }
    }
    float sc = 0.0f;
    for (int64_t h = 0; h < tp_.H; ++h) sc = std::fma(tp_.w[t * tp_.H + h], relu(x[h]), sc);
    return sc;
  }

  // HISA's kept blocks (nb > m): 0, nb-1 and the m-2 best middle blocks.
  std::vector<int64_t> kept_blocks(int64_t t, const Config& cfg, int64_t m) const {
    const int64_t a = ks(t), B = cfg.block_size, nb = (ke(t) - a + B - 1) / B;
    std::vector<Scored> blocks;
    for (int64_t j = 1; j <= nb - 2; ++j)
      blocks.push_back({block_score(t, a, B, j, cfg.block_summary), j});
    std::vector<int64_t> kept = {0, nb - 1};
    for (const Scored& x : ref_top(blocks, m - 2)) kept.push_back(x.index);
    return kept;
  }

  // MISA's active heads (ascending) over the first nfull blocks; all heads when nfull == 0.
  std::vector<int64_t> routed_heads(int64_t t, int64_t B, int64_t nfull, int64_t a_heads) const {
    std::vector<int64_t> active = all_heads();
    if (nfull <= 0) return active;
    std::vector<float> racc(tp_.H, 0.0f);
    for (int64_t j = 0; j < nfull; ++j) {
      const std::vector<float> kbar = pooled(ks(t), B, j);
      for (int64_t h = 0; h < tp_.H; ++h) racc[h] = racc[h] + relu(dot(t, h, kbar.data()));
    }
    std::vector<Scored> heads;
    for (int64_t h = 0; h < tp_.H; ++h) heads.push_back({std::fabs(tp_.w[t * tp_.H + h]) * racc[h], h});
    active.clear();
    for (const Scored& x : ref_top(heads, a_heads)) active.push_back(x.index);
    std::sort(active.begin(), active.end());
    return active;
  }

  // Tokens `cands` ranked by the full score, best `keep`.
  std::vector<int64_t> rank_tokens(int64_t t, const std::vector<int64_t>& cands, int64_t keep) const {
    std::vector<Scored> items;
    for (int64_t s : cands) items.push_back({score(t, s), s});
    std::vector<int64_t> out;
    for (const Scored& x : ref_top(items, keep)) out.push_back(x.index);
    return out;
  }

  std::vector<int64_t> row(int64_t t, const Config& cfg) const {
    const int64_t a = ks(t), b = ke(t), n = b - a, B = cfg.block_size;
    std::vector<int64_t> visible;
    for (int64_t s = a; s < b; ++s) visible.push_back(s);
    if (cfg.method == Method::flat || n <= cfg.topk) return rank_tokens(t, visible, cfg.topk);
    const int64_t nb = (n + B - 1) / B;

    if (cfg.method == Method::hisa || cfg.method == Method::block) {
      const int64_t m = cfg.method == Method::hisa ? cfg.blocks : cfg.topk / B;
      if (nb <= m) return rank_tokens(t, visible, cfg.topk);
      std::vector<int64_t> cands;
      for (int64_t j : kept_blocks(t, cfg, m))
        for (int64_t s = a + j * B; s < std::min(b, a + (j + 1) * B); ++s) cands.push_back(s);
      return rank_tokens(t, cands, cfg.topk);
    }

    if (cfg.method == Method::hisa_misa) {
      std::vector<int64_t> cands;
      if (nb <= cfg.blocks) {
        cands = visible;
      } else {
        std::vector<int64_t> kept = kept_blocks(t, cfg, cfg.blocks);
        std::sort(kept.begin(), kept.end());
        for (int64_t j : kept)
          for (int64_t s = a + j * B; s < std::min(b, a + (j + 1) * B); ++s) cands.push_back(s);
      }
      const int64_t nc = static_cast<int64_t>(cands.size());
      if (cfg.candidates * cfg.topk >= nc) return rank_tokens(t, cands, cfg.topk);
      const std::vector<int64_t> active = routed_heads(t, B, nb - 1, cfg.heads);
      std::vector<Scored> routed;
      for (int64_t s : cands) routed.push_back({score(t, s, active), s});
      std::vector<int64_t> best;
      for (const Scored& x : ref_top(routed, cfg.candidates * cfg.topk)) best.push_back(x.index);
      return rank_tokens(t, best, cfg.topk);
    }

    // MISA
    const std::vector<int64_t> active = routed_heads(t, B, nb - 1, cfg.heads);
    std::vector<Scored> routed;
    for (int64_t s = a; s < b; ++s) routed.push_back({score(t, s, active), s});
    std::vector<int64_t> cands;
    for (const Scored& x : ref_top(routed, cfg.candidates * cfg.topk)) cands.push_back(x.index);
    return rank_tokens(t, cands, cfg.topk);
  }

  // idx [T, topk], -1 padded.
  std::vector<int32_t> select(const Config& cfg) const {
    std::vector<int32_t> out(tp_.T * cfg.topk, -1);
    for (int64_t t = 0; t < tp_.T; ++t) {
      const std::vector<int64_t> r = row(t, cfg);
      for (std::size_t i = 0; i < r.size(); ++i) out[t * cfg.topk + i] = static_cast<int32_t>(r[i]);
    }
    return out;
  }

 private:
  const TestProblem& tp_;
  std::vector<float> q_, k_;
};

// hisa::select on the CPU backend.
inline std::vector<int32_t> run_select(const TestProblem& tp, const Config& cfg, int threads = 2,
                                       bool allow_nonfinite = false) {
  std::vector<int32_t> out(tp.T * cfg.topk, 7777);  // poison: every slot must be written
  hisa::Options opts;
  opts.threads = threads;
  opts.allow_nonfinite = allow_nonfinite;
  hisa::select(tp.view(), cfg, out.data(), opts);
  return out;
}

inline Config make_config(Method method, int64_t topk, int64_t B = 8, int64_t m = 4,
                          int64_t a = 2, int64_t c = 1) {
  Config cfg;
  cfg.method = method;
  cfg.topk = topk;
  cfg.block_size = B;
  cfg.blocks = m;
  cfg.heads = a;
  cfg.candidates = c;
  return cfg;
}

// First differing position of two index arrays, or -1 (for readable failure messages).
inline int64_t first_difference(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  if (a.size() != b.size()) return 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  return -1;
}

}  // namespace hisa_test
