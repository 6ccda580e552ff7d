// Radix-select top-k per row (see topk_radix.cuh for the contract and the algorithm).
#include <cuda_fp16.h>

#include <algorithm>
#include <string>

#include "cuda/common.cuh"
#include "cuda/hisa_launch.cuh"
#include "cuda/hisa_register_sort.cuh"
#include "cuda/topk_bucket_rank.cuh"
#include "cuda/topk_bucket_select.cuh"
#include "cuda/topk_ordered.cuh"
#include "cuda/topk_radix.cuh"
#include "cuda/topk_row_io.cuh"
#include "cuda/topk_sample_window.cuh"
#include "cuda/topk_switches.cuh"
#include "cuda/topk_short.cuh"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {


// 512 threads x <= 64 registers and <= ~100 KiB of shared memory: two CTAs per SM, each with
// 4 float4 loads per thread in flight (64 KiB per SM), enough to stream rows at HBM speed.
constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kDigitBits = 12;
constexpr int kBins = 1 << kDigitBits;
constexpr int kBinsPerThread = kBins / kThreads;
// Rows of k <= kRegItems are ranked in registers (sort_and_write); the key buffer holds at
// least that many entries (next_pow2(k) or k + cap >= 2048 + k).
constexpr int kRegItems = 2048;
static_assert(kBins % kThreads == 0, "find_bin gives each thread the same number of bins");

// Below this many buffered keys the shared memory is too small to be worth a second CTA per SM;
// 10240 keys (80 KiB) + the 16 KiB histogram lets two CTAs share one SM.
constexpr int64_t kBufferKeys = 10240;
constexpr int64_t kMinCandidates = 2048;

struct RowShared {
  uint32_t scan[kWarps];  // topk_ordered's block scans
  uint32_t warp_sums[kWarps];
  uint32_t out_count, cand_count;
  uint32_t sel_bin, sel_above, sel_count;
  topk_bucket::Shared<kThreads> bucket;  // the score-order ranking's scratch
  topk_bucket::SelectShared<kThreads> select;  // the short rows' one-sort selection
  topk_sample::Shared sample;  // the sampled window's bounds
};

__device__ __forceinline__ uint64_t top_bits(uint64_t key, int hi) { return key >> (64 - hi); }
__device__ __forceinline__ bool matches(uint64_t key, int hi, uint64_t prefix) {
  return hi == 0 || top_bits(key, hi) == prefix;
}

// Finds the bin b (scanning from the top) with above(b) < r <= above(b) + hist[b], where
// above(b) counts keys in bins > b. Result in sh.sel_*; ends with a barrier.
__device__ void find_bin(const uint32_t* hist, uint32_t r, RowShared& sh) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  uint32_t v[kBinsPerThread];
  uint32_t total = 0;
#pragma unroll
  for (int j = 0; j < kBinsPerThread; ++j) {
    v[j] = hist[kBins - 1 - (kBinsPerThread * tid + j)];
    total += v[j];
  }
  const uint32_t inc = warp_inclusive_sum(total);
  if (lane == 31) sh.warp_sums[warp] = inc;
  __syncthreads();
  if (warp == 0) {
    const uint32_t ws = warp_inclusive_sum(lane < kWarps ? sh.warp_sums[lane] : 0u);
    if (lane < kWarps) sh.warp_sums[lane] = ws;
  }
  __syncthreads();
  const uint32_t excl = inc - total + (warp > 0 ? sh.warp_sums[warp - 1] : 0u);
  if (excl < r && r <= excl + total) {
    uint32_t c = excl;
#pragma unroll
    for (int j = 0; j < kBinsPerThread; ++j) {
      if (r <= c + v[j]) {
        sh.sel_bin = kBins - 1 - (kBinsPerThread * tid + j);
        sh.sel_above = c;
        sh.sel_count = v[j];
        break;
      }
      c += v[j];
    }
  }
  __syncthreads();
}

