// Synthetic rows of ranking keys for the v2 decode selection routine (src/cuda/decode_rank.cuh,
// through hisa::cuda::decode_rank_rows_for_test) and their exact host answer. Shared by
// tests/gpu/test_decode_gpu.cpp and bench/decode_verify.cpp. Distributions: smooth, heavy-tailed,
// with NaN or +-Inf (the bucket fast path must run), with ties and +-0 (either path), and
// degenerate (all equal, all NaN, a far outlier: the fast path must decline and the fallback
// answer), each checked against a host sort by (key desc, index desc), -1 padded.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/score_key.hpp"

namespace hisa_decode_test {

struct RankCase {
  std::string name;
  int rows = 1, n = 0, K = 0;
  std::vector<uint32_t> keys;  // [rows, n]
  int expect_path = -1;        // 1: the fast path must run on every row; 0: must decline; -1: any
};

inline uint32_t key_of(float s) {
  uint32_t u;
  std::memcpy(&u, &s, 4);
  return hisa::score_key_bits(u);
}

// [rows, K]: indices of the top min(K, n) of each row by (key desc, index desc), -1 after.
inline std::vector<int32_t> host_rank(const RankCase& c) {
  std::vector<int32_t> out(static_cast<std::size_t>(c.rows) * c.K, -1);
  std::vector<uint64_t> items(c.n);
  for (int r = 0; r < c.rows; ++r) {
    for (int i = 0; i < c.n; ++i)
      items[i] = (static_cast<uint64_t>(c.keys[static_cast<std::size_t>(r) * c.n + i]) << 32) |
                 static_cast<uint32_t>(i);
    std::sort(items.begin(), items.end(), [](uint64_t a, uint64_t b) { return a > b; });
    for (int i = 0; i < std::min(c.n, c.K); ++i)
      out[static_cast<std::size_t>(r) * c.K + i] = static_cast<int32_t>(items[i] & 0xFFFFFFFFu);
  }
  return out;
}

inline std::vector<RankCase> rank_cases() {
  std::vector<RankCase> cases;
  std::mt19937 rng(2024);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto make = [&](const std::string& name, int rows, int n, int K, int expect, auto gen) {
    RankCase c;
    c.name = name;
    c.rows = rows;
    c.n = n;
    c.K = K;
    c.expect_path = expect;
    c.keys.resize(static_cast<std::size_t>(rows) * n);
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < n; ++i) c.keys[static_cast<std::size_t>(r) * n + i] = key_of(gen(r, i));
    cases.push_back(std::move(c));
  };
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  // Smooth scores: the fast path must take them.
  make("normal n=4096 K=2048", 8, 4096, 2048, 1, [&](int, int) { return 3.0f * normal(rng) + 1.0f; });
  make("normal n=4096 K=2047", 2, 4096, 2047, 1, [&](int, int) { return normal(rng); });
  make("normal n=1000 K=2048 (all kept)", 3, 1000, 2048, 1, [&](int, int) { return normal(rng); });
  make("normal n=2046 K=62 (block select)", 4, 2046, 62, 1, [&](int, int) { return normal(rng); });
  make("log-normal sigma 1.5 n=4096 K=2048", 4, 4096, 2048, 1,
       [&](int, int) { return std::exp(1.5f * normal(rng)); });
  make("exponential n=4096 K=2048, sigma 1", 2, 4096, 2048, 1, [&](int, int) { return std::exp(normal(rng)); });
  make("10% NaN n=4096 K=2048", 2, 4096, 2048, 1,
       [&](int, int i) { return i % 10 == 3 ? nan : normal(rng); });
  make("half NaN n=600 K=500", 2, 600, 500, -1, [&](int, int i) { return i % 2 ? nan : normal(rng); });
  make("uniform n=3000 K=1536", 2, 3000, 1536, 1,
       [&](int, int) { return std::uniform_real_distribution<float>(-5.0f, 5.0f)(rng); });
  // Ties, +-0, tiny rows: either path, exact answer.
  make("rounded to 0.25 (ties) n=4096 K=2048", 2, 4096, 2048, -1,
       [&](int, int) { return std::round(4.0f * normal(rng)) / 4.0f; });
  make("+-0 and ties n=3000 K=1000", 2, 3000, 1000, -1, [&](int, int i) {
    return i % 3 == 0 ? 0.0f : (i % 3 == 1 ? -0.0f : std::round(normal(rng)));
  });
  make("n=1 K=2048", 2, 1, 2048, -1, [&](int, int) { return normal(rng); });
  make("n=2 K=1", 2, 2, 1, -1, [&](int, int) { return normal(rng); });
  make("n=33 K=7", 3, 33, 7, -1, [&](int, int) { return normal(rng); });
  make("n=700 K=700", 1, 700, 700, -1, [&](int, int) { return normal(rng); });
  // Degenerate: the fast path must decline (and the fallback answer exactly).
  make("all equal n=4096 K=2048", 2, 4096, 2048, 0, [&](int, int) { return 0.5f; });
  make("all zero (+-0) n=4096 K=2048", 1, 4096, 2048, 0, [&](int, int i) { return i % 2 ? 0.0f : -0.0f; });
  make("all NaN n=500 K=100", 1, 500, 100, 0, [&](int, int) { return nan; });
  make("far outlier n=4096 K=2048", 2, 4096, 2048, 0,
       [&](int, int i) { return i == 17 ? 1e30f : normal(rng); });
  make("+Inf present n=4096 K=2048", 1, 4096, 2048, 1,
       [&](int, int i) { return i == 5 ? inf : normal(rng); });
  make("-Inf present n=4096 K=2048", 1, 4096, 2048, 1,
       [&](int, int i) { return i == 4000 ? -inf : normal(rng); });
  return cases;
}

}  // namespace hisa_decode_test
