// Decode scorers on Hopper tensor cores (sm_90a; H = 64, D = 128; FP8 e4m3 or bf16 pages).
// One CTA = one warpgroup (128 threads) streams tiles of 64 key rows of one sequence through a
// shared-memory ring; each tile is the M = 64 operand A of a wgmma, each query's 64 heads the
// N = 64 operand B (K = D = 128). With keys on M a thread's accumulators hold 2 keys x 16 heads,
// so ReLU, x w and the head sum are 32 FMAs and 2 shuffles inside the lane quad (no shared
// memory, no barrier), then x k_scale. All next_n queries of a sequence reuse each tile.
//
//   flat    tiles of 64 positions of the sequence (a 64-token page is one tile: one contiguous
//           8 KB copy plus its 256 B of scales); scores -> logits row of each query.
//   blocks  tiles of 64 pooled rows (f32, read with 16-byte loads into registers one tile
//           ahead, rounded to bf16 into shared memory); bf16 wgmma; J keys -> jkeys.
//   tokens  tiles of 64 candidates of one query (kept blocks, ascending); keys -> ckeys.
//
// Arithmetic: tensor cores accumulate in f32 in their own order (and FP8 products with the
// limited accumulator precision of Hopper); stage 1 rounds pooled keys to bf16 (<= 2^-9
// relative per element; q is exact in bf16). Results match the CPU up to the tolerances of
// SPEC.md ("Tolerances of tensor-core paths"), not bitwise: the portable scorers are the
// bitwise path. Data movement is cp.async (16-byte, zero-fill past the end), 128-byte-swizzled
// K-major tiles as hisa_sm90.cu lays them out (hisa_wgmma.cuh).
#include <cuda_bf16.h>

#include <string>

#include "cuda/common.cuh"
#include "cuda/decode_common.cuh"
#include "cuda/hisa_sm90_tile.cuh"
#include "cuda/hisa_wgmma.cuh"

#pragma nv_diag_suppress 177  // helpers unused in the non-sm_90a passes (kernels are stubs)

