// `hisa select`: one selection on .npy inputs, indices written as int32 .npy.
// All semantics live in hisa::select; this file only reads files, checks flags and writes.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "hisa/error.hpp"
#include "hisa/npy.hpp"
#include "hisa/select.hpp"
#include "hisa/spec.hpp"
#include "io/npy_problem.hpp"

namespace hisa::cli {
namespace {

constexpr const char* kSelectUsage = R"(usage: hisa select --method flat|hisa|block|misa|proj|hisa-misa --q Q.npy --k K.npy
                   --w W.npy [--k-scale S.npy] [--ks KS.npy --ke KE.npy] [--topk N]
                   [--block-size B] [--blocks M] [--block-summary mean|bound|emax]
                   [--shared-candidates Q] [--heads A] [--candidates C] [--proj-dim D']
                   [--order score|index] [--device cpu|cuda]
                   [--threads N] [--allow-nonfinite] --out IDX.npy

Selects the top-k keys of every query and writes idx, int32 [T, topk]: absolute rows of k,
best first (ties: larger index first), -1 in unused slots; --order index: the same keys in
ascending index order.

inputs (.npy; the dtype of q picks the arithmetic, k must have the same dtype):
  --q Q.npy          [T, H, D] queries: '<f4' f32, '<u2' bf16 bits (uint16), '|u1' FP8 e4m3 bytes
  --k K.npy          [S, D] keys (one shared head), same dtype as q
  --w W.npy          [T, H] '<f4' per-query head weights
  --k-scale S.npy    [S] '<f4' per-key dequantisation scale (default 1)
  --ks/--ke KS.npy   [T] '<i4' each: query t sees keys [ks[t], ke[t]); both or neither.
                     Default: one causal sequence, ks = 0, ke = S - T + t + 1 (needs T <= S)
method:
  --method M         flat (exact), hisa (block pre-filter, then exact top-k),
                     block (block-sparse baseline), misa (routed heads),
                     proj (first and local block + the C*topk best other tokens in a
                     d'-dim key space, re-ranked),
                     hisa-misa (hisa's blocks, misa's heads over their tokens, re-rank)
                     (docs/semantics.md defines each)
  --topk N           indices per query (default 2048)
  --block-size B     tokens per block for hisa, block, hisa-misa, proj's forced first and
                     local block (default 64) and the misa router (default 1024)
  --blocks M         hisa, hisa-misa: blocks kept per query, >= 2 (default 64)
  --block-summary S  hisa, block, hisa-misa: block summary of stage 1: mean (default), bound
                     (Quest's channel-wise min/max) or emax (mean + sqrt(2 ln B) * spread)
  --shared-candidates Q
                     hisa: each query of a tile of Q consecutive query rows selects from the
                     union of the tile's kept blocks (default 1 = plain HISA)
  --heads A          misa, hisa-misa: active heads, 1..H (default 8)
  --candidates C     misa, proj, hisa-misa: keep C*topk by the cheap score, then re-rank by the
                     full score (default 1)
  --proj-dim D'      proj: dimensions of the reduced key space, 1..D (default 16)
execution (the CPU result does not depend on --threads):
  --device cpu|cuda  backend (default cpu)
  --threads N        CPU worker threads, 0 = all cores (default 0)
  --allow-nonfinite  accept NaN/Inf in q, k, w, k-scale (NaN scores rank last); default: reject
output:
  --out IDX.npy      written only after success, atomically (temporary file + rename)
  --order O          row order: score (default; best first) or index (the same keys in
                     ascending index order, -1 last: faster on the GPU, enough for sparse
                     attention)
)";

Method parse_method(const std::string& s) {
  for (Method m : {Method::flat, Method::hisa, Method::block, Method::misa, Method::proj,
                   Method::hisa_misa})
    if (s == to_string(m)) return m;
  throw ArgumentError("--method",
                      "expected flat, hisa, block, misa, proj or hisa-misa, got '" + s + "'");
}

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu;
  if (s == "cuda") return Device::cuda;
  throw ArgumentError("--device", "expected cpu or cuda, got '" + s + "'");
}

// A flag the chosen method does not read is most likely a mistake: say so, but carry on.
void note_unused_flags(const Args& a, Method m) {
  struct Unused {
    const char* flag;
    bool used;
  };
  const Unused flags[] = {
      {"--block-size", m != Method::flat},
      {"--blocks", m == Method::hisa || m == Method::hisa_misa},
      {"--block-summary", m == Method::hisa || m == Method::block || m == Method::hisa_misa},
      {"--heads", m == Method::misa || m == Method::hisa_misa},
      {"--candidates", m == Method::misa || m == Method::proj || m == Method::hisa_misa},
      {"--proj-dim", m == Method::proj},
      {"--shared-candidates", m == Method::hisa},
  };
  for (const Unused& f : flags)
    if (a.has(f.flag) && !f.used)
      std::cerr << "hisa: note: " << f.flag << " has no effect with --method " << to_string(m)
                << (m == Method::block && std::string(f.flag) == "--blocks"
                        ? " (block-sparse keeps topk / block-size blocks)"
                        : "")
                << "\n";
}

// Fails before any work when the output cannot be written where asked.
void check_output_path(const std::string& out) {
  namespace fs = std::filesystem;
  const fs::path p(out);
  std::error_code ec;
  if (fs::is_directory(p, ec)) throw ArgumentError("--out", "'" + out + "' is a directory");
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    throw ArgumentError("--out", "directory '" + dir.string() + "' does not exist");
}

}  // namespace

int cmd_select(const std::vector<std::string>& argv) {
  if (argv.empty()) {
    std::cerr << kSelectUsage;
    return 2;
  }
  for (const std::string& a : argv)
    if (a == "--help" || a == "-h") {
      std::cout << kSelectUsage;
      return 0;
    }
  const Args a(argv,
               {"--method", "--q", "--k", "--w", "--k-scale", "--ks", "--ke", "--topk",
                "--block-size", "--blocks", "--heads", "--candidates", "--device", "--threads",
                "--out", "--block-summary", "--proj-dim", "--shared-candidates", "--order"},
               {"--allow-nonfinite"});

  Config cfg;
  cfg.method = parse_method(a.required("--method"));
  cfg.topk = a.integer("--topk", cfg.topk);
  cfg.block_size =
      a.integer("--block-size", cfg.method == Method::misa ? kMisaBlockSize : cfg.block_size);
  cfg.blocks = a.integer("--blocks", cfg.blocks);
  cfg.heads = a.integer("--heads", cfg.heads);
  cfg.candidates = a.integer("--candidates", cfg.candidates);
  cfg.proj_dim = a.integer("--proj-dim", cfg.proj_dim);
  cfg.shared_candidates = a.integer("--shared-candidates", cfg.shared_candidates);
  if (a.has("--block-summary"))
    cfg.block_summary = parse_block_summary(a.str("--block-summary"), "--block-summary");
  if (a.has("--order")) cfg.order = parse_order(a.str("--order"), "--order");

  Options opts;
  opts.device = parse_device(a.str("--device", "cpu"));
  opts.allow_nonfinite = a.has("--allow-nonfinite");
  const int64_t threads = a.integer("--threads", 0);
  if (threads < 0 || threads > 65536)
    throw ArgumentError("--threads", "must be in [0, 65536] (0 = all cores), got " + std::to_string(threads));
  opts.threads = static_cast<int>(threads);

  io::NpyProblemPaths paths;
  paths.q = a.required("--q");
  paths.k = a.required("--k");
  paths.w = a.required("--w");
  paths.k_scale = a.str("--k-scale");
  paths.ks = a.str("--ks");
  paths.ke = a.str("--ke");
  const std::string out = a.required("--out");
  check_output_path(out);
  note_unused_flags(a, cfg.method);

  const io::NpyProblem inputs(paths);
  const Problem p = inputs.problem();
  validate_shapes(p, cfg);  // before sizing the output by T * topk

  std::vector<int32_t> idx;
  try {
    idx.resize(static_cast<std::size_t>(p.T) * static_cast<std::size_t>(cfg.topk));
  } catch (const std::bad_alloc&) {
    throw ArgumentError("--topk", "the output [T=" + std::to_string(p.T) + ", topk=" +
                                      std::to_string(cfg.topk) + "] int32 does not fit in memory");
  }
  const auto start = std::chrono::steady_clock::now();
  hisa::select(p, cfg, idx.data(), opts);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  write_npy(out, "<i4", {p.T, cfg.topk}, idx.data(), idx.size() * sizeof(int32_t));
  std::cout << "hisa select: wrote " << out << " [" << p.T << ", " << cfg.topk << "] int32 (method "
            << to_string(cfg.method) << ", " << to_string(p.dtype) << " T=" << p.T << " S=" << p.S
            << " H=" << p.H << " D=" << p.D << ", device " << to_string(opts.device) << ", "
            << static_cast<int64_t>(ms * 10 + 0.5) / 10.0 << " ms)\n";
  return 0;
}

}  // namespace hisa::cli
