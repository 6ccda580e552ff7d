// Maintaining the pooled-key cache on the GPU (hisa/decode.hpp pooled_update / pooled_build).
// One warp per run of new tokens of one block: it loads the block's running f32 sum (or starts
// from 0 at the block's first token), adds f32(k_scale * k) of each token in position order
// (__fmul_rn / __fadd_rn: the CPU's rounding, no fma), and stores the sum, or the mean (one
// __fdiv_rn by B) when the block's last token was among them. Lanes own channels d = lane +
// 32i. Bitwise equal to the CPU (src/cpu/decode.cpp); earlier tokens are never re-read.
#include <algorithm>
#include <string>

#include "cuda/common.cuh"
#include "cuda/decode_backend.hpp"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxPerLane = 16;  // D <= 512

struct PoolParams {
  const uint8_t* cache;
  int64_t page_bytes;
  int P, D, num_pages, B;
  bool fp8;
  float* pooled;
  // slot form
  int n;
  const int64_t* slots;
  const int32_t* positions;
  const int32_t* seq;
  // table (per-sequence form; slot form when B > P)
  const int32_t* table;
  int max_pages, batch;
  const int32_t* lens;
  int new_tokens;  // -1: whole context
};

__device__ __forceinline__ int clamp_page(const PoolParams& p, int64_t e) {
  return e < 0 ? 0 : (e >= p.num_pages ? p.num_pages - 1 : static_cast<int>(e));
}

// Adds tokens [from, to) of one block (positions; at(pos) -> (page, offset)) to the row of the
// block's first page.
template <class At>
__device__ __forceinline__ void add_run(const PoolParams& p, int first_page, int from, int to, At at) {
  const int lane = threadIdx.x & 31;
  float* row = p.pooled + static_cast<int64_t>(first_page) * p.D;
  float acc[kMaxPerLane];
  const bool fresh = from % p.B == 0;
#pragma unroll
  for (int i = 0; i < kMaxPerLane; ++i) {
    const int d = lane + 32 * i;
    acc[i] = (!fresh && d < p.D) ? row[d] : 0.0f;
  }
  for (int pos = from; pos < to; ++pos) {
    int page, off;
    at(pos, page, off);
    const uint8_t* base = p.cache + page * p.page_bytes;
    const float scale = p.fp8 ? reinterpret_cast<const float*>(base + static_cast<int64_t>(p.P) * p.D)[off] : 1.0f;
#pragma unroll
    for (int i = 0; i < kMaxPerLane; ++i) {
      const int d = lane + 32 * i;
      if (d >= p.D) break;
      const float k = p.fp8 ? fp8_e4m3_decode(base[static_cast<int64_t>(off) * p.D + d])
                            : bf16_decode(reinterpret_cast<const uint16_t*>(base)[static_cast<int64_t>(off) * p.D + d]);
      acc[i] = __fadd_rn(acc[i], p.fp8 ? __fmul_rn(scale, k) : k);
    }
  }
  const bool full = to % p.B == 0;  // the run reached the block's last token
  const float count = static_cast<float>(p.B);
#pragma unroll
  for (int i = 0; i < kMaxPerLane; ++i) {
    const int d = lane + 32 * i;
    if (d < p.D) row[d] = full ? __fdiv_rn(acc[i], count) : acc[i];
  }
}

// Slot-mapping form: warp i looks at token i; if it starts a run (the previous real token is not
// the previous position of the same block), it walks the run.
__global__ void __launch_bounds__(kWarps * 32) pool_slots_kernel(PoolParams p) {
  const int i = blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (i >= p.n) return;
  const int64_t slot = p.slots[i];
  if (slot < 0) return;
  const int pos = p.positions[i];
  auto first_page_of = [&](int k, int kpos) -> int {
    if (p.B == p.P) return clamp_page(p, p.slots[k] / p.P);
    const int s = min(max(p.seq[k], 0), p.batch - 1);
    return clamp_page(p, p.table[static_cast<int64_t>(s) * p.max_pages + min((kpos / p.B) * (p.B / p.P), p.max_pages - 1)]);
  };
  const int row = first_page_of(i, pos);
  // Previous real token.
  int prev = i - 1;
  while (prev >= 0 && p.slots[prev] < 0) --prev;
  if (pos % p.B != 0 && prev >= 0 && p.positions[prev] == pos - 1 &&
      first_page_of(prev, pos - 1) == row)
    return;  // not a run start: the run's leader handles this token
  // Run: following real tokens with consecutive positions in the same block.
  int last = i, end = pos + 1;
  while (end % p.B != 0) {
    int k = last + 1;
    while (k < p.n && p.slots[k] < 0) ++k;
    if (k >= p.n || p.positions[k] != end || first_page_of(k, end) != row) break;
    last = k;
    ++end;
  }
  // Token of position q of the run: walk the list again (real tokens in order).
  int cursor = i;
  add_run(p, row, pos, end, [&](int q, int& page, int& off) {
    while (p.slots[cursor] < 0 || p.positions[cursor] != q) ++cursor;
    page = clamp_page(p, p.slots[cursor] / p.P);
    off = static_cast<int>(p.slots[cursor] % p.P);
  });
}

