// Score-order ranking of the radix top-k's selected keys (topk_radix.cu) by a stable LSD radix
// sort on the 32-bit score key, for up to kThreads * IPT keys held in shared memory.
//
// The 64-bit rank keys (score key << 32 | column) rank by score, ties to the larger column.
// A stable sort on the score key alone gives that order when its input is in descending column
// order: the caller collects the kept keys in ascending column order and the first pass reads
// them back to front (or, for keys in any order, passes over the column bytes come first).
// Four passes of 8 bits over the score key; in each, warp w ranks its items (logical indices
// w * 32 * IPT + r * 32 + lane, r = 0..IPT-1) digit by digit with __match_any_sync against a
// per-warp counter row, one block scan over the (digit, warp) counts gives every bucket its
// start, and the items scatter into the other buffer. Per key ~30 instructions in all, against
// ~330 for the bitonic network over 2048 64-bit keys it replaces (66 compare-exchange stages,
// 45 of them shuffles or shared-memory exchanges).
#pragma once

#include <cstdint>

#include "cuda/topk_ordered.cuh"

namespace hisa::cuda::topk_lsd {

constexpr int kDigits = 256;

// Sorts keys a[0, count) into descending rank-key order (score key descending, ties to the
// larger column). Either the keys come in ascending column order (column_passes = 0), or
// column_passes 8-bit passes over the column bytes run first (every column below
// 2^(8 column_passes); keys in any order). `b` is scratch of count keys; `counters` holds
// kThreads / 32 * kDigits words, `scan` kThreads / 32 words. Returns the buffer holding the
// result (a or b: 4 + column_passes passes). count <= kThreads * IPT. Starts with the keys
// visible to the whole block (the caller's barrier) and ends with a barrier.
template <int kThreads, int IPT>
__device__ uint64_t* sort_by_score_desc(uint64_t* a, uint64_t* b, uint32_t count,
                                        uint32_t* counters, uint32_t* scan,
                                        int column_passes = 0) {
  constexpr int kWarps = kThreads / 32;
  static_assert(kWarps * kDigits % kThreads == 0, "each thread scans whole counter runs");
  constexpr int kPerThread = kWarps * kDigits / kThreads;  // counters scanned per thread
  const int tid = static_cast<int>(threadIdx.x), lane = tid & 31, warp = tid >> 5;
  const uint32_t lanes_below = (1u << lane) - 1u;
  uint32_t* mine = counters + warp * kDigits;
#pragma unroll 1
  for (int pass = 0; pass < 4 + column_passes; ++pass) {
    const int shift = pass < column_passes ? 8 * pass : 32 + 8 * (pass - column_passes);
    uint64_t v[IPT];
    uint32_t digit[IPT], offset[IPT];
#pragma unroll
    for (int r = 0; r < IPT; ++r) {
      const uint32_t i = static_cast<uint32_t>(warp * 32 * IPT + r * 32 + lane);
      const bool valid = i < count;
      v[r] = valid ? a[pass == 0 ? count - 1 - i : i] : 0;
      // ascending digit of the complemented key = descending score
      digit[r] = valid ? static_cast<uint32_t>(~(v[r] >> shift)) & (kDigits - 1) : kDigits;
    }
    for (int j = lane; j < kDigits; j += 32) mine[j] = 0;
    __syncwarp();
#pragma unroll
    for (int r = 0; r < IPT; ++r) {
      const uint32_t peers = __match_any_sync(0xFFFFFFFFu, digit[r]);
      const bool valid = digit[r] < kDigits;
      const uint32_t prior = valid ? mine[digit[r]] : 0u;
      offset[r] = prior + __popc(peers & lanes_below);
      __syncwarp();
      if (valid && (peers & lanes_below) == 0) mine[digit[r]] = prior + __popc(peers);
      __syncwarp();
    }
    __syncthreads();
    // Bucket starts: exclusive scan of the counts in (digit, warp) order. Thread t owns the
    // kPerThread consecutive entries e = t * kPerThread + j, entry e = digit * kWarps + warp.
    uint32_t c[kPerThread];
    uint32_t sum = 0;
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      const int e = tid * kPerThread + j;
      c[j] = counters[(e % kWarps) * kDigits + e / kWarps];
      sum += c[j];
    }
    uint32_t total;
    uint32_t start = topk_ordered::block_exclusive_scan<kThreads>(sum, scan, total);
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      const int e = tid * kPerThread + j;
      counters[(e % kWarps) * kDigits + e / kWarps] = start;
      start += c[j];
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < IPT; ++r)
      if (digit[r] < kDigits) b[mine[digit[r]] + offset[r]] = v[r];
    __syncthreads();
    uint64_t* t = a;
    a = b;
    b = t;
  }
  return a;
}

}  // namespace hisa::cuda::topk_lsd