namespace hisa::cuda::dec {
namespace {

// The tile helpers HISA's sm_90a kernels use (hisa_sm90_tile.cuh): the accumulator layout of
// an m64n64 wgmma tile is the same here.
using sm90::aligned_base;
using sm90::e4m3x2_to_bf16x2;
using sm90::key_head_sums;
using sm90::relu;
using sm90::stored_row;
__device__ __forceinline__ void head_weights(const float* wrow, float (&wv)[16]) {
  sm90::load_head_weights(wrow, wv);
}

using namespace sm90;

constexpr int kThreads = 128;
constexpr int kD = 128;
constexpr int kH = 64;

template <int E>  // operand bytes: 1 FP8, 2 bf16
struct Shape {
  static constexpr int kTileBytes = kTile * kD * E;  // 8 / 16 KB
  static constexpr int kChunks = kD * E / 16;         // 16-byte chunks per row: 8 / 16
  static constexpr int kSteps = kD * E / 32;          // k-steps of 32 bytes
  static constexpr int kStep = kThreads / kChunks;    // rows per pass of the CTA: 16 / 8
  static constexpr int kPer = kTile / kStep;          // rows per thread: 4 / 8
  // Ring depth: decode streams from HBM, so keep 3 FP8 tiles (24 KB) in flight per CTA.
  static constexpr int kStages = E == 1 ? 4 : 3;
  static constexpr int kAhead = kStages - 1;
};

struct Carve {
  size_t q, ring, scale, w, total;
};
// Shared memory (offsets from a 1024-aligned base): nq query tiles, the ring, the ring's
// k_scale slots, the nq weight rows.
__host__ __device__ inline Carve carve(int qbytes, int tile_bytes, int stages, int nq) {
  Carve c{};
  size_t o = 0;
  c.q = o;     o += static_cast<size_t>(nq) * qbytes;
  c.ring = o;  o += static_cast<size_t>(stages) * tile_bytes;
  c.scale = o; o += static_cast<size_t>(stages) * kTile * sizeof(float);
  c.w = o;     o += static_cast<size_t>(nq) * kH * sizeof(float);
  c.total = o + 1024;  // slack to align the dynamic base
  return c;
}

__device__ __forceinline__ uint32_t f32x2_to_bf16x2(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x = lo (low half)
  return *reinterpret_cast<const uint32_t*>(&v);
}

// acc = tile (A, keys) x query tile (B, heads): K = 128 in kSteps wgmma k-steps.
template <int E>
__device__ __forceinline__ void tile_mma(float (&acc)[32], uint32_t tile, uint32_t qtile) {
  wgmma_fence();
#pragma unroll
  for (int s = 0; s < Shape<E>::kSteps; ++s) {
    const uint32_t off = static_cast<uint32_t>(((s * 32) >> 7) * kTile * 128 + ((s * 32) & 127));
    if constexpr (E == 1)
      wgmma_m64n64k32_e4m3(acc, sw128_desc(tile + off), sw128_desc(qtile + off), s > 0);
    else
      wgmma_m64n64k16_bf16(acc, sw128_desc(tile + off), sw128_desc(qtile + off), s > 0);
  }
  wgmma_commit();
  wgmma_wait<0>();
  fence_operand(acc);
}

__device__ __forceinline__ int middle_blocks(const DecodeParams& p, int r) {
  const RowGeometry g = decode_row_geometry(p, row_visible(p, r));
  return g.all_blocks ? 0 : g.nb - 2;
}

// ---- flat and stage 2: key tiles of the cache --------------------------------------------

template <int E, Stage S>
__global__ void __launch_bounds__(kThreads) sm90_keys_kernel(DecodeParams p) {
#ifdef HISA_SM90
  pdl_wait();  // programmatic dependent (v2 chain): everything before us is complete
  pdl_trigger();
  using Sh = Shape<E>;
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  unsigned char* smem = aligned_base(smem_raw);
  const int tid = threadIdx.x;
  const int nq = S == Stage::flat ? p.next_n : 1;
  const int r0 = S == Stage::flat ? blockIdx.y * p.next_n : blockIdx.y;
  const int b = r0 / p.next_n;
  if (S == Stage::flat && blockIdx.x == 0 && tid < nq) {
    p.row_begin[r0 + tid] = 0;
    p.row_end[r0 + tid] = row_visible(p, r0 + tid);
  }
  RowGeometry g{};
  int count;
  if (S == Stage::flat) {
    count = seq_len(p, b);
  } else {
    g = decode_row_geometry(p, row_visible(p, r0));
    count = g.cvalid;
  }
  const int ntiles = (count + kTile - 1) / kTile;
  const int t0 = blockIdx.x * p.tiles_per_cta;
  const int t1 = min(t0 + p.tiles_per_cta, ntiles);
  if (t0 >= t1) return;

  const Carve cv = carve(Sh::kTileBytes, Sh::kTileBytes, Sh::kStages, nq);
  float* ksc = reinterpret_cast<float*>(smem + cv.scale);
  float* wsm = reinterpret_cast<float*>(smem + cv.w);
  const bool scaled = p.dtype == DType::fp8_e4m3;

  // Query tiles (cp.async, their own commit group ahead of the ring's) and weights.
  for (int i = tid; i < nq * kH * Sh::kChunks; i += kThreads) {
    const int qi = i / (kH * Sh::kChunks), h = (i / Sh::kChunks) % kH, c = i % Sh::kChunks;
    const uint8_t* src = static_cast<const uint8_t*>(p.q) +
                         (static_cast<int64_t>(r0 + qi) * kH + h) * kD * E + c * 16;
    cp_async16(smem_addr(smem + cv.q + qi * Sh::kTileBytes + swizzled_offset(kTile, h, c)), src, 16u);
  }
  for (int i = tid; i < nq * kH; i += kThreads) wsm[i] = p.w[static_cast<int64_t>(r0) * kH + i];

  // Position of row c of the job (flat: the position itself; stage 2: kept block, offset).
  const hisa_ops::BlockSplit split(p.B);
  auto pos_of = [&](int c) -> int {
    if (S == Stage::flat) return c;
    const int i = split.block(c);
    const int j = g.all_blocks ? i : __ldg(p.kept + static_cast<int64_t>(r0) * p.m + i);
    return j * p.B + split.offset(c);
  };
  // A tile's 64 rows are contiguous in one page when tiles cannot straddle pages or blocks.
  const bool contiguous = p.P % kTile == 0 && (S == Stage::flat || g.all_blocks || p.B % kTile == 0);
  const int cc = tid % Sh::kChunks, rr = tid / Sh::kChunks;
  auto load_tile = [&](int t, int slot) {
    const uint32_t dst = smem_addr(smem + cv.ring + slot * Sh::kTileBytes);
    const int first = t * kTile, rows = min(kTile, count - first);
    if (contiguous) {
      const int pos0 = pos_of(first), page = page_of(p, b, pos0);
      const uint8_t* src = key_ptr(p, page, pos0 % p.P) + cc * 16;
#pragma unroll
      for (int j = 0; j < Sh::kPer; ++j) {
        const int r = rr + j * Sh::kStep;
        const bool ok = r < rows;
        cp_async16(dst + swizzled_offset(kTile, r, cc), ok ? src + r * kD * E : p.cache, ok ? 16u : 0u);
      }
      if (scaled && tid < kTile) {
        const bool ok = tid < rows;
        cp_async4(smem_addr(ksc + slot * kTile + tid),
                  ok ? scale_ptr(p, page, pos0 % p.P) + tid : reinterpret_cast<const float*>(p.cache),
                  ok ? 4u : 0u);
      }
    } else {
#pragma unroll
      for (int j = 0; j < Sh::kPer; ++j) {
        const int r = rr + j * Sh::kStep;
        const bool ok = r < rows;
        const uint8_t* src = p.cache;
        if (ok) {
          const int pos = pos_of(first + r);
          src = key_ptr(p, page_of(p, b, pos), pos % p.P) + cc * 16;
        }
        cp_async16(dst + swizzled_offset(kTile, r, cc), src, ok ? 16u : 0u);
      }
      if (scaled && tid < kTile) {
        const bool ok = tid < rows;
        const float* src = reinterpret_cast<const float*>(p.cache);
        if (ok) {
          const int pos = pos_of(first + tid);
          src = scale_ptr(p, page_of(p, b, pos), pos % p.P);
        }
        cp_async4(smem_addr(ksc + slot * kTile + tid), src, ok ? 4u : 0u);
      }
    }
  };

  cp_async_commit();  // the query tiles
  const int n = t1 - t0;
#pragma unroll
  for (int i = 0; i < Sh::kAhead; ++i) {
    if (i < n) load_tile(t0 + i, i);
    cp_async_commit();
  }
  const int first_vis = count - p.next_n + 1;  // flat: query qi sees [0, first_vis + qi)
  const int row = stored_row();
  float acc[32];
#pragma unroll
  for (int i = 0; i < 32; ++i) acc[i] = 0.0f;
  for (int it = 0; it < n; ++it) {
    cp_async_wait<Sh::kAhead - 1>();  // this thread's part of tile it (and the queries) landed
    fence_proxy_async();
    __syncthreads();  // everyone's part; every reader of the slot being refilled is done
    if (it + Sh::kAhead < n) load_tile(t0 + it + Sh::kAhead, (it + Sh::kAhead) % Sh::kStages);
    cp_async_commit();
    const int slot = it % Sh::kStages;
    const uint32_t tile = smem_addr(smem + cv.ring + slot * Sh::kTileBytes);
    const int c = (t0 + it) * kTile + row;  // job row stored by this thread
    const float scale = scaled && row >= 0 ? ksc[slot * kTile + row] : 1.0f;
    for (int qi = 0; qi < nq; ++qi) {
      tile_mma<E>(acc, tile, smem_addr(smem + cv.q + qi * Sh::kTileBytes));
      float wv[16];
      head_weights(wsm + qi * kH, wv);
      const float2 sum = key_head_sums(acc, wv);
      const float s = (tid & 1) ? sum.y : sum.x;
      if (row < 0) continue;
      if (S == Stage::flat) {
        if (c < first_vis + qi) p.logits[static_cast<int64_t>(r0 + qi) * p.ld + c] = scaled ? scale * s : s;
      } else if (c < count) {
        p.ckeys[static_cast<int64_t>(r0) * p.cmax + c] = score_key(scaled ? scale * s : s);
      }
    }
  }
  cp_async_wait<0>();
#elif defined(__CUDA_ARCH__)
  __trap();  // never launched off sm_90a (sm90_decode_available)
#endif
}

// ---- stage 1: pooled rows -------------------------------------------------------------------

__global__ void __launch_bounds__(kThreads) sm90_blocks_kernel(DecodeParams p) {
#ifdef HISA_SM90
  pdl_wait();
  pdl_trigger();
  using Sh = Shape<2>;
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  unsigned char* smem = aligned_base(smem_raw);
  const int tid = threadIdx.x;
  const int nq = p.next_n, r0 = blockIdx.y * p.next_n, b = blockIdx.y;
  int count = 0;
  for (int i = 0; i < nq; ++i) count = max(count, middle_blocks(p, r0 + i));
  const int ntiles = (count + kTile - 1) / kTile;
  const int t0 = blockIdx.x * p.tiles_per_cta;
  const int t1 = min(t0 + p.tiles_per_cta, ntiles);
  if (t0 >= t1) return;

  const Carve cv = carve(Sh::kTileBytes, Sh::kTileBytes, 2, nq);
  float* wsm = reinterpret_cast<float*>(smem + cv.w);
  // Queries to bf16 (exact for FP8 and bf16) in the swizzled B tiles.
  for (int i = tid; i < nq * kH * 16; i += kThreads) {
    const int qi = i / (kH * 16), h = (i / 16) % kH, c = i % 16;  // bf16 chunk c: elements 8c..8c+7
    const int64_t row = (static_cast<int64_t>(r0 + qi) * kH + h) * kD;
    uint4 packed;
    if (p.dtype == DType::fp8_e4m3) {
      const uint2 raw = *reinterpret_cast<const uint2*>(static_cast<const uint8_t*>(p.q) + row + c * 8);
      packed = make_uint4(e4m3x2_to_bf16x2(raw.x & 0xFFFFu), e4m3x2_to_bf16x2(raw.x >> 16),
                          e4m3x2_to_bf16x2(raw.y & 0xFFFFu), e4m3x2_to_bf16x2(raw.y >> 16));
    } else {
      packed = *reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(p.q) + row + c * 8);
    }
    *reinterpret_cast<uint4*>(smem + cv.q + qi * Sh::kTileBytes + swizzled_offset(kTile, h, c)) = packed;
  }
  for (int i = tid; i < nq * kH; i += kThreads) wsm[i] = p.w[static_cast<int64_t>(r0) * kH + i];

