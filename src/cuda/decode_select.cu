// The CUDA decode pipeline (decode_common.cuh has the picture): workspace layout, the choice
// of scorer (sm_90a tensor cores, or the portable bitwise kernels), the two selection kernels
// (kept blocks; ranked top-k of the candidates), the device value checks and the host-staged
// path. Everything is enqueued on the caller's stream: no host sync unless values are checked,
// no allocation when the caller passes a large enough workspace, and the launch geometry
// depends only on (batch, next_n, max_pages, P, config): CUDA-graph capturable.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/decode_checks.hpp"
#include "cuda/common.cuh"
#include "cuda/decode_backend.hpp"
#include "cuda/decode_common.cuh"
#include "cuda/hisa_block_ops.cuh"
#include "cuda/hisa_rows.cuh"
#include "cuda/topk_radix.cuh"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

using dec::DecodeParams;
using dec::Stage;
using hisa_ops::SelectScratch;

bool g_force_portable = false;
constexpr int kSelectThreads = 128;
constexpr int kRegSortItems = 128 * 16;  // finish_tokens' register sort (1024 < K <= 2048)

// ---- selection kernels -----------------------------------------------------------------------

// Kept blocks of row r (rows that select): block 0, block nb-1 and the m-2 best middle blocks
// by J (ties to the larger j), ascending, into kept[r][0..m).
__global__ void __launch_bounds__(kSelectThreads) block_select_kernel(DecodeParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int r = blockIdx.x;
  const RowGeometry g = dec::decode_row_geometry(p, dec::row_visible(p, r));
  if (g.n == 0 || g.all_blocks) return;
  auto& sc = *reinterpret_cast<SelectScratch*>(smem);
  uint32_t* jk = reinterpret_cast<uint32_t*>(smem + (sizeof(SelectScratch) + 15) / 16 * 16);
  const int nmid = g.nb - 2;
  const uint32_t* src = p.jkeys + static_cast<int64_t>(r) * p.nbmax;
  for (int i = threadIdx.x; i < nmid; i += blockDim.x) jk[i] = src[i];
  __syncthreads();
  finish_blocks(g, p.m, jk, p.kept + static_cast<int64_t>(r) * p.m, sc);
}

struct TokenCarve {
  size_t scratch, sort, keys, blocks, total;
};
__host__ __device__ inline TokenCarve token_carve(int cmax, int m, int sort_items) {
  TokenCarve c{};
  size_t o = 0;
  c.scratch = o; o += (sizeof(SelectScratch) + 15) / 16 * 16;
  c.sort = o;    o += sizeof(uint64_t) * static_cast<size_t>(sort_items);
  c.keys = o;    o += (sizeof(uint32_t) * static_cast<size_t>(cmax) + 15) / 16 * 16;
  c.blocks = o;  o += sizeof(int32_t) * static_cast<size_t>(m);
  c.total = o;
  return c;
}

// The idx row of row r: the top min(topk, cvalid) candidates by score (ties to the larger
// position, NaN last), ranked, as positions; -1 after.
template <int IPT>
__global__ void __launch_bounds__(kSelectThreads) token_select_kernel(DecodeParams p, int sort_items) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int r = blockIdx.x;
  const RowGeometry g = dec::decode_row_geometry(p, dec::row_visible(p, r));
  int32_t* out_row = p.out + static_cast<int64_t>(r) * p.topk;
  if (g.n == 0) {
    for (int i = threadIdx.x; i < p.topk; i += blockDim.x) out_row[i] = -1;
    return;
  }
  const TokenCarve c = token_carve(p.cmax, p.m, sort_items);
  auto& sc = *reinterpret_cast<SelectScratch*>(smem + c.scratch);
  uint64_t* sortbuf = reinterpret_cast<uint64_t*>(smem + c.sort);
  uint32_t* keys = reinterpret_cast<uint32_t*>(smem + c.keys);
  int32_t* blocks = reinterpret_cast<int32_t*>(smem + c.blocks);
  const uint32_t* src = p.ckeys + static_cast<int64_t>(r) * p.cmax;
  for (int i = threadIdx.x; i < g.cvalid; i += blockDim.x) keys[i] = src[i];
  if (!g.all_blocks)
    for (int i = threadIdx.x; i < p.m; i += blockDim.x)
      blocks[i] = p.kept[static_cast<int64_t>(r) * p.m + i];
  __syncthreads();
  const int B = p.B;
  auto token = [&](int cidx) -> int32_t {
    const int i = cidx / B;
    return (g.all_blocks ? i : blocks[i]) * B + cidx % B;
  };
  finish_tokens<IPT>(g, p.topk, keys, token, sortbuf, sc, out_row);
}

