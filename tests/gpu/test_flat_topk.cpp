// The CUDA radix top-k (src/cuda/topk_radix.cuh) against a host reference that sorts the CPU
// backend's rank keys: exact equality on random rows, heavy ties, NaN/Inf/signed zeros,
// unaligned ranges, rows longer than the shared-memory candidate buffer, k = 1 .. 16384.
// Every case runs in score order and in index order (by_index: the same set, ascending
// columns, written by prefix sums instead of a sort). Exact: the top-k has no tolerance.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "cpu/score.hpp"
#include "cuda/topk_radix.cuh"
#include "flat_test_support.hpp"

namespace hisa::test {
namespace {

struct Rows {
  int64_t rows, cols, ld;
  std::vector<float> scores;          // [rows, ld]
  std::vector<int32_t> begin, end;    // [rows]
};

std::vector<int32_t> reference(const Rows& r, int64_t k) {
  std::vector<int32_t> out(r.rows * k, -1);
  for (int64_t i = 0; i < r.rows; ++i) {
    std::vector<uint64_t> keys;
    for (int32_t c = r.begin[i]; c < r.end[i]; ++c)
      keys.push_back(cpu::rank_key(r.scores[i * r.ld + c], c));
    std::sort(keys.begin(), keys.end(), std::greater<>());
    for (int64_t j = 0; j < k && j < static_cast<int64_t>(keys.size()); ++j)
      out[i * k + j] = cpu::index_of(keys[j]);
  }
  return out;
}

// The reference in index order: each row's valid entries ascending, -1 after.
std::vector<int32_t> by_index(std::vector<int32_t> rows, int64_t k) {
  for (std::size_t i = 0; i < rows.size(); i += k) {
    auto b = rows.begin() + i;
    std::sort(b, std::find(b, b + k, -1));
  }
  return rows;
}

// Runs the GPU top-k on r (scores offset by `misalign` floats to force the scalar path).
std::vector<int32_t> run_gpu(const Rows& r, int64_t k, int misalign = 0, bool index_order = false) {
  std::vector<float> padded(misalign + r.scores.size());
  std::copy(r.scores.begin(), r.scores.end(), padded.begin() + misalign);
  DeviceArray<float> scores(padded);
  DeviceArray<int32_t> begin(r.begin), end(r.end), out(r.rows * k);
  out.fill_bytes(0x7F);
  cuda::TopkRowsArgs a;
  a.scores = scores.get() + misalign;
  a.ld = r.ld;
  a.rows = r.rows;
  a.cols = r.cols;
  a.begin = begin.get();
  a.end = end.get();
  a.k = k;
  a.out = out.get();
  a.out_ld = k;
  a.by_index = index_order;
  cuda::radix_topk_rows(a, nullptr);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  return out.download();
}

// Both orders against the reference, score order with both rankings of k <= 2048 (the bucket
// counting sort and the register sort, topk_bucket_rank.cuh), both orders with both selections
// of short rows (one bucket histogram, topk_bucket_select.cuh, or the radix passes) and with
// the short-row kernel in small CTAs (topk_short.cuh, its refused rows by the radix kernel's
// retry pass), also with its bucket limit of 64 (radix_topk_set_bucket64), and long rows with
// and without the sampled window (radix_topk_set_sample: 1 = every long row, 2 = every long
// row with its bounds by histograms; -1 = the defaults, the window on rows of >= 64K columns);
// returns the score-order result.
std::vector<int32_t> expect_topk(const Rows& r, int64_t k, int misalign = 0) {
  const std::vector<int32_t> want = reference(r, k);
  std::vector<int32_t> got;
  struct Mode {
    int short_cta, select, buckets, bucket64, sample;
  };
  for (const Mode m : {Mode{1, 1, 1, 0, 0}, Mode{1, 1, 1, 1, 0}, Mode{1, 1, 0, 0, 0},
                       Mode{0, 1, 1, 0, 0}, Mode{0, 1, 1, 0, 1}, Mode{0, 1, 0, 0, 0},
                       Mode{0, 0, 1, 0, 0}, Mode{0, 0, 0, 0, 1}, Mode{0, 0, 0, 0, 0},
                       Mode{0, 1, 1, 0, 2}, Mode{0, 0, 0, 0, 2}, Mode{-1, -1, -1, -1, -1}}) {
    cuda::radix_topk_set_short_cta(m.short_cta);
    cuda::radix_topk_set_bucket_select(m.select);
    cuda::radix_topk_set_bucket_rank(m.buckets);
    cuda::radix_topk_set_bucket64(m.bucket64);
    cuda::radix_topk_set_sample(m.sample);
    got = run_gpu(r, k, misalign);
    EXPECT_EQ(got, want) << "score order, k=" << k << " misalign=" << misalign
                         << " bucket ranking=" << m.buckets << " bucket selection=" << m.select
                         << " short-row CTAs=" << m.short_cta << " bucket64=" << m.bucket64
                         << " sampled window=" << m.sample;
  }
  cuda::radix_topk_set_bucket_rank(-1);
  for (const Mode m : {Mode{1, 1, 1, 0, 0}, Mode{1, 1, 1, 1, 0}, Mode{0, 1, 1, 0, 0},
                       Mode{0, 1, 1, 0, 1}, Mode{0, 0, 1, 0, 0}, Mode{0, 1, 1, 0, 2},
                       Mode{-1, -1, -1, -1, -1}}) {
    cuda::radix_topk_set_short_cta(m.short_cta);
    cuda::radix_topk_set_bucket_select(m.select);
    cuda::radix_topk_set_bucket64(m.bucket64);
    cuda::radix_topk_set_sample(m.sample);
    EXPECT_EQ(run_gpu(r, k, misalign, true), by_index(want, k))
        << "index order, k=" << k << " misalign=" << misalign << " bucket selection=" << m.select
        << " short-row CTAs=" << m.short_cta << " bucket64=" << m.bucket64
        << " sampled window=" << m.sample;
  }
  cuda::radix_topk_set_short_cta(-1);
  cuda::radix_topk_set_bucket_select(-1);
  cuda::radix_topk_set_bucket64(-1);
  cuda::radix_topk_set_sample(-1);
  return got;
}

Rows random_rows(int64_t rows, int64_t cols, int64_t ld, uint64_t seed, int value_levels) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  Rows r{rows, cols, ld, std::vector<float>(rows * ld, 12345.0f), {}, {}};
  for (int64_t i = 0; i < rows; ++i) {
    const int32_t a = static_cast<int32_t>(rng() % (cols / 3 + 1));
    const int32_t b = a + static_cast<int32_t>(rng() % (cols - a + 1));
    r.begin.push_back(a);
    r.end.push_back(b);
    for (int32_t c = a; c < b; ++c) {
      float v = nd(rng);
      if (value_levels > 0) v = std::floor(v * value_levels) / value_levels;  // many ties
      r.scores[i * ld + c] = v;
    }
  }
  return r;
}

TEST(CudaTopk, RandomRowsMatchReferenceExactly) {
  SKIP_WITHOUT_GPU();
  for (int64_t k : {1, 7, 100, 2048}) {
    Rows r = random_rows(48, 30000, 30016, 11 + k, 0);
    expect_topk(r, k);
  }
}

TEST(CudaTopk, HeavyTiesRankLargerIndexFirst) {
  SKIP_WITHOUT_GPU();
  // Few distinct values: the k-th value is shared by thousands of columns (multi-pass select
  // through the index bits).
  Rows r = random_rows(32, 40000, 40000, 5, 2);
  expect_topk(r, 2048);
  // Every score equal: the answer is the k largest columns, descending.
  Rows eq{2, 20000, 20000, std::vector<float>(2 * 20000, 0.5f), {0, 100}, {20000, 19999}};
  const auto got = expect_topk(eq, 3000);
  EXPECT_EQ(got[0], 19999);
  EXPECT_EQ(got[3000 + 0], 19998);
}

TEST(CudaTopk, SpecialValues) {
  SKIP_WITHOUT_GPU();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> specials = {nan, -nan, inf, -inf, 0.0f, -0.0f, 1e-40f, -1e-40f,
                                       std::numeric_limits<float>::max(),
                                       -std::numeric_limits<float>::max(), 1.0f, -1.0f};
  std::mt19937_64 rng(3);
  for (int64_t cols : {50, 5000, 20000}) {
    Rows r{8, cols, cols, std::vector<float>(8 * cols), {}, {}};
    for (int64_t i = 0; i < 8; ++i) {
      r.begin.push_back(0);
      r.end.push_back(static_cast<int32_t>(cols));
      for (int64_t c = 0; c < cols; ++c) r.scores[i * cols + c] = specials[rng() % specials.size()];
    }
    for (int64_t k : {1, 10, 64, 4096})
      expect_topk(r, k);
  }
}

TEST(CudaTopk, ShortRowsEmptyRowsAndPadding) {
  SKIP_WITHOUT_GPU();
  Rows r = random_rows(64, 300, 301, 9, 0);  // odd ld: scalar path
  r.begin[3] = r.end[3] = 17;                // empty row
  const auto got = expect_topk(r, 512);
  for (int j = 0; j < 512; ++j) ASSERT_EQ(got[3 * 512 + j], -1);
}

// Short index-order rows (k = 2048: n <= 16384, HISA's stage-2 candidate rows) run from
// 32-bit score keys in shared memory (the column is the position); both orders on distinct
// values, heavy ties, specials, n below and above k, and rows just over the short limit.
TEST(CudaTopk, ShortRowsFromScoreKeys) {
  SKIP_WITHOUT_GPU();
  for (const int levels : {0, 2, 64}) {
    Rows r = random_rows(96, 16500, 16500, 61 + levels, levels);
    r.begin[0] = 0, r.end[0] = 16384;  // the longest short row at k = 2048
    r.begin[1] = 0, r.end[1] = 2048;   // n == k
    r.begin[2] = 5, r.end[2] = 2054;   // n == k + 1
    r.begin[3] = 0, r.end[3] = 16385;  // one over: the long path
    for (const int64_t k : {1, 33, 1000, 2048}) expect_topk(r, k);
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Rows sp = random_rows(16, 4096, 4096, 71, 0);
  std::mt19937_64 rng(72);
  for (float& v : sp.scores) {
    const uint64_t u = rng() % 8;
    if (u == 0) v = nan;
    if (u == 1) v = -0.0f;
    if (u == 2) v = 0.0f;
    if (u == 3) v = -std::numeric_limits<float>::infinity();
  }
  for (const int64_t k : {100, 2048}) expect_topk(sp, k);
}

// The score-order ranking counts keys into buckets below the largest key (topk_bucket_rank.cuh)
// and sorts when a bucket holds more than 32 keys: sets whose equal scores fill buckets of
// exactly 32 and 33 keys, one huge outlier that squeezes every other key into a few buckets,
// a set of equal scores (buckets by column), scores of both signs (buckets by value), scores
// over 60 binades, and both signs at +-3e38 (max - min overflows), each at k = 2048 and 1000,
// in rows short and long.
TEST(CudaTopk, BucketRankingCrowdedAndSparse) {
  SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(91);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const int64_t cols : {4096, 40000}) {
    const int64_t rows = 7;
    Rows r{rows, cols, cols, std::vector<float>(rows * cols), {}, {}};
    for (int64_t i = 0; i < rows; ++i) {
      r.begin.push_back(0);
      r.end.push_back(static_cast<int32_t>(cols));
      float* row = r.scores.data() + i * cols;
      for (int64_t c = 0; c < cols; ++c)  // below every top set
        row[c] = i == 6 ? -std::numeric_limits<float>::infinity() : nd(rng) - 50.0f;
      std::vector<int32_t> perm(cols);
      for (int64_t c = 0; c < cols; ++c) perm[c] = static_cast<int32_t>(c);
      std::shuffle(perm.begin(), perm.end(), rng);
      const int copies = i == 0 ? 32 : 33;
      for (int64_t j = 0; j < 2048; ++j) {
        float v = 0.0f;
        if (i <= 1) v = 100.0f + static_cast<float>(j / copies);  // 32 or 33 equal scores
        if (i == 2) v = j == 0 ? 1e30f : 1.0f + nd(rng) * 0.01f;   // one outlier
        if (i == 3) v = 7.0f;                                      // all equal
        if (i == 4) v = nd(rng);                                   // both signs
        if (i == 5)  // 60 binades
          v = std::ldexp(1.0f + 0.001f * static_cast<float>(j % 7), static_cast<int>(j % 60) - 30);
        if (i == 6)  // both signs near the f32 limit: max - min overflows
          v = (j % 3 == 0 ? -3e38f : 3e38f) * (1.0f - 0.0001f * static_cast<float>(j % 5));
        row[perm[j]] = v;
      }
    }
    for (const int64_t k : {1000, 2048}) expect_topk(r, k);
  }
}

// HISA's stage-2b rows (k = 2048 of m * B = 4096 .. 16384 candidates) through the one-sort
// selection (topk_bucket_select.cuh): scores of both signs (buckets by value), of one sign
// (buckets by key), quantized scores whose k-th value is shared by a crowded bucket (refused:
// the radix passes), n = k + 1, the longest short row, one outlier that squeezes the rest into
// a few buckets (refused), every score equal and ReLU rows whose exact zeros (+0 and -0) fill
// the k-th key's bucket (one score: ranked by column), a row whose minimum is exactly 0 (by
// value). Exact.
TEST(CudaTopk, BucketSelectionOfShortRows) {
  SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(131);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t cols = 16384, rows = 16;
  Rows r{rows, cols, cols, std::vector<float>(rows * cols, 0.0f), {}, {}};
  const int32_t ends[rows] = {4096, 4096, 4096, 8192, 16384, 2049, 4096, 4096,
                              5000, 16384, 4096, 12000, 4096, 8192, 4096, 16384};
  for (int64_t i = 0; i < rows; ++i) {
    r.begin.push_back(i == 8 ? 3 : 0);
    r.end.push_back(ends[i]);
    float* row = r.scores.data() + i * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const float g = nd(rng);
      float v = g;                                            // both signs
      if (i == 1 || i == 3) v = std::fabs(g) * 40.0f + 1.0f;  // one sign
      if (i == 2 || i == 9) v = std::floor(g * 16.0f) / 16.0f;  // ties at the threshold
      if (i == 6) v = c == 77 ? 1e30f : 1.0f + g * 0.01f;     // one outlier: refused
      if (i == 7) v = 3.0f;                                   // all equal: by column
      if (i == 10) v = -std::fabs(g) - 1.0f;                  // all negative
      if (i == 11) v = std::exp(4.0f * g);                    // many binades
      if (i == 12) v = std::max(0.0f, g);                     // half exact zeros
      if (i == 13) v = c % 97 == 0 ? std::fabs(g) : (c % 2 ? 0.0f : -0.0f);  // few positives
      if (i == 14) v = c == 1000 ? 0.0f : std::fabs(g) + 1e-3f;  // minimum exactly 0
      if (i == 15) v = g > 1.5f ? g : 0.0f;                   // zeros around the k-th key
      row[c] = v;
    }
  }
  for (const int64_t k : {2048, 1000, 17}) expect_topk(r, k);
}

