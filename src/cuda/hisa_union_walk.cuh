// The tile walk of the union stage-2a kernel (hisa_tokens_union.cu): Q rows' kept-block lists
// merged in ascending block order, cut into the 64-key tiles the kernel loads once for all of
// them. Host and device (tests/gpu/test_hisa_union_walk.cpp checks it on the host).
#pragma once

#include <cuda_runtime.h>

#include <climits>

namespace hisa::cuda::tokens {

constexpr int kUnionTileKeys = 64;  // one wgmma M tile (tokens::kTileKeys)

// Where a tile's keys sit among one row's candidates, packed in one int: (candidate position
// of its first key) << 7 | (how many of its 64 keys are candidates of the row); 0: none.
__host__ __device__ constexpr int tile_ref(int first_pos, int count) {
  return first_pos << 7 | count;
}
__host__ __device__ constexpr int tile_ref_pos(int ref) { return ref >> 7; }
__host__ __device__ constexpr int tile_ref_count(int ref) { return ref & 127; }

// The union of Q ascending kept-block lists (row q's n[q] block ids at lists + q * stride,
// relative to the rows' common range start ks; n[q] = 0: no row q), B % 64 == 0:
// tile(row, ref) for each 64-key tile holding a candidate of some row, in ascending key order.
// row: the tile's first key row (ks + block * B + offset); ref[q]: its tile_ref in row q, 0
// when the block is not row q's or the tile lies past cv[q] (row q's candidate count) in row
// q's last kept block. Candidate positions are kept index * B + offset, as in every HISA
// stage 2.
template <int Q, class F>
__host__ __device__ inline void walk_union(const int* lists, int stride, const int (&n)[Q],
                                           const int (&cv)[Q], int B, int ks, F&& tile) {
  int i[Q], head[Q];  // row q's next kept index and its block (INT_MAX past the list)
#pragma unroll
  for (int q = 0; q < Q; ++q) {
    i[q] = 0;
    head[q] = n[q] > 0 ? lists[q * stride] : INT_MAX;
  }
  for (;;) {
    int j = INT_MAX;
#pragma unroll
    for (int q = 0; q < Q; ++q) j = head[q] < j ? head[q] : j;
    if (j == INT_MAX) return;
    int lim[Q], most = 0;
#pragma unroll
    for (int q = 0; q < Q; ++q) {
      lim[q] = head[q] == j ? cv[q] - i[q] * B : 0;
      most = lim[q] > most ? lim[q] : most;
    }
    const int end = most < B ? most : B;
    for (int off = 0; off < end; off += kUnionTileKeys) {
      int ref[Q];
#pragma unroll
      for (int q = 0; q < Q; ++q) {
        const int c = lim[q] - off < kUnionTileKeys ? lim[q] - off : kUnionTileKeys;
        ref[q] = off < lim[q] ? tile_ref(i[q] * B + off, c) : 0;
      }
      tile(ks + j * B + off, ref);
    }
#pragma unroll
    for (int q = 0; q < Q; ++q) {
      if (head[q] != j) continue;
      ++i[q];
      head[q] = i[q] < n[q] ? lists[q * stride + i[q]] : INT_MAX;
    }
  }
}

// One tile of the union walk: its first key row and its tile_ref in each row of the group.
template <int Q>
struct UnionTile {
  int row = 0;
  int ref[Q] = {};
  __host__ __device__ void set(int r, const int (&rf)[Q]) {
    row = r;
    for (int q = 0; q < Q; ++q) ref[q] = rf[q];
  }
};

// The walk's tiles two by two into stages: stage(a, b, has_b) for each stage (b == a when
// !has_b). With kSets == 1 in walk order; with kSets == 3 (row pairs) a tile waits for the next
// one of its row set (row 0 alone, row 1 alone, both) and the (at most three) left at the end
// pair up across sets, the last alone. Either way ceil(ntiles / 2) stages, at most one of them
// single (the last); with sets at most one mixes them.
template <int Q, int kSets, class F>
__host__ __device__ inline void stage_union_by_sets(const int* lists, int stride,
                                                    const int (&n)[Q], const int (&cv)[Q],
                                                    int B, int ks, F&& stage) {
  static_assert(kSets == 1 || (kSets == 3 && Q == 2), "walk order, or row sets of a pair");
  UnionTile<Q> held[kSets];
  bool on[kSets] = {};
  walk_union<Q>(lists, stride, n, cv, B, ks, [&](int row, const int(&ref)[Q]) {
    const int set = kSets == 1 ? 0 : ref[0] != 0 ? (ref[1] != 0 ? 2 : 0) : 1;
    UnionTile<Q> t;
    t.set(row, ref);
    if (on[set]) stage(held[set], t, true);
    else held[set] = t;
    on[set] = !on[set];
  });
  UnionTile<Q> first;
  bool have = false;
#pragma unroll
  for (int set = 0; set < kSets; ++set) {
    if (!on[set]) continue;
    if (have) stage(first, held[set], true);
    else first = held[set];
    have = !have;
  }
  if (have) stage(first, first, false);
}

// In walk order (the union kernel's default pairing).
template <int Q, class F>
__host__ __device__ inline void stage_union_in_order(const int* lists, int stride,
                                                     const int (&n)[Q], const int (&cv)[Q],
                                                     int B, int ks, F&& stage) {
  stage_union_by_sets<Q, 1>(lists, stride, n, cv, B, ks, stage);
}

// By row set (the kernel variant with one warpgroup per row: each warpgroup's stages then hold
// two of its products or none, except at most one stage per item).
template <int Q, class F>
__host__ __device__ inline void stage_union_by_rows(const int* lists, int stride,
                                                    const int (&n)[Q], const int (&cv)[Q],
                                                    int B, int ks, F&& stage) {
  stage_union_by_sets<Q, 3>(lists, stride, n, cv, B, ks, stage);
}

// First index of a sorted list of n ints whose value is >= v (n if none).
__host__ __device__ inline int lower_bound_of(const int* list, int n, int v) {
  int lo = 0, hi = n;
  while (lo < hi) {
    const int mid = (lo + hi) >> 1;
    if (list[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// The number of tiles walk_union calls `tile` for, counted in parallel: this lane's share when
// `nlanes` lanes take the lists' entries lane, lane + nlanes, ... (the shares sum to the
// count). An entry counts its block's union tiles when its row is the first that keeps the
// block: ceil(min(B, most) / 64), most = the largest candidate count of the block among the
// rows that keep it (binary searches in the other lists).
template <int Q>
__host__ __device__ inline int count_union_tiles(const int* lists, int stride, const int (&n)[Q],
                                                 const int (&cv)[Q], int B, int lane,
                                                 int nlanes) {
  int count = 0;
#pragma unroll
  for (int q = 0; q < Q; ++q) {
    for (int i = lane; i < n[q]; i += nlanes) {
      const int j = lists[q * stride + i];
      int most = cv[q] - i * B;
      bool first = true;
#pragma unroll
      for (int o = 0; o < Q; ++o) {
        if (o == q || n[o] == 0) continue;
        const int at = lower_bound_of(lists + o * stride, n[o], j);
        if (at < n[o] && lists[o * stride + at] == j) {
          first = first && o > q;
          const int lim = cv[o] - at * B;
          most = lim > most ? lim : most;
        }
      }
      if (first) count += ((most < B ? most : B) + kUnionTileKeys - 1) / kUnionTileKeys;
    }
  }
  return count;
}

}  // namespace hisa::cuda::tokens