// Counts, into hist, the digit (key >> shift) & mask of every key whose top `hi` bits equal
// `prefix`: the keys of buf[0, *count) if buf is given, else those of the row. Starts and ends
// with a barrier (*count is read after the first).
template <bool kVec, typename TE>
__device__ void histogram(const TE* scores, int begin, int end, const uint64_t* buf,
                          const uint32_t* count, int hi, uint64_t prefix, int shift, uint64_t mask,
                          uint32_t* hist) {
  const int tid = threadIdx.x;
  for (int i = tid; i < kBins; i += kThreads) hist[i] = 0;
  __syncthreads();
  auto add = [&](uint64_t key) {
    if (matches(key, hi, prefix)) atomicAdd(&hist[static_cast<uint32_t>((key >> shift) & mask)], 1u);
  };
  if (buf != nullptr) {
    const uint32_t c = *count;
    for (uint32_t i = tid; i < c; i += kThreads) add(buf[i]);
  } else {
    topk_io::for_each_score<kThreads, kVec, TE>(scores, begin, end, [&](float v, int i) { add(rank_key(v, i)); });
  }
  __syncthreads();
}

// Ranks keys[0..count) descending (the bucket ranking when `buckets`, else a sort; the shared
// network pads to a power of two with zero keys), then writes the columns, -1 after `count`,
// into out[0..k). `hist` (kBins words) is free scratch.
__device__ void sort_and_write(uint64_t* keys, uint32_t count, int k, int32_t* out, bool sorted,
                               bool buckets, uint32_t* hist, RowShared& sh) {
  const int tid = threadIdx.x;
  if (!sorted) {  // the set only (MISA's candidates are re-ranked by another score)
    for (int j = tid; j < k; j += kThreads)
      out[j] = static_cast<uint32_t>(j) < count ? static_cast<int32_t>(keys[j] & 0xFFFFFFFFu) : -1;
    return;
  }
  if (k <= kRegItems) {
    // 512 threads x 4 items in registers. First a counting sort on the keys' buckets
    // (topk_bucket_rank.cuh); a set with a crowded bucket is sorted in registers instead
    // (hisa_register_sort.cuh: 10 shared-memory stages instead of 66; zero keys pad, they sort
    // last; H100, same run: flat's top-k 1.02 -> 0.53 ms at 8K, 5.37 -> 3.62 ms at 32K against
    // the shared-memory network, bench/results/h100_2026-12-06_44690f1_select_ab_*.log).
    // `keys` (>= kRegItems + kRegItems / 2 entries) is the scatter / exchange buffer once the
    // items are loaded.
    uint64_t v[kRegItems / kThreads];
#pragma unroll
    for (int r = 0; r < kRegItems / kThreads; ++r) {
      const uint32_t i = static_cast<uint32_t>(tid) * (kRegItems / kThreads) + r;
      v[r] = i < count ? keys[i] : 0;
    }
    __syncthreads();
    constexpr int kItems = kRegItems / kThreads;
    if (buckets && topk_bucket::rank_by_buckets<kThreads, kItems, kBins>(v, count, k, keys, hist,
                                                                          sh.bucket, out))
      return;
    hisa_ops::warpgroup_sort_desc<kRegItems / kThreads, kThreads>(v, keys);
#pragma unroll
    for (int r = 0; r < kRegItems / kThreads; ++r) {
      const int j = tid * (kRegItems / kThreads) + r;
      if (j < k) out[j] = static_cast<uint32_t>(j) < count ? static_cast<int32_t>(v[r] & 0xFFFFFFFFu) : -1;
    }
    return;
  }
  uint32_t P = 1;
  while (P < count) P <<= 1;
  for (uint32_t i = count + tid; i < P; i += kThreads) keys[i] = 0;
  __syncthreads();
  for (uint32_t size = 2; size <= P; size <<= 1) {
    for (uint32_t stride = size >> 1; stride > 0; stride >>= 1) {
      for (uint32_t i = tid; i < P / 2; i += kThreads) {
        const uint32_t pos = 2 * i - (i & (stride - 1));
        const bool descending = (pos & size) == 0;
        const uint64_t a = keys[pos], b = keys[pos + stride];
        if ((a < b) == descending) {
          keys[pos] = b;
          keys[pos + stride] = a;
        }
      }
      __syncthreads();
    }
  }
  for (int j = tid; j < k; j += kThreads)
    out[j] = static_cast<uint32_t>(j) < count ? static_cast<int32_t>(keys[j] & 0xFFFFFFFFu) : -1;
}