// ---- device value checks -------------------------------------------------------------------

// res[0]: first sequence with a bad context_len; res[1]: first (b * max_pages + j) whose
// block-table entry is out of range among the pages sequence b uses; res[2], res[3]: first
// non-finite element of q, w. All start at ~0 (none).
__global__ void decode_check_kernel(DecodeParams p, unsigned long long* res, int check_finite) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t cap = static_cast<int64_t>(p.max_pages) * p.P;
  for (int64_t b = tid; b < p.batch; b += stride) {
    const int64_t n = p.context_lens[b];
    if (n < 0 || n > cap) atomicMin(res, static_cast<unsigned long long>(b));
  }
  const int64_t entries = static_cast<int64_t>(p.batch) * p.max_pages;
  for (int64_t e = tid; e < entries; e += stride) {
    const int64_t b = e / p.max_pages, j = e % p.max_pages;
    const int64_t n = p.context_lens[b];
    if (n < 0 || n > cap || j >= (n + p.P - 1) / p.P) continue;
    const int32_t v = p.block_table[e];
    if (v < 0 || v >= p.num_pages) atomicMin(res + 1, static_cast<unsigned long long>(e));
  }
  if (!check_finite) return;
  const int64_t rows = static_cast<int64_t>(p.batch) * p.next_n;
  const int64_t nq = rows * p.H * p.D;
  for (int64_t i = tid; i < nq; i += stride) {
    const bool bad = p.elem == 1
                         ? (static_cast<const uint8_t*>(p.q)[i] & 0x7F) == 0x7F
                         : (static_cast<const uint16_t*>(p.q)[i] & 0x7F80) == 0x7F80;
    if (bad) atomicMin(res + 2, static_cast<unsigned long long>(i));
  }
  for (int64_t i = tid; i < rows * p.H; i += stride)
    if (!isfinite(p.w[i])) atomicMin(res + 3, static_cast<unsigned long long>(i));
}

// ---- host side -------------------------------------------------------------------------------

int64_t next_pow2(int64_t v) {
  int64_t r = 1;
  while (r < v) r <<= 1;
  return r;
}

// Shape-only quantities of the pipeline.
struct Geometry {
  int rows = 0;
  int64_t L = 0;       // max_pages * P: longest visible range
  int64_t ld = 0;      // logits row stride (flat)
  int nbmax = 0;       // blocks of the longest range (hisa, block)
  int m = 0;           // kept blocks
  int cmax = 0;        // most candidates of a row
  int sort_items = 0;  // token select's sort buffer
  int ipt = 0;         // register sort items per thread (0: shared-memory sort)
};

Geometry geometry(const DecodeProblem& p, const Config& cfg) {
  Geometry g;
  g.rows = static_cast<int>(p.batch * p.next_n);
  g.L = p.max_pages * p.cache.page_size;
  g.ld = align_up(std::max<int64_t>(g.L, 1), 64);
  if (cfg.method == Method::flat) return g;
  const int64_t B = cfg.block_size;
  g.m = static_cast<int>(cfg.method == Method::block ? cfg.topk / B : cfg.blocks);
  g.nbmax = static_cast<int>(std::max<int64_t>(1, (g.L + B - 1) / B));
  g.cmax = static_cast<int>(std::max<int64_t>(
      1, std::min(g.L, std::max(cfg.topk, static_cast<int64_t>(g.m) * B))));
  const int64_t kpad = next_pow2(std::min<int64_t>(cfg.topk, g.cmax));
  g.ipt = kpad > kRegSortItems / 2 && kpad <= kRegSortItems ? 16 : 0;
  g.sort_items = static_cast<int>(g.ipt ? kRegSortItems : kpad);
  return g;
}

struct Buffers {
  unsigned long long* check = nullptr;
  float* logits = nullptr;
  int32_t *begin = nullptr, *end = nullptr, *kept = nullptr;
  uint32_t *jkeys = nullptr, *ckeys = nullptr;
};

