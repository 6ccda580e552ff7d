// Building blocks of the sm_90a one-warpgroup kernels (HISA stage 1 and 2, the MISA router and
// re-scoring): tile shapes and the shared-memory carve, query loaders (FP8 q decoded exactly to
// bf16, or copied as is), the epilogue helpers of an m64n64 accumulator whose M side holds 64
// key rows and whose N side holds the query's 64 heads, and mma_loop, which streams tiles of 64
// key rows through a cp.async ring against the query. Moved here from hisa_sm90.cu unchanged so
// that the MISA kernels (misa_router_sm90.cu) reuse them. Device code is active only in the
// sm_90a pass (HISA_SM90); other passes compile stubs that are never launched.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/common.cuh"
#include "cuda/hisa_block_ops.cuh"
#include "cuda/hisa_wgmma.cuh"

// Helpers are unused in the non-sm_90a passes, where the kernels are stubs.
#pragma nv_diag_suppress 177

namespace hisa::cuda::sm90 {

using hisa_ops::SelectScratch;

constexpr int kThreads = 128;  // one warpgroup
constexpr int kRows = 64;      // heads (M) and keys per tile (N)
constexpr int kD = 128;
// Sort buffer entries the register sort pads to (128 threads x 16 items); it is used for
// 1024 < kpad <= kRegSortItems (the DSA case, topk 2048).
constexpr int kRegSortItems = 128 * 16;

template <int E>  // operand bytes: 1 = FP8 e4m3, 2 = bf16
struct TileShape {
  static constexpr int kTileBytes = kRows * kD * E;  // 8 or 16 KB
  static constexpr int kChunks = kD * E / 16;        // 16-byte chunks per row
  static constexpr int kSteps = kD * E / 32;         // k-steps of 32 bytes (k32 FP8, k16 bf16)
  // Ring depth: FP8 2 slots (one tile loading while one is multiplied), so that 5 CTAs of
  // ~43 KB share an SM and hide each other's MMA, epilogue and select latencies (measured on
  // the H100 against 3 slots / 4 CTAs in one run: stage 2 5.64 vs 6.27 ms at 32K, 23.1 vs
  // 25.4 ms at 128K; bench/results/h100_2026-11-23_4d39182_ring_ab.log). bf16: 3 slots.
  static constexpr int kStages = E == 1 ? 2 : 3;
  static constexpr int kAhead = kStages - 1;         // tiles in flight beyond the current one
};

// The streaming selection's state (stage 2 with a bounded candidate buffer, hisa_sm90.cu):
// items appended so far, the running threshold once the buffer was first drained, and a select
// scratch of its own (the usual one aliases the ring, which is busy during the MMA loop).
struct StreamState {
  uint32_t count;
  uint32_t have;  // thr is valid
  SelectScratch sc;
};

// Shared-memory carve (offsets from a 1024-aligned base). stream_cap > 0: the candidates are
// a buffer of stream_cap (key << 32 | token) items plus a StreamState instead of nkeys keys.
struct Carve {
  size_t qtile, stages, keys, blocks, scale, scratch, items, state, total;
};
template <int E>
__host__ __device__ inline Carve carve(int nkeys, int nblocks, int kpad, bool scales,
                                       int stream_cap = 0) {
  using S = TileShape<E>;
  Carve c{};
  size_t o = 0;
  c.qtile = o;  o += S::kTileBytes;
  c.stages = o;
  const size_t ring = static_cast<size_t>(S::kStages) * S::kTileBytes;
  // The sort buffer and the select scratch are used only after the MMA loop: they alias the
  // ring (this keeps stage 1 at 3 CTAs per SM up to S = 128K).
  const size_t sort = sizeof(uint64_t) * static_cast<size_t>(kpad > kRegSortItems ? kpad : kRegSortItems);
  const size_t after = sort + sizeof(SelectScratch);
  c.scratch = o + sort;
  o += ring > after ? ring : after;
  c.keys = o;   o = (o + sizeof(uint32_t) * nkeys + 15) / 16 * 16;
  c.blocks = o; o = (o + sizeof(int32_t) * nblocks + 15) / 16 * 16;
  c.scale = o;  o += scales ? sizeof(float) * S::kStages * kRows : 0;  // k_scale per ring slot
  c.items = o;  o += sizeof(uint64_t) * static_cast<size_t>(stream_cap);
  c.state = o;  o += stream_cap > 0 ? (sizeof(StreamState) + 15) / 16 * 16 : 0;
  c.total = o + 1024;  // slack to align the dynamic base
  return c;
}

__device__ __forceinline__ unsigned char* aligned_base(unsigned char* smem) {
  const uint32_t a = smem_addr(smem);
  return smem + (((a + 1023u) & ~1023u) - a);
}

// ReLU keeping NaN (SPEC: relu(NaN) = NaN, as the CPU's x < 0 ? 0 : x) in one instruction.
__device__ __forceinline__ float relu(float x) {
#ifdef HISA_SM90
  float y;
  asm("max.NaN.f32 %0, %1, 0f00000000;" : "=f"(y) : "f"(x));
  return y;
#else
  return x < 0.0f ? 0.0f : x;
#endif
}

// q[t] (64 x 128 elements of E bytes) into the swizzled A tile by cp.async.
template <int E>
__device__ __forceinline__ void load_q_async(const uint8_t* src, unsigned char* qtile) {
  using S = TileShape<E>;
  const uint32_t base = smem_addr(qtile);
  for (int i = threadIdx.x; i < kRows * S::kChunks; i += kThreads) {
    const int r = i / S::kChunks, c = i % S::kChunks;
    cp_async16(base + swizzled_offset(kRows, r, c), src + r * kD * E + c * 16, 16u);
  }
}

// Two e4m3 codes (low byte = element 0) to a bf16x2 word (element 0 in the low half), exactly:
// e4m3 -> f16 is exact (hardware cvt, sm_89+), f16 -> f32 -> bf16 is exact for every e4m3
// value (3 mantissa bits, exponents within range); NaN stays NaN, -0 stays -0.
__device__ __forceinline__ uint32_t e4m3x2_to_bf16x2(uint32_t two) {
  uint32_t out = 0;
#ifdef HISA_SM90
  asm("{\n.reg .b32 h;\n.reg .b16 lo, hi, in;\n.reg .f32 flo, fhi;\n"
      "cvt.u16.u32 in, %1;\n"
      "cvt.rn.f16x2.e4m3x2 h, in;\n"
      "mov.b32 {lo, hi}, h;\n"
      "cvt.f32.f16 flo, lo;\n"
      "cvt.f32.f16 fhi, hi;\n"
      "cvt.rn.bf16x2.f32 %0, fhi, flo;\n}"
      : "=r"(out)
      : "r"(two));
#endif
  return out;
}

// FP8 q[t] decoded to bf16 (exact: every e4m3 value is a bf16 value) into the swizzled A tile.
__device__ __forceinline__ void load_q_fp8_as_bf16(const uint8_t* src, unsigned char* qtile) {
  for (int i = threadIdx.x; i < kRows * 16; i += kThreads) {
    const int r = i >> 4, c = i & 15;  // bf16 chunk c holds elements 8c .. 8c+7
    const uint2 raw = *reinterpret_cast<const uint2*>(src + r * kD + c * 8);
    const uint4 packed = make_uint4(e4m3x2_to_bf16x2(raw.x & 0xFFFFu), e4m3x2_to_bf16x2(raw.x >> 16),
                                    e4m3x2_to_bf16x2(raw.y & 0xFFFFu), e4m3x2_to_bf16x2(raw.y >> 16));
    *reinterpret_cast<uint4*>(qtile + swizzled_offset(kRows, r, c)) = packed;
  }
  fence_proxy_async();
}

// Thread (warp w, lane l) of an m64n64 accumulator holds key rows r0 = 16w + l/4 (acc[4i],
// acc[4i+1]) and r0 + 8 (acc[4i+2], acc[4i+3]) for heads 8i + 2(l%4) + {0,1}, i < 8.
// wv[2i + e] = w of head 8i + 2(l%4) + e: the weights this thread multiplies, loaded once.
__device__ __forceinline__ void load_head_weights(const float* wrow, float (&wv)[16]) {
  const int c = threadIdx.x & 3;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const float2 v = *reinterpret_cast<const float2*>(wrow + 8 * i + 2 * c);
    wv[2 * i] = v.x;
    wv[2 * i + 1] = v.y;
  }
}