// The short-row kernel's bucket limit (radix_topk_set_bucket64, HISA_TOPK_BUCKET64): rows of
// both signs whose k-th key lies in a bucket of 48 distinct scores (refused at the limit of 32
// in both orders, taken at 64) and whose buckets above it hold 40 keys each (refused in score
// order at 32). Exact in every mode of expect_topk.
TEST(CudaTopk, CrowdedBucketsUnderTheLimitOf64) {
  SKIP_WITHOUT_GPU();
  const int64_t cols = 8192, rows = 2;
  Rows r{rows, cols, cols, std::vector<float>(rows * cols, 0.0f), {0, 5}, {cols, cols}};
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t n = r.end[i] - r.begin[i];
    float* row = r.scores.data() + i * cols + r.begin[i];
    // Buckets by value over [-2047, 2048] are 2 wide: bucket b holds (2048 - 2(b+1), 2048 - 2b].
    // 50 buckets of 40 keys (2000 keys in (1948, 2048]), then 48 keys in (1946, 1948]: rank
    // 2047 is among them; the rest far below.
    for (int64_t c = 0; c < n; ++c) row[c] = -1000.0f - static_cast<float>(c % 977) * 0.5f;
    for (int64_t j = 0; j < 2000; ++j) {
      const float group = static_cast<float>(j / 40), within = static_cast<float>(j % 40);
      row[2 * j] = 2047.9f - group * 2.0f - within * 0.04f;
    }
    for (int64_t j = 0; j < 48; ++j) row[2 * j + 1] = 1947.9f - static_cast<float>(j) * 0.03f;
    row[4001] = 2048.0f;   // the top of the range
    row[4003] = -2047.0f;  // the bottom
  }
  expect_topk(r, 2048);
}

