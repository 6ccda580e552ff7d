// Row-parallel loop for workload generation and metrics. Each row's result depends only on
// the row index (counter-based RNG streams), so the output is the same for any thread count.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace hisa::eval {

// Worker count: `requested` if > 0, else the hardware concurrency (at least 1).
inline int worker_count(int requested) {
  if (requested > 0) return requested;
  const unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

// Calls fn(row) for every row in [0, n), rows handed out in chunks to `threads` workers.
// The first exception thrown by any fn is rethrown here after all workers stop.
template <class Fn>
void parallel_rows(int64_t n, int threads, Fn&& fn) {
  if (n <= 0) return;
  const int workers = static_cast<int>(std::min<int64_t>(worker_count(threads), n));
  if (workers <= 1) {
    for (int64_t r = 0; r < n; ++r) fn(r);
    return;
  }
  const int64_t chunk = std::max<int64_t>(1, n / (int64_t{workers} * 8));
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    try {
      for (;;) {
        const int64_t begin = next.fetch_add(chunk);
        if (begin >= n) break;
        const int64_t end = std::min(n, begin + chunk);
        for (int64_t r = begin; r < end; ++r) fn(r);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next.store(n);
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (int i = 1; i < workers; ++i) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace hisa::eval