Buffers carve_workspace(void* base, const Geometry& g, const Config& cfg, std::size_t* used) {
  WorkspaceCarver c(base);
  Buffers b;
  b.check = c.take<unsigned long long>(4);
  if (cfg.method == Method::flat) {
    b.logits = c.take<float>(static_cast<std::size_t>(g.rows) * g.ld);
    b.begin = c.take<int32_t>(g.rows);
    b.end = c.take<int32_t>(g.rows);
  } else {
    b.jkeys = c.take<uint32_t>(static_cast<std::size_t>(g.rows) * g.nbmax);
    b.kept = c.take<int32_t>(static_cast<std::size_t>(g.rows) * g.m);
    b.ckeys = c.take<uint32_t>(static_cast<std::size_t>(g.rows) * g.cmax);
  }
  if (used != nullptr) *used = c.used();
  return b;
}

DecodeParams make_params(const DecodeProblem& p, const Config& cfg, const Geometry& g,
                         const Buffers& bufs, int32_t* out) {
  DecodeParams d;
  d.dtype = p.cache.dtype;
  d.elem = p.cache.dtype == DType::fp8_e4m3 ? 1 : 2;
  d.batch = static_cast<int>(p.batch);
  d.next_n = static_cast<int>(p.next_n);
  d.H = static_cast<int>(p.H);
  d.D = static_cast<int>(p.cache.D);
  d.P = static_cast<int>(p.cache.page_size);
  d.page_bytes = page_bytes(p.cache);
  d.num_pages = static_cast<int>(p.cache.num_pages);
  d.cache = static_cast<const uint8_t*>(p.cache.data);
  d.q = p.q;
  d.w = p.w;
  d.context_lens = p.context_lens;
  d.block_table = p.block_table;
  d.max_pages = static_cast<int>(p.max_pages);
  d.pooled = p.pooled;
  d.B = static_cast<int>(cfg.block_size);
  d.m = g.m;
  d.topk = static_cast<int>(cfg.topk);
  d.logits = bufs.logits;
  d.ld = g.ld;
  d.row_begin = bufs.begin;
  d.row_end = bufs.end;
  d.jkeys = bufs.jkeys;
  d.nbmax = g.nbmax;
  d.kept = bufs.kept;
  d.ckeys = bufs.ckeys;
  d.cmax = g.cmax;
  d.out = out;
  return d;
}

std::string shape_context(const DecodeProblem& p, const Config& cfg) {
  return "decode batch=" + std::to_string(p.batch) + " next_n=" + std::to_string(p.next_n) +
         " H=" + std::to_string(p.H) + " D=" + std::to_string(p.cache.D) +
         " P=" + std::to_string(p.cache.page_size) + " max_pages=" + std::to_string(p.max_pages) +
         " method=" + to_string(cfg.method) + " topk=" + std::to_string(cfg.topk);
}

// HISA_DECODE_KERNELS=portable (environment) forces the portable kernels (debugging).
bool env_portable() {
  const char* v = std::getenv("HISA_DECODE_KERNELS");
  return v != nullptr && std::string(v) == "portable";
}

bool use_sm90(const DecodeProblem& p) {
  return !g_force_portable && !env_portable() && p.H == 64 && p.cache.D == 128 &&
         reinterpret_cast<uintptr_t>(p.w) % 16 == 0 && dec::sm90_decode_available();
}

// Tiles of 64 keys per scorer CTA: enough CTAs to fill the GPU several times over (short
// contexts or small batches split each sequence finely), at most 16 so that the last wave is
// short; the query tile is reloaded (from L2) once per CTA.
int tiles_per_cta(int64_t jobs, int64_t tiles_per_job) {
  const int sms = current_device_properties().multiProcessorCount;
  const int64_t total = jobs * tiles_per_job;
  return static_cast<int>(std::clamp<int64_t>(ceil_div(total, int64_t{sms} * 8), 1, 16));
}

void launch_scorer(DecodeParams d, Stage s, int64_t jobs, int64_t keys_per_job, bool sm90,
                   cudaStream_t st) {
  const int64_t tiles = ceil_div(std::max<int64_t>(keys_per_job, 1), dec::kTile);
  d.tiles_per_cta = tiles_per_cta(jobs, tiles);
  const dim3 grid(static_cast<unsigned>(ceil_div(tiles, d.tiles_per_cta)), static_cast<unsigned>(jobs));
  if (sm90)
    dec::launch_sm90(d, s, grid, st);
  else
    dec::launch_portable(d, s, grid, st);
}

