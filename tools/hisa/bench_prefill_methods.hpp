// The methods `hisa bench prefill` times (cmd_bench.cpp, bench_prefill_fidelity.cpp): which
// ones, their configs in timing order and JSON keys, and the event timer they share.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.hpp"
#include "hisa/hisa.hpp"

namespace hisa::cli {

constexpr int64_t kH = 64, kD = 128;  // the benchmark's heads and head dimension

struct MethodSet {
  bool hisa = true, block = true, misa = true;
  std::vector<int64_t> misa_a{8}, misa_c{1, 4};
  std::vector<int64_t> hisa_q{1};  // shared_candidates tiles (1 = plain HISA)
  std::vector<Order> orders{Order::score};  // row orders, each timed for every method
  int64_t misa_B = 1024;
};

// JSON key of a method in one order: score keeps the plain name (flat, hisa_m64), index adds
// "_index".
inline std::string method_key(const std::string& name, Order order) {
  return order == Order::score ? name : name + "_" + to_string(order);
}

// Per order (in set.orders' order, the same count each): flat first (fidelity compares against
// the first order's flat), then HISA per m, then block-sparse, then MISA.
inline std::vector<std::pair<std::string, Config>> method_configs(const std::vector<int64_t>& ms,
                                                                  int64_t B, int64_t topk,
                                                                  MethodSet set) {
  std::vector<std::pair<std::string, Config>> v;
  for (Order order : set.orders) {
    Config flat;
    flat.method = Method::flat;
    flat.topk = topk;
    flat.order = order;
    v.push_back({"flat", flat});
    if (set.hisa) {
      for (int64_t m : ms)
        for (int64_t Q : set.hisa_q) {
          Config c = flat;
          c.method = Method::hisa;
          c.block_size = B;
          c.blocks = m;
          c.shared_candidates = Q;
          v.push_back({"hisa_m" + std::to_string(m) + (Q > 1 ? "_q" + std::to_string(Q) : ""), c});
        }
    }
    if (set.block) {
      Config blk = flat;
      blk.method = Method::block;
      blk.block_size = B;
      v.push_back({"block_m" + std::to_string(topk / B), blk});
    }
    if (set.misa) {
      for (int64_t a : set.misa_a)
        for (int64_t c : set.misa_c) {
          Config m = flat;
          m.method = Method::misa;
          m.block_size = set.misa_B;
          m.heads = a;
          m.candidates = c;
          v.push_back({"misa_a" + std::to_string(a) + (c > 1 ? "c" + std::to_string(c) : ""), m});
        }
    }
  }
  return v;
}

#ifdef HISA_WITH_CUDA
// Times `fn` (which enqueues on `st`) with events: one warm-up, median of `repeats`.
template <class Fn>
double time_ms(cudaStream_t st, int repeats, Fn&& fn) {
  Events ev(2);
  std::vector<double> t;
  for (int r = 0; r <= repeats; ++r) {
    HISA_CUDA_CHECK(cudaEventRecord(ev.e[0], st));
    fn();
    HISA_CUDA_CHECK(cudaEventRecord(ev.e[1], st));
    HISA_CUDA_CHECK(cudaEventSynchronize(ev.e[1]));
    if (r > 0) t.push_back(ev.ms(0, 1));
  }
  return median(t);
}
#endif

}  // namespace hisa::cli
