// Random paged decode problems for the decode tests (tests/cpu/test_decode_*.cpp and
// tests/gpu/test_decode*.cpp): a paged cache with shuffled pages, a block table whose unused
// entries hold garbage, poisoned unused pages, and, per sequence, the same keys laid out
// contiguously as a prefill Problem so that decode can be compared with hisa::select.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "hisa/decode.hpp"
#include "hisa/hisa.hpp"

namespace hisa_decode_test {

using hisa::Config;
using hisa::DType;
using hisa::Method;

struct DecodeCase {
  DType dtype = DType::fp8_e4m3;
  int64_t batch = 0, next_n = 1, H = 0, D = 0, P = 0, max_pages = 0, num_pages = 0;
  std::vector<int32_t> lens, table;
  std::vector<uint8_t> cache;  // num_pages * page_bytes
  std::vector<uint8_t> q;      // [batch, next_n, H, D] raw elements
  std::vector<float> w;        // [batch * next_n, H]
  std::vector<float> pooled;   // [num_pages, D] (filled by build_pooled)
  int64_t pooled_B = 0;
  // Per sequence, its keys [len, D] (raw) and scales [len] contiguously: the prefill view.
  std::vector<std::vector<uint8_t>> seq_k;
  std::vector<std::vector<float>> seq_scale;
  // Prefill ranges of the next_n queries of a sequence: ks = 0, ke = max(0, len - next_n + i + 1).
  std::vector<std::vector<int32_t>> seq_ks, seq_ke;

