// HISA on Hopper tensor cores (sm_90a, H = 64, D = 128, FP8 e4m3 or bf16): one CTA = one
// warpgroup = one query. Each tile of 64 keys (pooled keys in stage 1, kept-block tokens in
// stage 2) is the M = 64 operand A of the wgmma, the 64 heads of the query are N = 64 (operand
// B), D = 128 is K. With keys on M, a thread's accumulators hold 2 keys x 16 heads, so the
// weighted head sum is 16 in-thread FMAs per key and 2 shuffles inside the lane quad: no shared
// memory and no CTA barrier in the epilogue. Tiles stream through a ring of shared-memory stages
// by cp.async (affine rows when the tile is contiguous or strided in global memory, else
// gathered row by row, so any block size and the partial local block work) while the MMA and
// the epilogue of the current tile run; the epilogue does
// ReLU, x w, the head sum and x k_scale. Scores stay in shared memory as ranking keys;
// selection and sort are hisa_rows.cuh. Nothing per candidate goes to global memory.
//
// Stage 1 runs in bf16 (pooled keys rounded to bf16, q exact in bf16); stage 2 in the input
// dtype (FP8 e4m3 or bf16). Accumulation is f32 in the tensor cores, in their order: this path
// matches the CPU backend up to the documented tolerance (docs/cuda_hisa.md), not bitwise.
#include <string>

#include "cuda/common.cuh"
#include "cuda/hisa_block_ops.cuh"
#include "cuda/hisa_launch.cuh"
#include "cuda/hisa_rows.cuh"
#include "cuda/hisa_wgmma.cuh"

// TileShape members and helpers are unused in the non-sm_90a passes, where kernels are stubs.
#pragma nv_diag_suppress 177