// Per-sequence form: grid (ceil(blocks / kWarps), batch); warp k of sequence b handles the k-th
// block touched by its new positions [ctx - new_tokens, ctx) (or [0, ctx)).
__global__ void __launch_bounds__(kWarps * 32) pool_seqs_kernel(PoolParams p) {
  const int b = blockIdx.y;
  const int k = blockIdx.x * kWarps + (threadIdx.x >> 5);
  const int cap = p.max_pages * p.P;
  int ctx = p.lens[b];
  ctx = ctx < 0 ? 0 : (ctx > cap ? cap : ctx);
  const int from = p.new_tokens < 0 ? 0 : max(0, ctx - p.new_tokens);
  if (from >= ctx) return;
  const int j = from / p.B + k;
  if (j > (ctx - 1) / p.B) return;
  const int32_t* table = p.table + static_cast<int64_t>(b) * p.max_pages;
  const int lo = max(from, j * p.B), hi = min(ctx, (j + 1) * p.B);
  add_run(p, clamp_page(p, table[j * (p.B / p.P)]), lo, hi, [&](int q, int& page, int& off) {
    page = clamp_page(p, table[q / p.P]);
    off = q % p.P;
  });
}

}  // namespace

void pooled_update_device(const PagedCache& cache, const PooledCache& pooled,
                          const PooledUpdate& u, const Options& opts) {
  if (cache.D > 32 * kMaxPerLane)
    throw BackendError("pooled_update: D <= " + std::to_string(32 * kMaxPerLane) +
                       " on CUDA, got " + std::to_string(cache.D));
  cudaStream_t st = static_cast<cudaStream_t>(opts.stream);
  PoolParams p{};
  p.cache = static_cast<const uint8_t*>(cache.data);
  p.page_bytes = page_bytes(cache);
  p.P = static_cast<int>(cache.page_size);
  p.D = static_cast<int>(cache.D);
  p.num_pages = static_cast<int>(cache.num_pages);
  p.B = static_cast<int>(pooled.block_size);
  p.fp8 = cache.dtype == DType::fp8_e4m3;
  p.pooled = pooled.data;
  p.table = u.block_table;
  p.max_pages = static_cast<int>(std::max<int64_t>(u.max_pages, 1));
  p.batch = static_cast<int>(std::max<int64_t>(u.batch, 1));
  const std::string ctx = "pooled_update n=" + std::to_string(u.n) + " batch=" + std::to_string(u.batch);
  if (u.slot_mapping != nullptr) {
    if (u.n == 0) return;
    p.n = static_cast<int>(u.n);
    p.slots = u.slot_mapping;
    p.positions = u.positions;
    p.seq = u.seq_index;
    pool_slots_kernel<<<static_cast<unsigned>(ceil_div(u.n, kWarps)), kWarps * 32, 0, st>>>(p);
    HISA_CUDA_CHECK_LAUNCH("pool_slots_kernel", ctx);
    return;
  }
  if (u.batch == 0) return;
  p.lens = u.context_lens;
  p.new_tokens = static_cast<int>(u.new_tokens);
  const int64_t span = u.new_tokens < 0 ? u.max_pages * cache.page_size : u.new_tokens;
  const int64_t blocks = ceil_div(std::max<int64_t>(span, 1) + pooled.block_size - 1, pooled.block_size);
  const dim3 grid(static_cast<unsigned>(ceil_div(blocks, kWarps)), static_cast<unsigned>(u.batch));
  pool_seqs_kernel<<<grid, kWarps * 32, 0, st>>>(p);
  HISA_CUDA_CHECK_LAUNCH("pool_seqs_kernel", ctx);
}

}  // namespace hisa::cuda