TEST(CudaTopk, UnalignedPointerAndRanges) {
  SKIP_WITHOUT_GPU();
  Rows r = random_rows(40, 12000, 12004, 21, 0);
  expect_topk(r, 333, /*misalign=*/1);
  expect_topk(r, 333, /*misalign=*/0);
}

TEST(CudaTopk, RowsLongerThanOneBitmapWindow) {
  SKIP_WITHOUT_GPU();
  // Index order marks the kept columns in a bitmap of 131072 columns per window: rows of
  // 300000 columns cross two window boundaries (row 0 whole, row 1 with an odd start).
  for (const int levels : {0, 4}) {  // distinct values; heavy ties
    Rows r = random_rows(3, 300000, 300000, 51 + levels, levels);
    std::mt19937_64 rng(7);
    std::normal_distribution<float> nd(0.0f, 3.0f);
    const int32_t starts[2] = {0, 12345};
    for (int i = 0; i < 2; ++i) {
      r.begin[i] = starts[i];
      r.end[i] = 300000;
      for (int64_t c = 0; c < 300000; ++c) {
        float v = nd(rng);
        if (levels > 0) v = std::floor(v * levels) / levels;
        r.scores[i * r.ld + c] = v;
      }
    }
    for (const int64_t k : {2048, 5000}) expect_topk(r, k);
  }
}