  // This thread moves bf16 chunk cc (f32 elements 8cc .. 8cc+7) of tile rows rr + 8k, k < 8:
  // 16 float4 loads in flight per thread, one tile ahead of the MMA.
  const int cc = tid & 15, rr = tid >> 4;
  float4 v[16];
  auto load_regs = [&](int t) {
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const int jm = t * kTile + rr + 8 * k;  // middle block j = jm + 1
      if (jm < count) {
        const float4* src = reinterpret_cast<const float4*>(pooled_row(p, b, jm + 1) + cc * 8);
        v[2 * k] = __ldg(src);
        v[2 * k + 1] = __ldg(src + 1);
      } else {
        v[2 * k] = v[2 * k + 1] = make_float4(0.f, 0.f, 0.f, 0.f);
      }
    }
  };
  auto store_regs = [&](int slot) {
    unsigned char* base = smem + cv.ring + slot * Sh::kTileBytes;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const float4 a = v[2 * k], c4 = v[2 * k + 1];
      *reinterpret_cast<uint4*>(base + swizzled_offset(kTile, rr + 8 * k, cc)) =
          make_uint4(f32x2_to_bf16x2(a.x, a.y), f32x2_to_bf16x2(a.z, a.w),
                     f32x2_to_bf16x2(c4.x, c4.y), f32x2_to_bf16x2(c4.z, c4.w));
    }
  };

  load_regs(t0);
  const int row = stored_row();
  float acc[32];