// ---- short rows (n <= short_max): the row lives in shared memory as 32-bit score keys ----
// sk[i] is the score key of column begin + i, so the rank key is rebuilt on the fly; a row of
// n keys takes 4n bytes (16384 columns in the 80 KiB the long path uses for its buffers).
__device__ __forceinline__ uint64_t short_key(const uint32_t* sk, int begin, uint32_t i) {
  return (static_cast<uint64_t>(sk[i]) << 32) | static_cast<uint32_t>(begin + static_cast<int>(i));
}

// Copies the row's score keys into sk[0, n) by column (no atomics).
template <bool kVec, typename TE>
__device__ void copy_score_keys(const TE* scores, int begin, int end, uint32_t* sk) {
  topk_io::for_each_score<kThreads, kVec, TE>(scores, begin, end, [&](float v, int i) { sk[i - begin] = score_key(v); });
}

// Threshold passes over sk[0, n) (visible to the block after the first barrier) until
// exactly k < n keys remain at or above the threshold: the kept keys are those with
// top_bits(key, hi) >= prefix.
__device__ void short_row_threshold(const uint32_t* sk, int begin, uint32_t n, int k,
                                    uint32_t* hist, RowShared& sh, int& hi, uint64_t& prefix) {
  const int tid = threadIdx.x;
  hi = 0;      // resolved high bits of the threshold key
  prefix = 0;  // their value
  uint32_t r = k;  // keys still to take among those matching the prefix
  while (true) {
    const int w = min(kDigitBits, 64 - hi);
    const int shift = 64 - hi - w;
    const uint64_t mask = (1ull << w) - 1;
    for (int i = tid; i < kBins; i += kThreads) hist[i] = 0;
    __syncthreads();
    for (uint32_t i = tid; i < n; i += kThreads) {
      const uint64_t key = short_key(sk, begin, i);
      if (matches(key, hi, prefix)) atomicAdd(&hist[static_cast<uint32_t>((key >> shift) & mask)], 1u);
    }
    __syncthreads();
    find_bin(hist, r, sh);
    const uint32_t b = sh.sel_bin, above = sh.sel_above, cnt = sh.sel_count;
    prefix = (prefix << w) | b;
    hi += w;
    if (above + cnt == r || hi == 64) return;  // exactly k keys are at or above the prefix
    r -= above;
  }
}

// Index order (sorted && by_index), rows of k < n <= short_max: the threshold passes run over
// the row's score keys in shared memory, and the final pass writes the columns of the keys
// >= the k-th key in column order by block prefix sums (topk_ordered.cuh).
// Rows of n <= k are written without reading them.
template <bool kVec, typename TE>
__device__ void short_row_by_index(const TE* scores, int begin, int end, int k, int32_t* out,
                                   uint32_t* sk, uint32_t* hist, bool select, RowShared& sh) {
  const int tid = threadIdx.x;
  const int n = end - begin;
  if (n <= k) {  // every column is kept, already in order
    for (int j = tid; j < k; j += kThreads) out[j] = j < n ? begin + j : -1;
    return;
  }
  copy_score_keys<kVec, TE>(scores, begin, end, sk);
  auto write_kept = [&](auto keep) {
    topk_ordered::ordered_buffer_pass<kThreads>(
        static_cast<uint32_t>(n), sh.scan, [&](uint32_t i) { return short_key(sk, begin, i); }, keep,
        [&](uint32_t pos, uint64_t key) {
          if (pos < static_cast<uint32_t>(k)) out[pos] = static_cast<int32_t>(key & 0xFFFFFFFFu);
        });
  };
  if (select) {  // the k-th key by one bucket histogram (topk_bucket_select.cuh)
    __syncthreads();
    uint64_t t;
    if (topk_bucket::kth_key_by_buckets<kThreads, kBins>(sk, begin, static_cast<uint32_t>(n), k, hist,
                                                         sh.select, &t)) {
      write_kept([&](uint64_t key) { return key >= t; });
      return;
    }
  }
  int hi;
  uint64_t prefix;
  short_row_threshold(sk, begin, static_cast<uint32_t>(n), k, hist, sh, hi, prefix);
  write_kept([&](uint64_t key) { return top_bits(key, hi) >= prefix; });
}

