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
#include "cuda/decode_rank.cuh"
#include "cuda/decode_select_kernels.cuh"
#include "cuda/hisa_block_ops.cuh"
#include "cuda/hisa_rows.cuh"
#include "cuda/methods.cuh"
#include "cuda/topk_radix.cuh"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

using dec::DecodeParams;
using dec::Stage;
using hisa_ops::SelectScratch;

bool g_force_portable = false;
using namespace decode_kernels;  // the selection and check kernels, their carves and sizes

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

// HISA_DECODE_PIPELINE=v1 (environment) selects the first decode pipeline for HISA / block:
// radix-select kernels of 128 threads, plain launches. Default v2: the bucket-ranking
// selection kernels (decode_rank.cuh), chained with programmatic dependent launch on sm_90.
// HISA_DECODE_PDL=0 keeps v2's kernels but launches them plainly. Read at every call (and so
// fixed into a captured graph).
bool env_v1() {
  const char* v = std::getenv("HISA_DECODE_PIPELINE");
  return v != nullptr && std::string(v) == "v1";
}
bool env_pdl_off() {
  const char* v = std::getenv("HISA_DECODE_PDL");
  return v != nullptr && std::string(v) == "0";
}

// Launch, optionally as a programmatic dependent of the previous kernel on the stream (the
// kernel must call dec::pdl_wait() before reading anything an earlier kernel wrote).
template <class... KArgs, class... Args>
void launch_ex(void (*kernel)(KArgs...), dim3 grid, int threads, std::size_t smem, cudaStream_t st,
               bool pdl, Args... args) {
  cudaLaunchConfig_t lc = {};
  lc.gridDim = grid;
  lc.blockDim = dim3(static_cast<unsigned>(threads));
  lc.dynamicSmemBytes = smem;
  lc.stream = st;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  lc.attrs = attr;
  lc.numAttrs = pdl ? 1 : 0;
  HISA_CUDA_CHECK(cudaLaunchKernelEx(&lc, kernel, args...));
}

template <class K>
void set_max_smem(K kernel, std::size_t bytes) {
  HISA_CUDA_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel),
                                       cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(bytes)));
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
                   cudaStream_t st, bool pdl = false) {
  const int64_t tiles = ceil_div(std::max<int64_t>(keys_per_job, 1), dec::kTile);
  d.tiles_per_cta = tiles_per_cta(jobs, tiles);
  const dim3 grid(static_cast<unsigned>(ceil_div(tiles, d.tiles_per_cta)), static_cast<unsigned>(jobs));
  if (sm90)
    dec::launch_sm90(d, s, grid, st, pdl);
  else
    dec::launch_portable(d, s, grid, st);  // never a programmatic dependent (no pdl_wait)
}

// Shared memory of the v2 selection kernels for this geometry.
struct RankPlan {
  int block_nb = 0, block_stage = 0, token_nb = 0, token_stage = 0;
  std::size_t block_smem = 0, token_smem = 0;
};
RankPlan rank_plan(const Geometry& g) {
  RankPlan r;
  r.block_nb = dec::rank_buckets(g.nbmax);
  r.block_stage = std::max(1, dec::rank_stage_items(g.nbmax, std::max(g.m - 2, 1)));
  r.block_smem = rank_carve(g.nbmax, true, r.block_nb, r.block_stage, 0).total;
  r.token_nb = dec::rank_buckets(g.cmax);
  // The stage doubles as finish_tokens' sort buffer when the fast path declines.
  r.token_stage = std::max(g.sort_items, dec::rank_stage_items(g.cmax, std::max(g.sort_items, 1)));
  r.token_smem = rank_carve(g.cmax, false, r.token_nb, r.token_stage, g.m).total;
  return r;
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
    a.by_index = cfg.order == Order::index;  // written in index order, no re-sort
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
  const RankPlan rp = rank_plan(g);
  const bool v2 = !env_v1() && rp.block_smem <= static_cast<std::size_t>(max_smem) &&
                  rp.token_smem <= static_cast<std::size_t>(max_smem);
  if (v2) {
    // Each kernel after the first is a programmatic dependent of the one before it (sm_90
    // scorers and the selection kernels call pdl_wait first); the portable scorers are not.
    const bool pdl = sm90 && !env_pdl_off();
    launch_scorer(d, Stage::blocks, p.batch, g.nbmax, sm90, st);
    set_max_smem(block_rank_kernel, rp.block_smem);
    launch_ex(block_rank_kernel, dim3(static_cast<unsigned>(g.rows)), dec::kRankThreads, rp.block_smem, st,
              pdl, d, rp.block_nb, rp.block_stage);
    HISA_CUDA_CHECK_LAUNCH("decode block_rank_kernel", ctx);
    launch_scorer(d, Stage::tokens, g.rows, g.cmax, sm90, st, pdl);
    set_max_smem(token_rank_kernel, rp.token_smem);
    launch_ex(token_rank_kernel, dim3(static_cast<unsigned>(g.rows)), dec::kRankThreads, rp.token_smem, st,
              pdl, d, rp.token_nb, rp.token_stage);
    HISA_CUDA_CHECK_LAUNCH("decode token_rank_kernel", ctx);
    return;
  }
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

void decode_rank_rows_for_test(const uint32_t* keys, int rows, int n, int K, int32_t* out,
                               int32_t* path) {
  if (rows <= 0 || n <= 0 || K <= 0) throw ArgumentError("rows", "decode_rank_rows_for_test: empty");
  const int nb = dec::rank_buckets(n);
  const int kk = std::min(n, K);
  const int stage = std::max(static_cast<int>(next_pow2(kk)), dec::rank_stage_items(n, kk));
  const std::size_t smem = rank_carve(n, false, nb, stage, 0).total;
  set_max_smem(rank_rows_test_kernel, smem);
  rank_rows_test_kernel<<<rows, dec::kRankThreads, smem>>>(keys, n, K, nb, stage, out, path);
  HISA_CUDA_CHECK_LAUNCH("rank_rows_test_kernel", "");
  HISA_CUDA_CHECK(cudaDeviceSynchronize());
}

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
  // HISA / block-sparse decode ranks in score order; Order::index re-sorts those rows after
  // (row_order.cu). Flat's top-k writes index order itself.
  auto reorder = [&] {
    if (cfg.order == Order::index && cfg.method != Method::flat)
      order_rows_by_index_device(out, p.batch * p.next_n, cfg.topk, st);
  };
  if (opts.workspace != nullptr && opts.workspace_bytes >= need) {
    run_pipeline(p, cfg, out, opts.workspace, opts, st);
    reorder();
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
  reorder();
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