  int64_t elem() const { return dtype == DType::fp8_e4m3 ? 1 : 2; }
  hisa::PagedCache paged() const {
    hisa::PagedCache c;
    c.dtype = dtype;
    c.num_pages = num_pages;
    c.page_size = P;
    c.D = D;
    c.data = cache.data();
    return c;
  }
  hisa::DecodeProblem view() const {
    hisa::DecodeProblem p;
    p.cache = paged();
    p.batch = batch, p.next_n = next_n, p.H = H;
    p.q = q.data(), p.w = w.data();
    p.context_lens = lens.data(), p.block_table = table.data(), p.max_pages = max_pages;
    p.pooled = pooled.empty() ? nullptr : pooled.data();
    return p;
  }
  hisa::Problem prefill(int64_t b) const {
    hisa::Problem p;
    p.dtype = dtype;
    p.T = next_n, p.S = lens[b], p.H = H, p.D = D;
    p.q = q.data() + b * next_n * H * D * elem();
    p.k = seq_k[b].data();
    p.k_scale = dtype == DType::fp8_e4m3 ? seq_scale[b].data() : nullptr;
    p.w = w.data() + b * next_n * H;
    p.ks = seq_ks[b].data();
    p.ke = seq_ke[b].data();
    return p;
  }
  // Builds the pooled cache of block size B for the current lens (pooled_build, host).
  void build_pooled(int64_t B) {
    pooled_B = B;
    pooled.assign(num_pages * D, std::nanf(""));  // stale rows: never read
    hisa::PooledCache pc{pooled.data(), B};
    hisa::pooled_build(paged(), pc, batch, table.data(), max_pages, lens.data());
  }
};

inline float random_value(std::mt19937& rng, DType dtype) {
  std::normal_distribution<float> normal(0.0f, dtype == DType::fp8_e4m3 ? 4.0f : 1.0f);
  return normal(rng);
}

inline void put(DType dtype, uint8_t* dst, float v) {
  if (dtype == DType::fp8_e4m3) {
    *dst = hisa::float_to_fp8_e4m3(v);
  } else {
    const uint16_t b = hisa::float_to_bf16(v);
    std::memcpy(dst, &b, 2);
  }
}

// Sequences of the given lengths; max_pages = ceil(max len / P) + extra_cols; num_pages = the
// pages used + extra_pages (shuffled). Keys follow a slowly drifting direction per sequence plus
// noise, so blocks differ and HISA's block choice matters.
inline DecodeCase make_case(DType dtype, std::vector<int32_t> lens, int64_t next_n, int64_t H,
                            int64_t D, int64_t P, uint32_t seed, int64_t extra_cols = 1,
                            int64_t extra_pages = 3) {
  std::mt19937 rng(seed);
  DecodeCase c;
  c.dtype = dtype, c.batch = static_cast<int64_t>(lens.size()), c.next_n = next_n;
  c.H = H, c.D = D, c.P = P, c.lens = std::move(lens);
  int64_t used = 0, longest = 0;
  for (int32_t n : c.lens) {
    used += (n + P - 1) / P;
    longest = std::max<int64_t>(longest, n);
  }
  c.max_pages = (longest + P - 1) / P + extra_cols;
  c.num_pages = used + extra_pages;
  const int64_t pb = dtype == DType::fp8_e4m3 ? P * (D + 4) : P * D * 2;
  c.cache.assign(c.num_pages * pb, 0x7F);  // unused pages: FP8 NaN codes / bf16 NaN-ish bits
  std::vector<int32_t> perm(c.num_pages);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  c.table.assign(c.batch * c.max_pages, 0);
  std::uniform_int_distribution<int32_t> garbage(-5, 1 << 20);
  for (auto& e : c.table) e = garbage(rng) | (1 << 24);  // far out of range: never read
  std::uniform_real_distribution<float> uniform(0.5f, 1.5f);
  int64_t next_page = 0;
  c.seq_k.resize(c.batch);
  c.seq_scale.resize(c.batch);
  c.seq_ks.resize(c.batch);
  c.seq_ke.resize(c.batch);
  for (int64_t b = 0; b < c.batch; ++b) {
    const int64_t n = c.lens[b];
    for (int64_t j = 0; j < (n + P - 1) / P; ++j) c.table[b * c.max_pages + j] = perm[next_page++];
    c.seq_k[b].assign(n * D * c.elem(), 0);
    c.seq_scale[b].assign(n, 1.0f);
    std::vector<float> dir(D);
    for (auto& x : dir) x = random_value(rng, dtype);
    for (int64_t s = 0; s < n; ++s) {
      if (s % 48 == 0)
        for (auto& x : dir) x = 0.5f * x + 0.5f * random_value(rng, dtype);
      uint8_t* page = c.cache.data() + c.table[b * c.max_pages + s / P] * pb;
      for (int64_t d = 0; d < D; ++d) {
        const float v = 0.7f * dir[d] + random_value(rng, dtype);
        put(dtype, c.seq_k[b].data() + (s * D + d) * c.elem(), v);
        std::memcpy(page + ((s % P) * D + d) * c.elem(), c.seq_k[b].data() + (s * D + d) * c.elem(),
                    c.elem());
      }
      if (dtype == DType::fp8_e4m3) {
        c.seq_scale[b][s] = uniform(rng);
        std::memcpy(page + P * D + 4 * (s % P), &c.seq_scale[b][s], 4);
      }
    }
    for (int64_t i = 0; i < next_n; ++i) {
      c.seq_ks[b].push_back(0);
      c.seq_ke[b].push_back(static_cast<int32_t>(std::max<int64_t>(0, n - next_n + i + 1)));
    }
  }
  c.q.assign(c.batch * next_n * H * D * c.elem(), 0);
  for (int64_t i = 0; i < c.batch * next_n * H * D; ++i)
    put(dtype, c.q.data() + i * c.elem(), random_value(rng, dtype));
  c.w.resize(c.batch * next_n * H);
  std::normal_distribution<float> wn(0.0f, 1.0f);
  for (auto& x : c.w) x = wn(rng);
  return c;
}

inline Config decode_cfg(Method method, int64_t topk, int64_t B = 64, int64_t m = 8) {
  Config cfg;
  cfg.method = method;
  cfg.topk = topk;
  cfg.block_size = B;
  cfg.blocks = m;
  return cfg;
}

// The prefill reference of every decode row: hisa::select (CPU) on each sequence's contiguous
// keys, the sequence's next_n queries at their positions. Same layout as decode's output.
inline std::vector<int32_t> prefill_reference(const DecodeCase& c, const Config& cfg) {
  std::vector<int32_t> out(c.batch * c.next_n * cfg.topk, -1);
  for (int64_t b = 0; b < c.batch; ++b) {
    if (c.lens[b] == 0) continue;  // S = 0: every row is empty
    hisa::select(c.prefill(b), cfg, out.data() + b * c.next_n * cfg.topk);
  }
  return out;
}

}  // namespace hisa_decode_test