// Index order for longer rows: the selected keys (keys[0, count), any order, count <= k) are
// marked in a bitmap of the row's columns (`bitmap`: the histogram's kBins words, so windows
// of kBins * 32 columns), then each window's set bits are written in column order by one
// block prefix sum over per-thread word runs; -1 after `count`.
__device__ void write_in_column_order(const uint64_t* keys, uint32_t count, int begin, int end,
                                      int k, int32_t* out, uint32_t* bitmap, RowShared& sh) {
  constexpr int kWindow = kBins * 32;
  const int tid = threadIdx.x;
  uint32_t done = 0;
  for (int w0 = begin; w0 < end; w0 += kWindow) {
    const int words = (min(kWindow, end - w0) + 31) / 32;
    for (int i = tid; i < words; i += kThreads) bitmap[i] = 0;
    __syncthreads();
    for (uint32_t i = tid; i < count; i += kThreads) {
      const int c = static_cast<int>(keys[i] & 0xFFFFFFFFu) - w0;
      if (c >= 0 && c < kWindow) atomicOr(&bitmap[c >> 5], 1u << (c & 31));
    }
    __syncthreads();
    const int per = (words + kThreads - 1) / kThreads;  // a contiguous run of words per thread
    const int i0 = tid * per;
    uint32_t c = 0;
    for (int j = 0; j < per; ++j)
      if (i0 + j < words) c += __popc(bitmap[i0 + j]);
    uint32_t total;
    uint32_t pos = done + topk_ordered::block_exclusive_scan<kThreads>(c, sh.scan, total);
    for (int j = 0; j < per; ++j) {
      if (i0 + j >= words) break;
      for (uint32_t bits = bitmap[i0 + j]; bits != 0; bits &= bits - 1) {
        if (pos < static_cast<uint32_t>(k)) out[pos] = w0 + 32 * (i0 + j) + __ffs(bits) - 1;
        ++pos;
      }
    }
    done += total;
    __syncthreads();  // the next window clears the bitmap
  }
  for (uint32_t j = done + tid; j < static_cast<uint32_t>(k); j += kThreads) out[j] = -1;
}