// sum_h w_h * relu(acc) over this thread's 16 heads, for its two keys: .x row r0, .y r0 + 8.
template <typename WeightPair>
__device__ __forceinline__ float2 key_head_partials_of(const float (&acc)[32], WeightPair&& wpair) {
  float a0 = 0.0f, a1 = 0.0f, b0 = 0.0f, b1 = 0.0f;  // two chains per key for ILP
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const float2 wi = wpair(i);  // the weights of heads 8 i + 2 (lane % 4) and the next
    a0 = fmaf(wi.x, relu(acc[4 * i]), a0);
    a1 = fmaf(wi.y, relu(acc[4 * i + 1]), a1);
    b0 = fmaf(wi.x, relu(acc[4 * i + 2]), b0);
    b1 = fmaf(wi.y, relu(acc[4 * i + 3]), b1);
  }
  return make_float2(a0 + a1, b0 + b1);
}
// The partials summed over the lane quad (all 4 lanes return both sums), in the order
// (lane 0 + lane 1) + (lane 2 + lane 3) up to commutation: .x for row r0, .y for row r0 + 8.
template <typename WeightPair>
__device__ __forceinline__ float2 key_head_sums_of(const float (&acc)[32], WeightPair&& wpair) {
  const float2 part = key_head_partials_of(acc, wpair);
  float a = part.x, b = part.y;
  a += __shfl_xor_sync(0xffffffffu, a, 1);
  b += __shfl_xor_sync(0xffffffffu, b, 1);
  a += __shfl_xor_sync(0xffffffffu, a, 2);
  b += __shfl_xor_sync(0xffffffffu, b, 2);
  return make_float2(a, b);
}
__device__ __forceinline__ float2 key_head_sums(const float (&acc)[32], const float (&wv)[16]) {
  return key_head_sums_of(acc, [&](int i) { return make_float2(wv[2 * i], wv[2 * i + 1]); });
}

