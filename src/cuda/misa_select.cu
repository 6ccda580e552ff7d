// misa_select / misa_workspace_bytes (methods.cuh): MISA (SPEC.md "MISA") on the GPU, plain
// (c = 1) and hierarchical (c > 1), on the caller's stream with no host sync and no allocation.
//
//   0. shortcuts with flat's answer: a >= H, or c * topk >= S (every row keeps every token)
//   1. pooled keys of the residues ks % B of routed rows, one pass over k   (pool_keys.cu)
//      f16 logits: the key-norm bound kmax                                 (misa_router_common.cu)
//   per chunk of queries:
//   2. router: r(t, h), the a active heads, gathered q rows and weights   (misa_router_*.cu)
//   3. routed scores I_A of every visible key into a [chunk, ld] buffer   (flat_score_wgmma.cu
//      with kA heads per query; the portable flat scorers on the gathered problem otherwise)
//   4. the C = c * topk best by I_A per row, unordered                    (topk_radix.cu)
//   5. re-scoring of those C with all H heads, the topk best by I, ranked (hisa_sm90.cu /
//      hisa_portable.cu stage 2 over candidate lists)
// Rows that see at most max(C, B) tokens are not routed; step 5 takes their whole range, which
// is flat's answer as SPEC.md requires (c * topk >= n, or no full block: every head active).
//
// Workspace (256-aligned parts): used[B] | pooled [S, D] (bf16 sm_90a, f32 portable) | kmax |
// logits [chunk, ld] (f16 or f32) | scorer plan | qa [chunk_pad, A, D] | wa [chunk_pad, A] |
// heads [chunk_pad, a] | candidates [chunk, C]. The chunk keeps the logits <= 2 GiB and the
// candidate lists <= 512 MiB.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cuda/common.cuh"
#include "cuda/flat_score.cuh"
#include "cuda/flat_stages.hpp"
#include "cuda/hisa_block_ops.cuh"
#include "cuda/hisa_launch.cuh"
#include "cuda/methods.cuh"
#include "cuda/misa_launch.cuh"
#include "cuda/topk_radix.cuh"
#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

MisaTuning g_tuning;

constexpr int64_t kLogitsBudgetBytes = int64_t{2} << 30;
constexpr int64_t kCandidateBudgetBytes = int64_t{512} << 20;
constexpr int64_t kMaxChunkRows = 32768;
constexpr int64_t kChunkAlign = 16;  // whole query-group pairs of the routed scorer (<= 16 rows)

struct Plan {
  bool flat = false;          // every row's answer is flat's: run flat_select
  bool fast = false;          // sm_90a router and re-scoring (H = 64, D = 128, FP8 / bf16)
  bool wgmma_scores = false;  // routed scores by the sm_90a FP8 scorer
  bool f16 = false;           // routed logits stored as f16
  bool need_pool = false;     // some row can be routed
  int A = 0, pair_rows = 1;
  int64_t B = 0, C = 0, chunk = 0, chunk_pad = 0, ld = 0;
  std::size_t used = 0, pooled = 0, kmax = 0, logits = 0, scratch = 0, qa = 0, wa = 0,
              heads = 0, cand = 0, total = 0;
};

int logits_choice() {
  if (g_tuning.logits != 0) return g_tuning.logits;
  const char* v = std::getenv("HISA_MISA_LOGITS");
  if (v == nullptr || *v == '\0') return 0;
  if (std::strcmp(v, "f32") == 0) return 1;
  if (std::strcmp(v, "f16") == 0) return 2;
  throw ArgumentError("HISA_MISA_LOGITS", std::string("expected f32 or f16, got '") + v + "'");
}

int smem_optin() {
  int dev = 0, v = 0;
  HISA_CUDA_CHECK(cudaGetDevice(&dev));
  HISA_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  return v;
}