// The sampled window of long rows (topk_sample_window.cuh) must be exact when the sample
// misleads it. Rows of 65536 columns: Gaussian scores plus a run of 8 hot columns in the middle
// of every 257-column gap, where the sample's 8-column groups (one every ~257 columns from
// column 0) never fall: 2040 hot keys the sample does not see, so more than k keys lie above its
// upper bound and the row takes the exact passes again. A second row has the hot columns on the
// sample groups' own stride (the sample over-counts them) and a third is plain Gaussian.
TEST(CudaTopk, SampledWindowMisledBySparseHotColumns) {
  SKIP_WITHOUT_GPU();
  constexpr int64_t kCols = 65536;
  Rows r = random_rows(3, kCols, kCols, 77, 0);
  std::mt19937_64 rng(78);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (int i = 0; i < 3; ++i) {
    r.begin[i] = 0;
    r.end[i] = static_cast<int32_t>(kCols);
    for (int64_t c = 0; c < kCols; ++c) {
      float v = nd(rng);
      if (i == 0 && c % 257 >= 124 && c % 257 < 132) v += 40.0f;  // between the sample groups
      if (i == 1 && c % 257 < 8) v += 40.0f;                       // on them
      r.scores[i * r.ld + c] = v;
    }
  }
  for (const int64_t k : {1, 2048, 3000}) expect_topk(r, k);
}