// key_head_sums with the weights read from shared memory (w: the query's 64 weights + 2 * (lane
// % 4)), as the TMA kernels keep them: the same products in the same order, so the same bits.
__device__ __forceinline__ float2 key_head_sums_smem(const float (&acc)[32], const float* w) {
  return key_head_sums_of(acc, [&](int i) { return *reinterpret_cast<const float2*>(w + 8 * i); });
}

// The key row (0..63 in the tile) whose sum this thread stores, or -1: lane quad member 0
// stores row r0, member 1 row r0 + 8.
__device__ __forceinline__ int stored_row() {
  const int tid = static_cast<int>(threadIdx.x), lane = tid & 31, c = lane & 3;
  return c < 2 ? 16 * (tid >> 5) + (lane >> 2) + 8 * c : -1;
}

// Where a tile's 64 rows come from. Affine tiles (every stage-1 tile; stage-2 tiles when the
// block size is a multiple of 64 or every block is kept) are rows base + r * stride, so each
// thread copies a fixed 16-byte column of every 8th or 16th row with no per-row lookups;
// other tiles gather row_ptr(pos) row by row.
struct AffineRows {
  const unsigned char* base;  // row 0 of the tile
  int64_t stride;             // bytes between rows
};

// Streams ntiles tiles of 64 rows (rows pos < nvalid, zeros after) against the B operand
// (the query), calling side(tile, slot) with each tile's loads and epi(acc, tile) for each
// finished tile. affine(tile) is used when `is_affine`, else row_ptr(pos). Uniform control
// flow; contains barriers.
// A hook run at each tile's barrier: when full() is true on any thread, every thread calls
// drain() (collective; it must not touch the ring or the query tile). The default does nothing.
struct NoDrain {
  static constexpr bool kActive = false;
  __device__ bool full() const { return false; }
  __device__ void drain() const {}
};

template <class Full, class Fn>
struct DrainWith {
  static constexpr bool kActive = true;
  Full is_full;
  Fn fn;
  __device__ bool full() const { return is_full(); }
  __device__ void drain() const { fn(); }
};
template <class Full, class Fn>
__device__ DrainWith<Full, Fn> drain_with(Full f, Fn fn) {
  return DrainWith<Full, Fn>{f, fn};
}

template <int E, bool kBf16Ops, class Affine, class RowPtr, class Side, class Epi,
          class Drain = NoDrain>
