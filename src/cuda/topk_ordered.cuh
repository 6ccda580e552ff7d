// Column-order compaction for the radix top-k's index order (topk_radix.cu): once the k-th
// rank key is known, the kept columns are written in ascending column order by block-wide
// prefix sums over the row (or over a column-ordered copy in shared memory), so index-order
// rows need no sort at all.
//
// A tile of the row gives each thread kU = 4 vectors of kPer = 16 / sizeof(TE) columns:
// vector u of thread t covers columns base + (u * kThreads + t) * kPer + [0, kPer), so reads
// stay coalesced. The kept count of each (u, t) is a 16-bit field of one 64-bit value; one
// block scan of that value gives every vector's position in column order (u-major, then
// thread, then element).
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "cuda/common.cuh"

namespace hisa::cuda::topk_ordered {

// Exclusive block-wide scan of a per-thread value made of four 16-bit counters (each field's
// block total must stay below 2^16). `scratch` holds kThreads / 32 values in shared memory.
// Returns the thread's exclusive prefix, `total` the block's sum. Two barriers; every thread
// of the block must call it.
template <int kThreads>
__device__ __forceinline__ uint64_t block_scan_fields(uint64_t v, uint64_t* scratch,
                                                      uint64_t& total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  uint64_t inc = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const uint64_t y = __shfl_up_sync(0xFFFFFFFFu, inc, o);
    if (lane >= o) inc += y;
  }
  if (lane == 31) scratch[warp] = inc;
  __syncthreads();
  uint64_t before = 0, all = 0;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) {
    const uint64_t s = scratch[w];
    before += w < warp ? s : 0;
    all += s;
  }
  __syncthreads();  // scratch may be rewritten by the next call
  total = all;
  return before + inc - v;
}

__device__ __forceinline__ uint32_t field(uint64_t v, int u) {
  return static_cast<uint32_t>(v >> (16 * u)) & 0xFFFFu;
}

__device__ __forceinline__ float element(const uint4& x, int e, float) {
  const uint32_t w[4] = {x.x, x.y, x.z, x.w};
  return __uint_as_float(w[e]);
}
__device__ __forceinline__ float element(const uint4& x, int e, uint16_t) {
  const uint32_t w[4] = {x.x, x.y, x.z, x.w};
  const uint32_t word = w[e >> 1];
  return __half2float(__ushort_as_half(static_cast<uint16_t>((e & 1) ? word >> 16 : word & 0xFFFFu)));
}
__device__ __forceinline__ void set_element(uint4& x, int e, float v) {
  uint32_t* w = reinterpret_cast<uint32_t*>(&x);
  w[e] = __float_as_uint(v);
}
__device__ __forceinline__ void set_element(uint4& x, int e, uint16_t h) {
  uint32_t* w = reinterpret_cast<uint32_t*>(&x);
  const uint32_t word = w[e >> 1];
  w[e >> 1] = (e & 1) ? ((word & 0xFFFFu) | (static_cast<uint32_t>(h) << 16))
                      : ((word & 0xFFFF0000u) | h);
}

// Visits the columns [begin, end) of `row` in column order. keep(key) decides, for a column's
// rank key (rank_key(score, column)), whether it is kept; emit(pos, key) receives each kept
// key with its 0-based rank among the kept keys in column order. Returns the number kept
// (the same in every thread). kVec: the row base is 16-byte aligned, so whole vectors inside
// [begin, end) are read with one 16-byte load; partial vectors (head, tail) element by element,
// never outside [begin, end).
template <int kThreads, bool kVec, typename TE, typename Keep, typename Emit>
__device__ uint32_t ordered_row_pass(const TE* row, int begin, int end, uint64_t* scratch,
                                     Keep&& keep, Emit&& emit) {
  constexpr int kPer = 16 / sizeof(TE);
  constexpr int kU = 4;
  constexpr int kTile = kU * kThreads * kPer;
  const int tid = threadIdx.x;
  const int base0 = kVec ? (begin & ~(kPer - 1)) : begin;
  uint32_t done = 0;
  for (int base = base0; base < end; base += kTile) {
    uint4 raw[kU];
    uint32_t valid[kU];
    if (kVec && base >= begin && base + kTile <= end) {
      // Interior tile: the four 16-byte loads are issued back to back (in flight together).
#pragma unroll
      for (int u = 0; u < kU; ++u)
        raw[u] = __ldcg(reinterpret_cast<const uint4*>(row + base + (u * kThreads + tid) * kPer));
#pragma unroll
      for (int u = 0; u < kU; ++u) valid[u] = (1u << kPer) - 1;
    } else {
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        const int c0 = base + (u * kThreads + tid) * kPer;
        raw[u] = make_uint4(0, 0, 0, 0);
        valid[u] = 0;
        if (c0 >= end) continue;
        if (kVec && c0 >= begin && c0 + kPer <= end) {
          raw[u] = __ldcg(reinterpret_cast<const uint4*>(row + c0));
          valid[u] = (1u << kPer) - 1;
        } else {
#pragma unroll
          for (int e = 0; e < kPer; ++e) {
            const int c = c0 + e;
            if (c >= begin && c < end) {
              set_element(raw[u], e, row[c]);
              valid[u] |= 1u << e;
            }
          }
        }
      }
    }
    uint32_t mask[kU];
    uint64_t counts = 0;
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const int c0 = base + (u * kThreads + tid) * kPer;
      mask[u] = 0;
#pragma unroll
      for (int e = 0; e < kPer; ++e)
        if (((valid[u] >> e) & 1u) && keep(rank_key(element(raw[u], e, TE{}), c0 + e)))
          mask[u] |= 1u << e;
      counts |= static_cast<uint64_t>(__popc(mask[u])) << (16 * u);
    }
    uint64_t total;
    const uint64_t excl = block_scan_fields<kThreads>(counts, scratch, total);
    uint32_t off = done;
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      uint32_t pos = off + field(excl, u);
      const int c0 = base + (u * kThreads + tid) * kPer;
#pragma unroll
      for (int e = 0; e < kPer; ++e)
        if ((mask[u] >> e) & 1u) emit(pos++, rank_key(element(raw[u], e, TE{}), c0 + e));
      off += field(total, u);
    }
    done = off;
  }
  return done;
}

// The same over keys[0, count) in shared memory, already in column order: emit(pos, key) for
// each key with keep(key), pos its rank among the kept ones. Returns the number kept.
template <int kThreads, typename Keep, typename Emit>
__device__ uint32_t ordered_buffer_pass(const uint64_t* keys, uint32_t count, uint64_t* scratch,
                                        Keep&& keep, Emit&& emit) {
  constexpr int kPer = 4;
  const uint32_t tid = threadIdx.x;
  uint32_t done = 0;
  for (uint32_t base = 0; base < count; base += kPer * kThreads) {
    const uint32_t i0 = base + kPer * tid;
    uint32_t mask = 0;
#pragma unroll
    for (int e = 0; e < kPer; ++e)
      if (i0 + e < count && keep(keys[i0 + e])) mask |= 1u << e;
    uint64_t total;
    uint32_t pos = done + static_cast<uint32_t>(
                              block_scan_fields<kThreads>(__popc(mask), scratch, total));
#pragma unroll
    for (int e = 0; e < kPer; ++e)
      if ((mask >> e) & 1u) emit(pos++, keys[i0 + e]);
    done += static_cast<uint32_t>(total);
  }
  return done;
}

}  // namespace hisa::cuda::topk_ordered