TEST(CudaTopk, LargestK) {
  SKIP_WITHOUT_GPU();
  Rows r = random_rows(6, 40000, 40000, 33, 0);
  expect_topk(r, cuda::kRadixTopkMaxK);
  cuda::TopkRowsArgs a;
  a.rows = 1;
  a.k = cuda::kRadixTopkMaxK + 1;
  EXPECT_THROW(cuda::radix_topk_rows(a, nullptr), ArgumentError);
}

}  // namespace
}  // namespace hisa::test

// MISA's routed top-k: f16 rows (ranked by their exact f32 values) and unordered output (the
// same set, then -1). Rows hold values that are exact in f16, so the reference is the f32 one.
namespace hisa::test {
namespace {

TEST(CudaTopk, HalfRowsAndUnorderedSets) {
  SKIP_WITHOUT_GPU();
  const Rows r = random_rows(40, 3000, 3008, 77, /*value_levels=*/64);  // ties; exact in f16
  std::vector<uint16_t> half(r.scores.size());
  for (std::size_t i = 0; i < half.size(); ++i) {  // exact f32 -> f16 (|v| < 64, 1/64 grid)
    const float v = r.scores[i];
    uint32_t u;
    std::memcpy(&u, &v, 4);
    const uint32_t sign = (u >> 16) & 0x8000u;
    const float a = std::fabs(v);
    uint16_t h = 0;
    if (a != 0.0f) {
      int e;
      const float m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
      h = static_cast<uint16_t>(((e + 14) << 10) | static_cast<uint32_t>((m * 2.0f - 1.0f) * 1024.0f));
    }
    half[i] = static_cast<uint16_t>(sign | h);
  }
  for (const int64_t k : {1, 100, 2048}) {
    const std::vector<int32_t> want = reference(r, k);
    for (const int mode : {0, 1, 2, 3, 4, 5}) {  // score order, unordered set, index order;
      // modes 3-5: the same with the short-row kernel in small CTAs (topk_short.cuh)
      cuda::radix_topk_set_short_cta(mode >= 3 ? 1 : 0);
      const bool sorted = mode % 3 != 1;
      DeviceArray<uint16_t> scores(half);
      DeviceArray<int32_t> begin(r.begin), end(r.end), out(r.rows * k);
      out.fill_bytes(0x7F);
      cuda::TopkRowsArgs a;
      a.scores_f16 = scores.get();
      a.ld = r.ld;
      a.rows = r.rows;
      a.cols = r.cols;
      a.begin = begin.get();
      a.end = end.get();
      a.k = k;
      a.out = out.get();
      a.out_ld = k;
      a.sorted = sorted;
      a.by_index = mode % 3 == 2;
      cuda::radix_topk_rows(a, nullptr);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      std::vector<int32_t> got = out.download(), expect = want;
      if (mode % 3 == 1) got = by_index(got, k);  // the same set in any order
      if (mode % 3 != 0) expect = by_index(expect, k);
      EXPECT_EQ(got, expect) << "k=" << k << " mode=" << mode;
    }
    cuda::radix_topk_set_short_cta(-1);
  }
}

}  // namespace
}  // namespace hisa::test