// Parameters of step 5 (HISA stage 2 over candidate lists), everything but t0 / T.
HisaParams rescore_params(const Problem& p, const Config& cfg, const Plan& plan) {
  HisaParams r;
  r.dtype = p.dtype;
  r.H = static_cast<int>(p.H);
  r.D = static_cast<int>(p.D);
  r.S = static_cast<int>(p.S);
  r.q = p.q;
  r.k = p.k;
  r.k_scale = p.k_scale;
  r.w = p.w;
  r.ks = p.ks;
  r.ke = p.ke;
  r.B = static_cast<int>(plan.B);
  r.m = static_cast<int>(plan.C);
  r.topk = static_cast<int>(cfg.topk);
  r.cmax = static_cast<int>(std::min(std::max(plan.B, plan.C), std::max<int64_t>(p.S, 1)));
  r.kpad = hisa_ops::next_pow2(static_cast<int>(std::max<int64_t>(1, std::min(cfg.topk, int64_t{r.cmax}))));
  r.lists = true;
  r.order = cfg.order == Order::index ? 1 : 0;  // lists: the sort runs on the index
  return r;
}

Plan make_plan(const Problem& p, const Config& cfg) {
  if (p.T > INT32_MAX || p.S >= INT32_MAX || p.H * p.D > INT32_MAX)
    throw ArgumentError("q", "CUDA MISA needs T, S and H*D below 2^31");
  if (cfg.topk > kRadixTopkMaxK)
    throw ArgumentError("topk", "the CUDA backend supports topk <= " +
                                    std::to_string(kRadixTopkMaxK) + ", got " +
                                    std::to_string(cfg.topk) + " (use the CPU backend)");
  Plan plan;
  // SPEC.md: a = H makes I_A = I; c * topk >= n keeps every token. Both are flat's answer.
  // (c >= ceil(S / topk) is c * topk >= S without overflow.)
  if (cfg.heads >= p.H || cfg.candidates >= (p.S + cfg.topk - 1) / cfg.topk) {
    plan.flat = true;
    plan.total = flat_workspace_bytes(p, cfg);
    return plan;
  }
  plan.C = cfg.candidates * cfg.topk;  // < S < 2^31
  if (plan.C > kRadixTopkMaxK)
    throw ArgumentError("candidates", "the CUDA backend keeps at most " +
                                          std::to_string(kRadixTopkMaxK) +
                                          " routed candidates (candidates * topk), got " +
                                          std::to_string(plan.C) + " (use the CPU backend)");
  plan.B = std::min<int64_t>(cfg.block_size, p.S);  // B >= S: no row has a full block
  const cudaDeviceProp& prop = current_device_properties();
  const bool sm90 = prop.major == 9 && prop.minor == 0;
  const int optin = smem_optin();
  const bool fp8 = p.dtype == DType::fp8_e4m3;
  const HisaParams rs = rescore_params(p, cfg, plan);
  bool fast = g_tuning.path != 2 && sm90 && sm90_supported(rs) &&
              sm90_tokens_smem(rs) <= static_cast<size_t>(optin);
  bool wgmma = fast && fp8 && wgmma_routed_supported() &&
               reinterpret_cast<uintptr_t>(p.k) % 16 == 0;
  if (fast && fp8 && !wgmma) fast = false;  // keep FP8 on one path: portable throughout
  if (g_tuning.path == 1 && !fast)
    throw BackendError("MISA: the sm_90a kernels cannot run this problem here (" +
                       shape_string(p) + ")");
  plan.fast = fast;
  plan.wgmma_scores = wgmma;
  const int64_t a = cfg.heads;
  plan.A = static_cast<int>(wgmma ? std::max<int64_t>(8, hisa_ops::next_pow2(static_cast<int>(a)))
                                  : a);
  plan.pair_rows = wgmma && plan.A <= 32 ? 2 * static_cast<int>(p.H / plan.A) : 1;
  const int lc = logits_choice();
  if (lc == 2 && !(wgmma && plan.A <= 32))
    throw BackendError("MISA: f16 routed logits need the sm_90a FP8 path with a <= 32");
  plan.f16 = wgmma && plan.A <= 32 && lc != 1;
  if (!fast) {
    const HisaParams probe = rs;
    MisaRouterParams rp;
    rp.H = static_cast<int>(p.H);
    rp.D = static_cast<int>(p.D);
    const size_t need = std::max(portable_tokens_smem(probe), misa_router_portable_smem(rp));
    if (need > static_cast<size_t>(optin))
      throw BackendError("CUDA MISA: one query's working set needs " + std::to_string(need) +
                         " bytes of shared memory, the device allows " + std::to_string(optin) +
                         " (H=" + std::to_string(p.H) + ", D=" + std::to_string(p.D) +
                         ", candidates c*topk=" + std::to_string(plan.C) + "); use the CPU");
  }
  plan.need_pool = p.S > std::max(plan.B, plan.C);
  plan.ld = flat_logits_ld(p);
  const int64_t elem = plan.f16 ? 2 : 4;
  const int64_t tpad = align_up(std::max<int64_t>(p.T, 1), kChunkAlign);
  int64_t chunk = std::min({kLogitsBudgetBytes / (plan.ld * elem),
                            kCandidateBudgetBytes / (plan.C * 4), kMaxChunkRows, tpad});
  plan.chunk = std::max<int64_t>(kChunkAlign, chunk / kChunkAlign * kChunkAlign);
  plan.chunk_pad = plan.chunk;  // a multiple of every pair_rows (<= 16)

  WorkspaceCarver c(nullptr);
  auto at = [&](std::size_t bytes) {
    const std::size_t o = c.used();
    c.take<unsigned char>(bytes);
    return o;
  };
  const std::size_t es = dtype_size(p.dtype);
  plan.used = at(sizeof(uint32_t) * plan.B);
  plan.pooled = at(plan.need_pool ? static_cast<std::size_t>(p.S * p.D) * (fast ? 2 : 4) : 0);
  plan.kmax = at(plan.f16 ? sizeof(float) : 0);
  plan.logits = at(static_cast<std::size_t>(plan.chunk * plan.ld * elem));
  plan.scratch = at(flat_score_scratch_bytes(plan.chunk));
  plan.qa = at(static_cast<std::size_t>(plan.chunk_pad * plan.A * p.D) * es);
  plan.wa = at(sizeof(float) * plan.chunk_pad * plan.A);
  plan.heads = at(sizeof(int32_t) * plan.chunk_pad * a);
  plan.cand = at(sizeof(int32_t) * plan.chunk * plan.C);
  plan.total = c.used();
  return plan;
}