template <bool kVec, typename TE, bool kByIndex>
__device__ __forceinline__ void topk_row(const TopkRowsArgs& a, int64_t row, int cap, int short_max,
                                         bool buckets, bool select, int sample_min,
                                         bool sample_hist) {
  extern __shared__ __align__(16) unsigned char dyn[];
  uint32_t* hist = reinterpret_cast<uint32_t*>(dyn);
  uint64_t* outbuf = reinterpret_cast<uint64_t*>(dyn + kBins * sizeof(uint32_t));
  uint64_t* cand = outbuf + a.k;
  // Short index-order rows: short_max 4-byte score keys after max(k, kRegItems) 8-byte
  // entries, filling the key area.
  uint32_t* short_keys = reinterpret_cast<uint32_t*>(outbuf + max(static_cast<int>(a.k), kRegItems));
  __shared__ RowShared sh;

  const int tid = threadIdx.x;
  const topk_io::RowView<TE> view = topk_io::row_view<TE>(a, row);
  const int begin = view.begin, end = view.end;
  const TE* scores = view.scores;
  int32_t* out = view.out;
  const int k = static_cast<int>(a.k);
  const int n = end - begin;

  if (tid == 0) {
    sh.out_count = 0;
    sh.cand_count = 0;
  }
  __syncthreads();
  if constexpr (kByIndex) {
    if (n <= k || n <= short_max) {  // n <= k: written without reading the row
      short_row_by_index<kVec, TE>(scores, begin, end, k, out, short_keys, hist, select, sh);
      return;
    }
  } else {
    if (select && a.sorted && k < n && n <= short_max) {
      // One counting sort selects and ranks (topk_bucket_select.cuh); a crowded row falls
      // through to the radix passes below.
      copy_score_keys<kVec, TE>(scores, begin, end, short_keys);
      __syncthreads();
      if (topk_bucket::select_by_buckets<kThreads, kBins>(short_keys, begin, static_cast<uint32_t>(n), k,
                                                          outbuf, short_keys, hist, sh.select, out))
        return;
      __syncthreads();
    }
  }

  if (n <= k) {
    topk_io::for_each_score<kThreads, kVec, TE>(scores, begin, end, [&](float v, int i) {
      outbuf[atomicAdd(&sh.out_count, 1u)] = rank_key(v, i);
    });
  } else {
    bool in_smem = false;
    int hi = 0;           // resolved high bits of the threshold key
    uint64_t prefix = 0;  // their value
    uint32_t r = k;       // keys still to take among those matching the prefix
    if (n <= cap) {
      topk_io::for_each_score<kThreads, kVec, TE>(scores, begin, end, [&](float v, int i) {
        cand[atomicAdd(&sh.cand_count, 1u)] = rank_key(v, i);
      });
      in_smem = true;
    } else if (sample_min > 0 && n >= sample_min &&
               topk_sample::window_pass<kThreads, kVec, TE, kBins>(scores, begin, end, k, cap, outbuf,
                                                                   cand, sh.out_count, sh.cand_count,
                                                                   sh.sample, sample_hist, hist)) {
      // One read: the keys surely above the k-th are out, its window is in shared memory. Every
      // candidate shares the top bits of the window's bounds: the passes start below them.
      r = static_cast<uint32_t>(k) - sh.out_count;
      in_smem = true;
      const int common = __clz(static_cast<int>(sh.sample.lo ^ sh.sample.hi));
      if (common > 0) {
        hi = common;
        prefix = sh.sample.lo >> (32 - common);
      }
    }
    while (true) {
      const int w = min(kDigitBits, 64 - hi);
      const int shift = 64 - hi - w;
      const uint64_t mask = (1ull << w) - 1;
      histogram<kVec, TE>(scores, begin, end, in_smem ? cand : nullptr, &sh.cand_count, hi, prefix,
                          shift, mask, hist);
      find_bin(hist, r, sh);
      const uint32_t b = sh.sel_bin, above = sh.sel_above, cnt = sh.sel_count;
      prefix = (prefix << w) | b;
      hi += w;
      if (above + cnt == r || hi == 64) {  // (at 64 bits every bin holds <= 1 unique key)
        // Threshold resolved: exactly the keys whose top `hi` bits are >= prefix remain.
        if (in_smem) {
          const uint32_t c = sh.cand_count;
          for (uint32_t i = tid; i < c; i += kThreads) {
            const uint64_t key = cand[i];
            if (top_bits(key, hi) >= prefix) outbuf[atomicAdd(&sh.out_count, 1u)] = key;
          }
        } else {
          topk_io::for_each_score<kThreads, kVec, TE>(scores, begin, end, [&](float v, int i) {
            const uint64_t key = rank_key(v, i);
            if (top_bits(key, hi) >= prefix) outbuf[atomicAdd(&sh.out_count, 1u)] = key;
          });
        }
        break;
      }
      r -= above;
      if (!in_smem && cnt <= static_cast<uint32_t>(cap)) {
        // Keys above the prefix are in; keys on it are the candidates of the next passes.
        topk_io::for_each_score<kThreads, kVec, TE>(scores, begin, end, [&](float v, int i) {
          const uint64_t key = rank_key(v, i);
          const uint64_t t = top_bits(key, hi);
          if (t > prefix)
            outbuf[atomicAdd(&sh.out_count, 1u)] = key;
          else if (t == prefix)
            cand[atomicAdd(&sh.cand_count, 1u)] = key;
        });
        in_smem = true;
        __syncthreads();
      }
    }
  }
  __syncthreads();
  if constexpr (kByIndex) {
    write_in_column_order(outbuf, sh.out_count, begin, end, k, out, hist, sh);
  } else {
    sort_and_write(outbuf, sh.out_count, k, out, a.sorted, buckets, hist, sh);
  }
}