namespace hisa::cuda {
namespace {

using namespace sm90;
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

// Shared-memory carve (offsets from a 1024-aligned base).
struct Carve {
  size_t qtile, stages, keys, blocks, scale, scratch, total;
};
template <int E>
__host__ __device__ inline Carve carve(int nkeys, int nblocks, int kpad, bool scales) {
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

// sum_h w_h * relu(acc) for this thread's two keys, summed over the lane quad (all 4 lanes
// return both sums): .x for row r0, .y for row r0 + 8.
__device__ __forceinline__ float2 key_head_sums(const float (&acc)[32], const float (&wv)[16]) {
  float a0 = 0.0f, a1 = 0.0f, b0 = 0.0f, b1 = 0.0f;  // two chains per key for ILP
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    a0 = fmaf(wv[2 * i], relu(acc[4 * i]), a0);
    a1 = fmaf(wv[2 * i + 1], relu(acc[4 * i + 1]), a1);
    b0 = fmaf(wv[2 * i], relu(acc[4 * i + 2]), b0);
    b1 = fmaf(wv[2 * i + 1], relu(acc[4 * i + 3]), b1);
  }
  float a = a0 + a1, b = b0 + b1;
  a += __shfl_xor_sync(0xffffffffu, a, 1);
  b += __shfl_xor_sync(0xffffffffu, b, 1);
  a += __shfl_xor_sync(0xffffffffu, a, 2);
  b += __shfl_xor_sync(0xffffffffu, b, 2);
  return make_float2(a, b);
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
template <int E, bool kBf16Ops, class Affine, class RowPtr, class Side, class Epi>
__device__ __forceinline__ void mma_loop(const unsigned char* qtile, unsigned char* stages,
                                         int ntiles, int nvalid, bool is_affine, Affine affine,
                                         RowPtr row_ptr, Side side, Epi epi) {
  using S = TileShape<E>;
  const uint32_t qa = smem_addr(qtile);
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
    __syncthreads();  // everyone's part; every reader of tile i-1's stage is done
    if (i + S::kAhead < ntiles) load_tile(i + S::kAhead);
    cp_async_commit();
    const uint32_t ba = smem_addr(stages + (i % S::kStages) * S::kTileBytes);
    wgmma_fence();
#pragma unroll
    for (int s = 0; s < S::kSteps; ++s) {
      const uint32_t off = static_cast<uint32_t>(((s * 32) >> 7) * kRows * 128 + ((s * 32) & 127));
      // A = the key tile (M = keys), B = the query (N = heads).
      if constexpr (kBf16Ops)
        wgmma_m64n64k16_bf16(acc, sw128_desc(ba + off), sw128_desc(qa + off), s > 0);
      else
        wgmma_m64n64k32_e4m3(acc, sw128_desc(ba + off), sw128_desc(qa + off), s > 0);
    }
    wgmma_commit();
    wgmma_wait<0>();
    fence_operand(acc);
    epi(acc, i);
  }
  cp_async_wait<0>();
  __syncthreads();  // the ring may be reused (sort buffer)
}

// Stage 1: kept blocks of query t0 + blockIdx.x (bf16 MMA against the bf16 pooled table).
__global__ void __launch_bounds__(kThreads) sm90_blocks_kernel(HisaParams p) {
#ifdef HISA_SM90
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const int64_t t = p.t0 + blockIdx.x;
  const RowGeometry g = row_of(p, t);
  if (g.all_blocks) return;
  unsigned char* smem = aligned_base(smem_raw);
  const Carve c = carve<2>(p.nbmax, 0, 1, false);
  auto& sc = *reinterpret_cast<SelectScratch*>(smem + c.scratch);
  uint32_t* jkeys = reinterpret_cast<uint32_t*>(smem + c.keys);

  const int64_t qrow = t * kRows * kD;
  if (p.dtype == DType::fp8_e4m3) {
    load_q_fp8_as_bf16(static_cast<const uint8_t*>(p.q) + qrow, smem + c.qtile);
  } else {
    load_q_async<2>(static_cast<const uint8_t*>(p.q) + qrow * 2, smem + c.qtile);
    cp_async_commit();
  }
  float wv[16];
  load_head_weights(p.w + t * kRows, wv);
  const int row = stored_row();

  const int nmid = g.nb - 2;
  const unsigned char* pooled = static_cast<const unsigned char*>(p.pooled);
  auto row_ptr = [&](int pos) {
    return pooled + (static_cast<int64_t>(g.ks) + static_cast<int64_t>(pos + 1) * p.B) * (kD * 2);
  };
  auto epi = [&](float(&acc)[32], int tile) {
    const float2 J = key_head_sums(acc, wv);
    const int pos = tile * kRows + row;
    if (row >= 0 && pos < nmid) jkeys[pos] = hisa_ops::score_key((threadIdx.x & 1) ? J.y : J.x);
  };
  const int64_t row_bytes = kD * 2, stride = static_cast<int64_t>(p.B) * row_bytes;
  auto affine = [&](int tile) {
    return AffineRows{row_ptr(tile * kRows), stride};
  };
  mma_loop<2, true>(smem + c.qtile, smem + c.stages, (nmid + kRows - 1) / kRows, nmid, true,
                    affine, row_ptr, [](int, int) {}, epi);
  finish_blocks(g, p.m, jkeys, p.kept + static_cast<int64_t>(blockIdx.x) * p.m, sc);
#elif defined(__CUDA_ARCH__)
  __trap();  // never launched off sm_90a (hisa_select.cu checks the device)
#endif
}

// Stage 2: idx row of query t0 + blockIdx.x; MMA in the input dtype (E = 1 FP8, 2 bf16).
// kSelect = false (benchmark hook only) stops after scoring: the selection's share of the time.
template <int E, bool kSelect>
__global__ void __launch_bounds__(kThreads) sm90_tokens_kernel(HisaParams p) {
#ifdef HISA_SM90
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const int64_t t = p.t0 + blockIdx.x;
  const RowGeometry g = row_of(p, t);
  unsigned char* smem = aligned_base(smem_raw);
  const Carve c = carve<E>(p.cmax, p.m, p.kpad, p.k_scale != nullptr);
  auto& sc = *reinterpret_cast<SelectScratch*>(smem + c.scratch);
  uint32_t* keys = reinterpret_cast<uint32_t*>(smem + c.keys);
  int32_t* blocks = reinterpret_cast<int32_t*>(smem + c.blocks);
  uint64_t* sortbuf = reinterpret_cast<uint64_t*>(smem + c.stages);  // after the MMA loop

  load_q_async<E>(static_cast<const uint8_t*>(p.q) + t * kRows * kD * E, smem + c.qtile);
  cp_async_commit();
  if (!g.all_blocks)
    for (int i = threadIdx.x; i < p.m; i += kThreads)
      blocks[i] = p.kept[static_cast<int64_t>(blockIdx.x) * p.m + i];
  __syncthreads();
  float wv[16];
  load_head_weights(p.w + t * kRows, wv);
  const int row = stored_row();

  float* ksc = reinterpret_cast<float*>(smem + c.scale);
  const bool b64 = p.B == kRows;  // the DSA case: shifts instead of divisions
  auto token = [&](int pos) -> int32_t {
    const int i = b64 ? pos >> 6 : pos / p.B;
    const int j = g.all_blocks ? i : blocks[i];
    return g.ks + j * p.B + (b64 ? pos & 63 : pos % p.B);
  };
  // k_scale of the tile's 64 rows rides in the tile's cp.async group (no load in the epilogue).
  auto side = [&](int tile, int slot) {
    if (p.k_scale == nullptr || threadIdx.x >= kRows) return;
    const int pos = tile * kRows + threadIdx.x;
    const bool ok = pos < g.cvalid;
    cp_async4(smem_addr(ksc + slot * kRows + threadIdx.x), p.k_scale + (ok ? token(pos) : 0),
              ok ? 4u : 0u);
  };
  const unsigned char* kbytes = static_cast<const unsigned char*>(p.k);
  auto row_ptr = [&](int pos) { return kbytes + static_cast<int64_t>(token(pos)) * (kD * E); };
  auto epi = [&](float(&acc)[32], int tile) {
    const float2 sum = key_head_sums(acc, wv);
    const int pos = tile * kRows + row;
    if (row >= 0 && pos < g.cvalid) {
      float s = (threadIdx.x & 1) ? sum.y : sum.x;
      if (p.k_scale != nullptr) s = ksc[(tile % TileShape<E>::kStages) * kRows + row] * s;
      keys[pos] = hisa_ops::score_key(s);
    }
  };
  // A tile of 64 candidates lies inside one kept block when B % 64 == 0, and every tile is
  // contiguous when all blocks are kept: then the tile's key rows are contiguous in k.
  const bool contiguous = g.all_blocks || p.B % kRows == 0;
  auto affine = [&](int tile) { return AffineRows{row_ptr(tile * kRows), kD * E}; };
  mma_loop<E, E == 2>(smem + c.qtile, smem + c.stages, (g.cvalid + kRows - 1) / kRows, g.cvalid,
                      contiguous, affine, row_ptr, side, epi);
  if constexpr (kSelect) {
    int32_t* out_row = p.out + t * p.topk;
    if (p.kpad > kRegSortItems / 2 && p.kpad <= kRegSortItems)  // sort in registers
      finish_tokens<kRegSortItems / 128>(g, p.topk, keys, token, sortbuf, sc, out_row);
    else
      finish_tokens<0>(g, p.topk, keys, token, sortbuf, sc, out_row);
  } else {
    __syncthreads();
    if (threadIdx.x == 0 && g.cvalid > 0) p.out[t * p.topk] = static_cast<int32_t>(keys[g.cvalid - 1]);
  }
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}

void set_smem(const void* kernel, size_t bytes) {
  HISA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(bytes)));
}