void check_device_values(const DecodeProblem& p, const DecodeParams& d, const Options& opts,
                         unsigned long long* res, cudaStream_t st) {
  HISA_CUDA_CHECK(cudaMemsetAsync(res, 0xFF, 4 * sizeof(unsigned long long), st));
  decode_check_kernel<<<264, 256, 0, st>>>(d, res, opts.allow_nonfinite ? 0 : 1);
  HISA_CUDA_CHECK_LAUNCH("decode_check_kernel", "");
  unsigned long long h[4];
  HISA_CUDA_CHECK(cudaMemcpyAsync(h, res, sizeof(h), cudaMemcpyDeviceToHost, st));
  HISA_CUDA_CHECK(cudaStreamSynchronize(st));
  constexpr unsigned long long kNone = ~0ull;
  auto fetch = [&](const int32_t* src) {
    int32_t v = 0;
    HISA_CUDA_CHECK(cudaMemcpy(&v, src, sizeof(v), cudaMemcpyDeviceToHost));
    return static_cast<int64_t>(v);
  };
  const int64_t P = p.cache.page_size;
  const unsigned long long table_b = h[1] == kNone ? kNone : h[1] / p.max_pages;
  if (h[0] != kNone && h[0] <= table_b)
    throw decode_checks::bad_context_len(h[0], fetch(p.context_lens + h[0]), p.max_pages, P);
  if (h[1] != kNone)
    throw decode_checks::bad_block_table(table_b, h[1] % p.max_pages, fetch(p.block_table + h[1]),
                                         p.cache.num_pages, fetch(p.context_lens + table_b));
  if (h[2] != kNone) throw decode_checks::nonfinite("q", h[2]);
  if (h[3] != kNone) throw decode_checks::nonfinite("weights", h[3]);
}

void run_pipeline(const DecodeProblem& p, const Config& cfg, int32_t* out, void* ws,
                  const Options& opts, cudaStream_t st) {
  const Geometry g = geometry(p, cfg);
  const Buffers bufs = carve_workspace(ws, g, cfg, nullptr);
  const DecodeParams d = make_params(p, cfg, g, bufs, out);
  if (opts.check_values) check_device_values(p, d, opts, bufs.check, st);
  const bool sm90 = use_sm90(p);
  const std::string ctx = shape_context(p, cfg);
  const int max_smem = current_device_properties().sharedMemPerBlockOptin;
  if (!sm90) {
    const std::size_t need = dec::portable_smem(d, cfg.method == Method::flat ? Stage::flat : Stage::blocks);
    if (need > static_cast<std::size_t>(max_smem))
      throw BackendError("decode: the portable CUDA kernels need " + std::to_string(need) +
                         " bytes of shared memory for next_n * H * D (" + ctx + "), more than the " +
                         std::to_string(max_smem) + " this GPU offers; use the CPU backend");
  }
  if (cfg.method == Method::flat) {
    launch_scorer(d, Stage::flat, p.batch, g.L, sm90, st);
    TopkRowsArgs a;
    a.scores = bufs.logits;
    a.ld = g.ld;
    a.rows = g.rows;
    a.cols = g.L;
    a.begin = bufs.begin;
    a.end = bufs.end;
    a.k = cfg.topk;
    a.out = out;
    a.out_ld = cfg.topk;
    radix_topk_rows(a, st);
    return;
  }
  // HISA / block-sparse.
  const std::size_t block_smem = (sizeof(SelectScratch) + 15) / 16 * 16 + sizeof(uint32_t) * g.nbmax;
  const TokenCarve tc = token_carve(g.cmax, g.m, g.sort_items);
  if (block_smem > static_cast<std::size_t>(max_smem) || tc.total > static_cast<std::size_t>(max_smem))
    throw BackendError("decode: one row's blocks (" + std::to_string(g.nbmax) + ") or candidates (" +
                       std::to_string(g.cmax) + ") do not fit shared memory (" + ctx +
                       "); use the CPU backend");
  launch_scorer(d, Stage::blocks, p.batch, g.nbmax, sm90, st);
  HISA_CUDA_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(&block_select_kernel),
                                       cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(block_smem)));
  block_select_kernel<<<g.rows, kSelectThreads, block_smem, st>>>(d);
  HISA_CUDA_CHECK_LAUNCH("decode block_select_kernel", ctx);
  launch_scorer(d, Stage::tokens, g.rows, g.cmax, sm90, st);
  const void* fn = g.ipt ? reinterpret_cast<const void*>(&token_select_kernel<16>)
                         : reinterpret_cast<const void*>(&token_select_kernel<0>);
  HISA_CUDA_CHECK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(tc.total)));
  if (g.ipt)
    token_select_kernel<16><<<g.rows, kSelectThreads, tc.total, st>>>(d, g.sort_items);
  else
    token_select_kernel<0><<<g.rows, kSelectThreads, tc.total, st>>>(d, g.sort_items);
  HISA_CUDA_CHECK_LAUNCH("decode token_select_kernel", ctx);
}