template <bool kVec, typename TE, bool kByIndex>
__global__ void __launch_bounds__(kThreads, 2)
    radix_topk_kernel(TopkRowsArgs a, int cap, int short_max, bool buckets, bool select,
                      int sample_min, bool sample_hist) {
  topk_row<kVec, TE, kByIndex>(a, blockIdx.x, cap, short_max, buckets, select, sample_min,
                               sample_hist);
  if (a.columns.kept != nullptr) {
    __syncthreads();
    topk_io::write_tokens<kThreads>(a, blockIdx.x);
  }
}

// The rows the short-row kernel refused (topk_short.cuh: out[0] == kShortRowRefused), by the
// radix passes: each CTA reads the flags of kRetryRows rows and selects the flagged ones in
// turn. Few rows per CTA, because on the structured workload 5-11% of the rows are refused
// (bench/hisa/bucket_refusals.py: buckets of 33-60 keys near the k-th key): at 512 rows per
// CTA (bda9736) its 32K rows took 64 CTAs, each selecting tens of rows serially (HISA B=128
// m=64 12.9 ms against 7.4 without the short CTAs, H100 same run); an empty CTA costs a flag
// read.
constexpr int kRetryRows = 16;
template <bool kVec, typename TE, bool kByIndex>
__global__ void __launch_bounds__(kThreads, 2)
    radix_retry_kernel(TopkRowsArgs a, int cap, int short_max, bool buckets) {
  __shared__ int64_t todo[kRetryRows];
  __shared__ uint32_t count;
  if (threadIdx.x == 0) count = 0;
  __syncthreads();
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kRetryRows + threadIdx.x;
  if (threadIdx.x < kRetryRows && r < a.rows && a.out[r * a.out_ld] == kShortRowRefused)
    todo[atomicAdd(&count, 1u)] = r;
  __syncthreads();
  const uint32_t c = count;
  for (uint32_t i = 0; i < c; ++i) {
    const int64_t row = todo[i];
    topk_row<kVec, TE, kByIndex>(a, row, cap, short_max, buckets, false, 0, false);
    if (a.columns.kept != nullptr) {
      __syncthreads();
      topk_io::write_tokens<kThreads>(a, row);
    }
    __syncthreads();
  }
}