std::string shape_context(const HisaParams& p) {
  return "T=" + std::to_string(p.T) + " S=" + std::to_string(p.S) + " B=" + std::to_string(p.B) +
         " m=" + std::to_string(p.m) + " topk=" + std::to_string(p.topk);
}

}  // namespace

bool sm90_supported(const HisaParams& p) {
  return p.H == kRows && p.D == kD && (p.dtype == DType::fp8_e4m3 || p.dtype == DType::bf16);
}

std::size_t sm90_blocks_smem(const HisaParams& p) {
  return carve<2>(p.nbmax, 0, 1, false).total;
}
std::size_t sm90_tokens_smem(const HisaParams& p) {
  const bool scales = p.k_scale != nullptr;
  return p.dtype == DType::fp8_e4m3 ? carve<1>(p.cmax, p.m, p.kpad, scales).total
                                    : carve<2>(p.cmax, p.m, p.kpad, scales).total;
}

void launch_sm90_blocks(const HisaParams& p, cudaStream_t st) {
  if (p.T == 0) return;
  const size_t bytes = sm90_blocks_smem(p);
  set_smem(reinterpret_cast<const void*>(&sm90_blocks_kernel), bytes);
  sm90_blocks_kernel<<<p.T, kThreads, bytes, st>>>(p);
  HISA_CUDA_CHECK_LAUNCH("sm90_blocks_kernel", shape_context(p));
}

namespace {
bool g_score_only = false;
template <int E, bool kSelect>
void launch_tokens(const HisaParams& p, size_t bytes, cudaStream_t st) {
  set_smem(reinterpret_cast<const void*>(&sm90_tokens_kernel<E, kSelect>), bytes);
  sm90_tokens_kernel<E, kSelect><<<p.T, kThreads, bytes, st>>>(p);
}
}  // namespace

void hisa_bench_score_only(bool on) { g_score_only = on; }

void launch_sm90_tokens(const HisaParams& p, cudaStream_t st) {
  if (p.T == 0) return;
  const size_t bytes = sm90_tokens_smem(p);
  const bool fp8 = p.dtype == DType::fp8_e4m3;
  if (g_score_only) {
    if (fp8) launch_tokens<1, false>(p, bytes, st);
    else launch_tokens<2, false>(p, bytes, st);
  } else {
    if (fp8) launch_tokens<1, true>(p, bytes, st);
    else launch_tokens<2, true>(p, bytes, st);
  }
  HISA_CUDA_CHECK_LAUNCH("sm90_tokens_kernel", shape_context(p));
}

}  // namespace hisa::cuda