void require_cuda_shapes(const DecodeProblem& p, const Config& cfg) {
  if (cfg.topk > kRadixTopkMaxK)
    throw ArgumentError("topk", "the CUDA decode supports topk <= " + std::to_string(kRadixTopkMaxK) +
                                    ", got " + std::to_string(cfg.topk) + " (use the CPU backend)");
  if (p.batch * p.next_n > 65535)
    throw BackendError("decode: batch * next_n must be <= 65535 on CUDA, got " +
                       std::to_string(p.batch * p.next_n));
}

}  // namespace

void decode_force_portable(bool on) { g_force_portable = on; }

std::size_t decode_workspace_bytes(const DecodeProblem& p, const Config& cfg) {
  std::size_t used = 0;
  carve_workspace(nullptr, geometry(p, cfg), cfg, &used);
  return used;
}

void decode_select_device(const DecodeProblem& p, const Config& cfg, int32_t* out,
                          const Options& opts) {
  require_cuda_shapes(p, cfg);
  cudaStream_t st = static_cast<cudaStream_t>(opts.stream);
  const std::size_t need = decode_workspace_bytes(p, cfg);
  if (opts.workspace != nullptr && opts.workspace_bytes >= need) {
    run_pipeline(p, cfg, out, opts.workspace, opts, st);
    return;
  }
  void* ws = nullptr;
  HISA_CUDA_CHECK_CTX(cudaMallocAsync(&ws, need, st), shape_context(p, cfg));
  try {
    run_pipeline(p, cfg, out, ws, opts, st);
  } catch (...) {
    (void)cudaFreeAsync(ws, st);
    throw;
  }
  HISA_CUDA_CHECK(cudaFreeAsync(ws, st));
}

void decode_select_host_staged(const DecodeProblem& h, const Config& cfg, int32_t* out,
                               const Options& opts) {
  require_cuda_shapes(h, cfg);
  cudaStream_t st = static_cast<cudaStream_t>(opts.stream);
  const int64_t rows = h.batch * h.next_n;
  const std::size_t esize = h.cache.dtype == DType::fp8_e4m3 ? 1 : 2;
  const std::size_t sizes[] = {
      static_cast<std::size_t>(h.cache.num_pages * page_bytes(h.cache)),
      static_cast<std::size_t>(rows * h.H * h.cache.D) * esize,
      sizeof(float) * rows * h.H,
      sizeof(int32_t) * h.batch,
      sizeof(int32_t) * h.batch * h.max_pages,
      h.pooled ? sizeof(float) * h.cache.num_pages * h.cache.D : 0,
      sizeof(int32_t) * rows * cfg.topk};
  const void* srcs[] = {h.cache.data, h.q, h.w, h.context_lens, h.block_table, h.pooled, nullptr};
  void* dev[7] = {};
  auto release = [&] {
    for (void* x : dev)
      if (x) cudaFree(x);
  };
  try {
    for (int i = 0; i < 7; ++i) {
      if (sizes[i] == 0) continue;
      HISA_CUDA_CHECK(cudaMalloc(&dev[i], sizes[i]));
      if (srcs[i]) HISA_CUDA_CHECK(cudaMemcpyAsync(dev[i], srcs[i], sizes[i], cudaMemcpyHostToDevice, st));
    }
    DecodeProblem d = h;
    d.cache.data = dev[0];
    d.q = dev[1];
    d.w = static_cast<const float*>(dev[2]);
    d.context_lens = static_cast<const int32_t*>(dev[3]);
    d.block_table = static_cast<const int32_t*>(dev[4]);
    d.pooled = static_cast<const float*>(dev[5]);
    d.memory = Device::cuda;
    Options o = opts;
    o.check_values = false;  // host values were validated by the dispatcher
    o.workspace = nullptr;
    o.workspace_bytes = 0;
    decode_select_device(d, cfg, static_cast<int32_t*>(dev[6]), o);
    HISA_CUDA_CHECK(cudaMemcpyAsync(out, dev[6], sizes[6], cudaMemcpyDeviceToHost, st));
    HISA_CUDA_CHECK(cudaStreamSynchronize(st));
  } catch (...) {
    cudaStreamSynchronize(st);
    release();
    throw;
  }
  release();
}

}  // namespace hisa::cuda