void mark(int64_t i, cudaStream_t st) {
  if (g_tuning.events != nullptr) HISA_CUDA_CHECK(cudaEventRecord(g_tuning.events[i], st));
}

}  // namespace

void misa_set_tuning(const MisaTuning& t) { g_tuning = t; }

int64_t misa_chunks(const Problem& p, const Config& cfg) {
  const Plan plan = make_plan(p, cfg);
  return plan.flat ? 0 : ceil_div(p.T, plan.chunk);
}

std::size_t misa_workspace_bytes(const Problem& p, const Config& cfg) {
  return make_plan(p, cfg).total;
}

void misa_select(const Problem& p, const Config& cfg, int32_t* out, void* ws, cudaStream_t st) {
  if (p.T == 0) return;
  if (p.ks == nullptr || p.ke == nullptr)
    throw ArgumentError("ks", "misa_select needs device ks/ke (the backend materialises them)");
  const Plan plan = make_plan(p, cfg);
  if (plan.flat) {
    flat_select(p, cfg, out, ws, st);
    return;
  }
  if (ws == nullptr)
    throw ArgumentError("workspace", "null workspace for " + std::to_string(plan.total) + " bytes");
  unsigned char* base = static_cast<unsigned char*>(ws);
  void* pooled = base + plan.pooled;
  float* kmax = plan.f16 ? reinterpret_cast<float*>(base + plan.kmax) : nullptr;
  void* logits = base + plan.logits;
  void* scratch = base + plan.scratch;
  int32_t* heads = reinterpret_cast<int32_t*>(base + plan.heads);
  int32_t* cand = reinterpret_cast<int32_t*>(base + plan.cand);

  mark(0, st);
  if (plan.need_pool) {  // pooled rows for the residues of routed rows (HISA's table)
    HisaParams hp;
    hp.dtype = p.dtype;
    hp.H = static_cast<int>(p.H);
    hp.D = static_cast<int>(p.D);
    hp.S = static_cast<int>(p.S);
    hp.k = p.k;
    hp.k_scale = p.k_scale;
    hp.ks = p.ks;
    hp.ke = p.ke;
    hp.B = static_cast<int>(plan.B);
    hp.m = 1;                               // row_geometry: all_blocks = nb <= 1 || n <= C,
    hp.topk = static_cast<int>(plan.C);     // so exactly the routed rows are marked
    uint32_t* used = reinterpret_cast<uint32_t*>(base + plan.used);
    launch_mark_residues(hp, static_cast<int>(p.T), used, st);
    launch_pool_keys(hp, used, pooled, plan.fast, st);
  }
  if (plan.f16) launch_key_norm_max(p.dtype, p.k, p.k_scale, p.S, p.D, kmax, st);
  mark(1, st);

  MisaRouterParams rp;
  rp.dtype = p.dtype;
  rp.H = static_cast<int>(p.H);
  rp.D = static_cast<int>(p.D);
  rp.S = static_cast<int>(p.S);
  rp.q = p.q;
  rp.w = p.w;
  rp.ks = p.ks;
  rp.ke = p.ke;
  rp.B = static_cast<int>(plan.B);
  rp.C = static_cast<int>(plan.C);
  rp.a = static_cast<int>(cfg.heads);
  rp.A = plan.A;
  rp.G = plan.wgmma_scores && plan.A <= 32 ? static_cast<int>(p.H / plan.A) : 1;
  rp.pooled = pooled;
  rp.kmax = kmax;
  rp.qa = base + plan.qa;
  rp.wa = reinterpret_cast<float*>(base + plan.wa);
  rp.heads = heads;
  HisaParams rs = rescore_params(p, cfg, plan);
  rs.kept = cand;
  rs.out = out;

  int64_t chunk_index = 0;
  for (int64_t t0 = 0; t0 < p.T; t0 += plan.chunk, ++chunk_index) {
    const int64_t rows = std::min(plan.chunk, p.T - t0);
    const int64_t rows_pad = align_up(rows, plan.pair_rows);
    rp.t0 = static_cast<int>(t0);
    rp.rows = static_cast<int>(rows);
    rp.rows_pad = static_cast<int>(rows_pad);
    if (plan.fast)
      launch_misa_router_sm90(rp, st);
    else
      launch_misa_router_portable(rp, st);
    if (g_tuning.heads != nullptr)
      HISA_CUDA_CHECK(cudaMemcpyAsync(g_tuning.heads + t0 * cfg.heads, heads,
                                      sizeof(int32_t) * rows * cfg.heads,
                                      cudaMemcpyDeviceToDevice, st));
    mark(2 + 4 * chunk_index, st);

    // Routed scores: flat scoring with the gathered A heads per query.
    if (plan.wgmma_scores && plan.A <= 32) {
      RoutedScoreArgs a;
      a.q = rp.qa;
      a.w = rp.wa;
      a.rows = rows;
      a.rows_pad = rows_pad;
      a.heads_per_query = plan.A;
      a.k = p.k;
      a.k_scale = p.k_scale;
      a.S = p.S;
      a.ks = p.ks + t0;
      a.ke = p.ke + t0;
      a.logits = logits;
      a.ld = plan.ld;
      a.f16 = plan.f16;
      a.scratch = scratch;
      wgmma_score_routed(a, st);
    } else {
      Problem gp = p;
      gp.T = rows_pad;
      gp.H = plan.A;
      gp.q = rp.qa;
      gp.w = rp.wa;
      gp.ks = p.ks + t0;
      gp.ke = p.ke + t0;
      flat_score_rows(gp, gp.ks, gp.ke, 0, rows, static_cast<float*>(logits), plan.ld, scratch,
                      plan.wgmma_scores ? FlatScorer::wgmma : FlatScorer::automatic, st);
    }
    mark(3 + 4 * chunk_index, st);

    // The C best routed scores of each row (a set: step 5 ranks them by the full score).
    TopkRowsArgs ta;
    if (plan.f16)
      ta.scores_f16 = static_cast<const uint16_t*>(logits);
    else
      ta.scores = static_cast<const float*>(logits);
    ta.ld = plan.ld;
    ta.rows = rows;
    ta.cols = p.S;
    ta.begin = p.ks + t0;
    ta.end = p.ke + t0;
    ta.k = plan.C;
    ta.out = cand;
    ta.out_ld = plan.C;
    ta.sorted = false;
    radix_topk_rows(ta, st);
    mark(4 + 4 * chunk_index, st);

    rs.t0 = static_cast<int>(t0);
    rs.T = static_cast<int>(rows);
    if (plan.fast)
      launch_sm90_tokens(rs, st);
    else
      launch_portable_tokens(rs, st);
    mark(5 + 4 * chunk_index, st);
  }
}

}  // namespace hisa::cuda
