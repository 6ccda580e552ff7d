// A minimal work-sharing loop over std::thread: workers take items from an atomic counter.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace hisa::cpu {

// Worker count for opts.threads (0 = hardware concurrency), never more than `items`, >= 1.
inline int worker_count(int requested, int64_t items) {
  int64_t n = requested > 0 ? requested : static_cast<int64_t>(std::thread::hardware_concurrency());
  if (n < 1) n = 1;
  if (n > items) n = items;
  return static_cast<int>(n < 1 ? 1 : n);
}

// Calls fn(item, worker) for every item in [0, items) on `workers` threads (the caller's
// thread is worker 0). The first exception thrown by fn is rethrown here after all stop.
template <class Fn>
void parallel_for(int64_t items, int workers, Fn&& fn) {
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto body = [&](int worker) {
    try {
      for (int64_t i = next++; i < items; i = next++) fn(i, worker);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next = items;  // stop the others early
    }
  };
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) pool.emplace_back(body, w);
  body(0);
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace hisa::cpu