template <bool kVec, typename TE>
void launch_variant(const TopkRowsArgs& a, bool by_index, int cap, int short_max,
                    std::size_t smem, cudaStream_t stream, const std::string& ctx) {
  const bool buckets = topk_switch::bucket_rank();
  const bool select = topk_switch::bucket_select();
  // Pair rows always take the short-row kernel (radix_topk_rows checked that it fits).
  if (a.positions != nullptr || (topk_switch::short_cta(a) && short_topk_fits(a))) {
    short_topk_rows(a, kVec, topk_switch::bucket64(), stream, ctx.c_str());
    auto* retry = by_index ? &radix_retry_kernel<kVec, TE, true> : &radix_retry_kernel<kVec, TE, false>;
    HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(reinterpret_cast<const void*>(retry),
                                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(smem)),
                        ctx);
    retry<<<dim3(static_cast<unsigned>(ceil_div(a.rows, kRetryRows))), kThreads, smem, stream>>>(
        a, cap, short_max, buckets);
    HISA_CUDA_CHECK_LAUNCH("radix_retry_kernel", ctx);
    return;
  }
  auto* fn = by_index ? &radix_topk_kernel<kVec, TE, true> : &radix_topk_kernel<kVec, TE, false>;
  HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(reinterpret_cast<const void*>(fn),
                                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(smem)),
                      ctx);
  fn<<<dim3(static_cast<unsigned>(a.rows)), kThreads, smem, stream>>>(
      a, cap, short_max, buckets, select, topk_switch::sample_min_cols(),
      topk_switch::sample_hist());
  HISA_CUDA_CHECK_LAUNCH("radix_topk_kernel", ctx);
}

int64_t next_pow2(int64_t v) {
  int64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

}  // namespace

void radix_topk_rows(const TopkRowsArgs& a, cudaStream_t stream) {
  if (a.k < 1 || a.k > kRadixTopkMaxK)
    throw ArgumentError("topk", "the CUDA top-k supports 1 <= topk <= " +
                                    std::to_string(kRadixTopkMaxK) + ", got " +
                                    std::to_string(a.k));
  if (a.rows <= 0) return;
  if (a.cols < 0 || a.cols > INT32_MAX)
    throw ArgumentError("cols", "row length must fit int32, got " + std::to_string(a.cols));
  if ((a.begin == nullptr) != (a.end == nullptr))
    throw ArgumentError("begin", "begin and end must be given together");
  if (a.positions != nullptr &&
      (a.scores == nullptr || a.end == nullptr || a.columns.kept == nullptr || !a.sorted ||
       a.by_index || !short_topk_fits(a)))
    throw ArgumentError("positions", "pair rows need f32 scores, end, kept-block columns, score "
                                     "order, k <= " + std::to_string(kShortRowMaxK) +
                                     " and at most " + std::to_string(kShortRowMaxCols) +
                                     " columns");
  const int64_t cap = std::max(kMinCandidates, kBufferKeys - a.k);
  const int64_t keys = std::max(next_pow2(a.k), a.k + cap);
  const std::size_t smem = kBins * sizeof(uint32_t) + keys * sizeof(uint64_t);
  // Short index-order rows keep 4-byte score keys after max(k, kRegItems) 8-byte entries of
  // the key area (k <= 2048: rows of up to 16384 columns).
  const int short_max = static_cast<int>(2 * (keys - std::max<int64_t>(a.k, kRegItems)));
  const bool f16 = a.scores_f16 != nullptr;
  const uintptr_t base = f16 ? reinterpret_cast<uintptr_t>(a.scores_f16)
                             : reinterpret_cast<uintptr_t>(a.scores);
  const bool vec = base % 16 == 0 && a.ld % (f16 ? 8 : 4) == 0;
  const std::string ctx = "radix_topk rows=" + std::to_string(a.rows) +
                          " cols=" + std::to_string(a.cols) + " k=" + std::to_string(a.k) +
                          " smem=" + std::to_string(smem);
  const bool by_index = a.sorted && a.by_index;
  if (f16 && vec)
    launch_variant<true, uint16_t>(a, by_index, static_cast<int>(cap), short_max, smem, stream, ctx);
  else if (f16)
    launch_variant<false, uint16_t>(a, by_index, static_cast<int>(cap), short_max, smem, stream, ctx);
  else if (vec)
    launch_variant<true, float>(a, by_index, static_cast<int>(cap), short_max, smem, stream, ctx);
  else
    launch_variant<false, float>(a, by_index, static_cast<int>(cap), short_max, smem, stream, ctx);
}

}  // namespace hisa::cuda