#pragma unroll
  for (int i = 0; i < 32; ++i) acc[i] = 0.0f;
  for (int t = t0; t < t1; ++t) {
    const int slot = (t - t0) & 1;
    store_regs(slot);  // slot was last read by tile t-2's MMA, finished before the last barrier
    fence_proxy_async();
    __syncthreads();
    if (t + 1 < t1) load_regs(t + 1);
    const uint32_t tile = smem_addr(smem + cv.ring + slot * Sh::kTileBytes);
    const int jm = t * kTile + row;
    for (int qi = 0; qi < nq; ++qi) {
      tile_mma<2>(acc, tile, smem_addr(smem + cv.q + qi * Sh::kTileBytes));
      float wv[16];
      head_weights(wsm + qi * kH, wv);
      const float2 sum = key_head_sums(acc, wv);
      if (row >= 0 && jm < middle_blocks(p, r0 + qi))
        p.jkeys[static_cast<int64_t>(r0 + qi) * p.nbmax + jm] = score_key((tid & 1) ? sum.y : sum.x);
    }
  }
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}

template <class K>
void set_smem(K kernel, size_t bytes) {
  HISA_CUDA_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel),
                                       cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(bytes)));
}

}  // namespace

bool sm90_decode_available() {
  return sm90a_kernel_ready(reinterpret_cast<const void*>(sm90_blocks_kernel));
}