__device__ __forceinline__ void mma_loop(const unsigned char* qtile, unsigned char* stages,
                                         int ntiles, int nvalid, bool is_affine, Affine affine,
                                         RowPtr row_ptr, Side side, Epi epi, Drain drain = {}) {
  using S = TileShape<E>;
  const uint32_t qa = smem_addr(qtile);
  const uint64_t dq = sw128_desc(qa);
  // Affine path: this thread copies chunk c of rows r0 + j * kStep.
  constexpr int kStep = kThreads / S::kChunks;  // 16 (FP8) or 8 (bf16): a multiple of 8
  constexpr int kPer = kRows / kStep;           // rows per thread: 4 or 8
  const int c = static_cast<int>(threadIdx.x) % S::kChunks, r0 = static_cast<int>(threadIdx.x) / S::kChunks;
  const uint32_t dst0 = swizzled_offset(kRows, r0, c);  // + j * kStep * 128 (swizzle is r & 7)
  auto load_tile = [&](int i) {
    const uint32_t base = smem_addr(stages + (i % S::kStages) * S::kTileBytes);
    if (is_affine) {
      const AffineRows a = affine(i);
      const int rows = nvalid - i * kRows;
      const unsigned char* src = a.base + static_cast<int64_t>(r0) * a.stride + c * 16;
#pragma unroll
      for (int j = 0; j < kPer; ++j) {
        const bool ok = r0 + j * kStep < rows;
        cp_async16(base + dst0 + j * kStep * 128, ok ? src + j * kStep * a.stride : a.base,
                   ok ? 16u : 0u);
      }
    } else {
      const unsigned char* any = row_ptr(0);
      for (int q = threadIdx.x; q < kRows * S::kChunks; q += kThreads) {
        const int r = q / S::kChunks, cc = q % S::kChunks;
        const int pos = i * kRows + r;
        const bool ok = pos < nvalid;
        cp_async16(base + swizzled_offset(kRows, r, cc), (ok ? row_ptr(pos) : any) + cc * 16,
                   ok ? 16u : 0u);
      }
    }
    side(i, i % S::kStages);  // per-row extras (k_scale), same commit group as the tile
  };
#pragma unroll
  for (int i = 0; i < S::kAhead; ++i) {
    if (i < ntiles) load_tile(i);
    cp_async_commit();
  }
  // One accumulator set, MMA then epilogue per tile: overlapping tile i's epilogue with tile
  // i+1's MMA inside the warpgroup made ptxas serialize every wgmma (C7514), so the overlap
  // comes from the other CTAs on the SM instead (4 resident for FP8), while cp.async keeps
  // kAhead tiles in flight through the epilogue.
  float acc[32];
#pragma unroll
  for (int i = 0; i < 32; ++i) acc[i] = 0.0f;
  for (int i = 0; i < ntiles; ++i) {
    cp_async_wait<S::kAhead - 1>();  // this thread's part of tile i has landed
    fence_proxy_async();
    // Everyone's part; every reader of tile i-1's stage is done.
    if constexpr (Drain::kActive) {
      if (__syncthreads_or(drain.full())) drain.drain();
    } else {
      __syncthreads();
    }
    if (i + S::kAhead < ntiles) load_tile(i + S::kAhead);
    cp_async_commit();
    const uint32_t ba = smem_addr(stages + (i % S::kStages) * S::kTileBytes);
    wgmma_fence();
    // A = the key tile (M = keys), B = the query (N = heads). One descriptor per operand; each k-step adds its byte offset / 16 to the start-address
    // field (no carry out of it: shared addresses < 256 KB), instead of rebuilding both
    // descriptors per wgmma (uniform-datapath instructions on the issue-bound path).
    const uint64_t da = sw128_desc(ba);
#pragma unroll
    for (int s = 0; s < S::kSteps; ++s) {
      const uint32_t off = static_cast<uint32_t>(((s * 32) >> 7) * kRows * 128 + ((s * 32) & 127));
      if constexpr (kBf16Ops)
        wgmma_m64n64k16_bf16(acc, da + (off >> 4), dq + (off >> 4), s > 0);
      else
        wgmma_m64n64k32_e4m3(acc, da + (off >> 4), dq + (off >> 4), s > 0);
    }
    wgmma_commit();
    wgmma_wait<0>();
    fence_operand(acc);
    epi(acc, i);
  }
  cp_async_wait<0>();
  __syncthreads();  // the ring may be reused (sort buffer)
}

}  // namespace hisa::cuda::sm90
