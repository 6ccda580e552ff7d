// The radix top-k's A/B switches (topk_switches.cuh): defaults, and the same-run
// measurements that chose them.
#include "cuda/topk_switches.cuh"

#include <cstdlib>
#include <string>

#include "cuda/common.cuh"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

// Each switch: its test hook (-1 = unset), else its environment variable (read once), else
// its default.
bool switch_on(int hook, int env, bool fallback) {
  if (hook >= 0) return hook == 1;
  return env < 0 ? fallback : env == 1;
}

int g_bucket_rank = -1, g_bucket_select = -1, g_short_cta = -1, g_bucket64 = -1, g_sample = -1;

}  // namespace

namespace topk_switch {

// Score-order ranking by buckets (topk_bucket_rank.cuh) or by the register sort (benchmarks
// time both in one run). On by default since the same-run A/B of
// bench/results/h100_2026-12-07_e39c260_bucket_wide_ab.md (flat top-k 3.48 -> 2.86 ms at 32K,
// 33.1 -> 30.6 ms at 128K; HISA m=64 6.57 -> 5.99 ms).
constexpr bool kBucketRankDefault = true;
bool bucket_rank() {
  static const int env = env_switch("HISA_TOPK_BUCKETS");
  return switch_on(g_bucket_rank, env, kBucketRankDefault);
}

// Rows of k < n <= short_max by one bucket histogram (topk_bucket_select.cuh: score order
// selects and ranks in one counting sort, index order finds the k-th key) or by the radix
// passes (on since the same-run A/B of bench/results/h100_2026-12-07_48f8710_arms.md: HISA
// B=64 m=64 5.97 -> 5.56 ms at 32K).
constexpr bool kBucketSelectDefault = true;
bool bucket_select() {
  static const int env = env_switch("HISA_TOPK_SELECT");
  return switch_on(g_bucket_select, env, kBucketSelectDefault);
}

// Short rows in small CTAs (topk_short.cuh) first, then the radix kernel's retry pass over the
// rows it refused (1: every row the kernel can take; the caller checks short_topk_fits), by
// default for rows of at most kShortCtaDefaultCols candidates (same-run A/B,
// bench/results/h100_2026-12-07_168d63e_summary.md: HISA B=64 m=64 0.87-0.94x, m=128
// 0.94-1.01x; m=256's 16384-candidate rows 1.04-1.06x, so they stay on the radix kernel).
constexpr int64_t kShortCtaDefaultCols = 8192;
bool short_cta(const TopkRowsArgs& a) {
  static const int env = env_switch("HISA_TOPK_SHORT_CTA");
  return switch_on(g_short_cta, env, a.cols <= kShortCtaDefaultCols);
}

// The short-row kernel's bucket limit of 64 keys instead of 32 (at or above the k-th key's
// bucket). On by default since the same-run A/B of
// bench/results/h200_2026-12-07_1dc9fcd_summary.md (H200): B=128 m=64 on the structured
// workload 7.42 -> 7.03 ms at 32K, random data 0.98-0.99x. The CPU emulation of
// bench/hisa/bucket_refusals.py says why: the structured workload's rows were refused 7-11% of
// the time at 32 (a bucket of 33-60 keys near the k-th key) and none at 64.
constexpr bool kBucket64Default = true;
bool bucket64() {
  static const int env = env_switch("HISA_TOPK_BUCKET64");
  return switch_on(g_bucket64, env, kBucket64Default);
}

// Long rows (more than `cap` columns) by the sampled window (topk_sample_window.cuh: one read
// of the row instead of two or more): HISA_TOPK_SAMPLE=0/1, on by default, for rows of at
// least HISA_TOPK_SAMPLE_MIN columns (default kSampleMinCols). On the H100 (ad7dc18) the window
// on every long row took flat's top-k 0.95x at 128K but 1.21x at 32K (sampling costs more
// than the read it saves on short rows); limited to rows of >= 64K columns, H200 same run
// (1dc9fcd): 0.93x at 128K (31.2 -> 29.1 ms), 0.99x at 64K, 1.00x at 32K. The test hook's
// mode 1 takes every long row (min 1), so the tests exercise the window on short inputs.
// Returns the kernel's sample_min: 0 = off.
constexpr bool kSampleDefault = true;
constexpr int kSampleMinCols = 65536;
int sample_min_cols() {
  static const int env = env_switch("HISA_TOPK_SAMPLE");
  static const int min_env = [] {
    const char* v = std::getenv("HISA_TOPK_SAMPLE_MIN");
    if (v == nullptr || *v == '\0') return kSampleMinCols;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (*end != '\0' || n < 1 || n > (1L << 30))
      throw ArgumentError("HISA_TOPK_SAMPLE_MIN",
                          std::string("expected a column count in [1, 2^30], got '") + v + "'");
    return static_cast<int>(n);
  }();
  if (g_sample >= 0) return g_sample >= 1 ? 1 : 0;
  return switch_on(-1, env, kSampleDefault) ? min_env : 0;
}

// The sampled window's bounds by two histograms of the samples instead of a sort of them
// (topk_sample_window.cuh, bounds_by_histogram): HISA_TOPK_SAMPLE_HIST=0/1, off by default
// until timed; the test hook's sample mode 2 takes it on every long row.
constexpr bool kSampleHistDefault = false;
bool sample_hist() {
  static const int env = env_switch("HISA_TOPK_SAMPLE_HIST");
  if (g_sample >= 0) return g_sample == 2;
  return switch_on(-1, env, kSampleHistDefault);
}

}  // namespace topk_switch

void radix_topk_set_bucket_rank(int mode) { g_bucket_rank = mode; }
void radix_topk_set_bucket_select(int mode) { g_bucket_select = mode; }
void radix_topk_set_short_cta(int mode) { g_short_cta = mode; }
void radix_topk_set_bucket64(int mode) { g_bucket64 = mode; }
void radix_topk_set_sample(int mode) { g_sample = mode; }

}  // namespace hisa::cuda