std::size_t sm90_smem(const DecodeParams& p, Stage s) {
  const int nq = s == Stage::tokens ? 1 : p.next_n;
  if (s == Stage::blocks) return carve(Shape<2>::kTileBytes, Shape<2>::kTileBytes, 2, nq).total;
  return p.elem == 1 ? carve(Shape<1>::kTileBytes, Shape<1>::kTileBytes, Shape<1>::kStages, nq).total
                     : carve(Shape<2>::kTileBytes, Shape<2>::kTileBytes, Shape<2>::kStages, nq).total;
}

// Plain launch, or as a programmatic dependent of the previous kernel on the stream.
template <class K>
void launch_one(K kernel, dim3 grid, size_t smem, cudaStream_t st, bool pdl, const DecodeParams& p) {
  set_smem(kernel, smem);
  if (!pdl) {
    kernel<<<grid, kThreads, smem, st>>>(p);
    return;
  }
  cudaLaunchConfig_t lc = {};
  lc.gridDim = grid;
  lc.blockDim = dim3(kThreads);
  lc.dynamicSmemBytes = smem;
  lc.stream = st;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  lc.attrs = attr;
  lc.numAttrs = 1;
  HISA_CUDA_CHECK(cudaLaunchKernelEx(&lc, kernel, p));
}

void launch_sm90(const DecodeParams& p, Stage s, dim3 grid, cudaStream_t st, bool pdl) {
  const size_t smem = sm90_smem(p, s);
  const std::string ctx = "decode sm90 stage " + std::to_string(static_cast<int>(s)) +
                          " batch=" + std::to_string(p.batch) + " next_n=" + std::to_string(p.next_n) +
                          " smem=" + std::to_string(smem);
  const bool fp8 = p.elem == 1;
  switch (s) {
    case Stage::flat:
      if (fp8)
        launch_one(sm90_keys_kernel<1, Stage::flat>, grid, smem, st, pdl, p);
      else
        launch_one(sm90_keys_kernel<2, Stage::flat>, grid, smem, st, pdl, p);
      break;
    case Stage::tokens:
      if (fp8)
        launch_one(sm90_keys_kernel<1, Stage::tokens>, grid, smem, st, pdl, p);
      else
        launch_one(sm90_keys_kernel<2, Stage::tokens>, grid, smem, st, pdl, p);
      break;
    case Stage::blocks:
      launch_one(sm90_blocks_kernel, grid, smem, st, pdl, p);
      break;
  }
  HISA_CUDA_CHECK_LAUNCH("decode sm90 kernel", ctx);
}

}  // namespace hisa::cuda::dec
