// `hisa eval ... --out results.json`: parses the flags and runs the sweep of
// src/eval/sweep.cpp.
#include <iostream>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "eval/sweep.hpp"
#include "hisa/error.hpp"
#include "hisa/spec.hpp"

namespace hisa::cli {
namespace {

constexpr const char* kEvalUsage =
    R"(usage: hisa eval --out FILE [--workload structured|gaussian] [--L 4096,8192]
                 [--B 32,64] [--m 16,32,64] [--a 4,8,16] [--c 1,4] [--topk N]
                 [--dtype fp8|bf16|f32] [--device cpu|cuda] [--seed N] [--threads N]
                 [--reps N] [--rows N] [--mass-rows N] [--commit SHA]
       hisa eval --inputs DIR --out FILE [--attn-scale X] [the method and run options above]
       either form: [--summary mean,bound,emax] [--methods 'SPEC;SPEC;...']

Fidelity sweep against flat (the exact DSA indexer) on synthetic workloads of H=64, D=128,
one causal prefill (T = S = L) per L. For every L: flat, HISA for every (B, m), block-sparse
for every B (when topk % B == 0), MISA for every (a, c, B) (c = 1: plain MISA). Writes one
JSON record per (L, method, config): time, speed-up vs flat, IoU mean/p1/p5/min, recall,
score-mass recall, needle recall, scored triples per query (docs/fidelity.md). The file is
rewritten atomically after each L.

With --inputs, the sweep runs on real inputs instead: every case directory under DIR (DIR
itself if it holds q.npy, else each subdirectory that does; files q.npy k.npy w.npy and
optional k_scale.npy, ks.npy + ke.npy, q_scale.npy, as `hisa select` reads them). Per case
and pooled over all cases it adds the softmax attention mass each selection covers and the
block diagnostics of flat's picks (blocks touched, oracle coverage of the best m blocks), and
prints the pooled table. MISA configurations with a >= H are skipped (they equal flat).

  --out FILE         JSON results file (required)
  --workload W       structured (default; topic segments, recalled passages, 16 needles)
                     or gaussian (i.i.d. normal; no needles)
  --L list           sequence lengths (default 4096,8192)
  --B list           block sizes (default 32,64)
  --m list           HISA kept blocks (default 16,32,64)
  --a list           MISA active heads (default 4,8,16)
  --c list           MISA candidate factors, 1 = plain (default 1,4)
  --topk N           selected tokens per query (default 2048)
  --dtype T          fp8 (default; DSA quantisation), bf16 or f32
  --device D         cpu (default) or cuda
  --seed N           workload seed (default 1)
  --threads N        CPU threads (default: all)
  --reps N           timed calls per method, median (default 1 on cpu, 5 on cuda)
  --rows N           evaluate only N query rows per L (spread evenly, plus each needle's
                     query), each with exactly the keys it sees in the full prefill:
                     fidelity at 128K on a CPU (times then cover those rows only).
                     0 = all rows (default)
  --mass-rows N      query rows sampled (evenly) for score-mass recall; 0 = all rows,
                     -1 = skip (default 256: mass recall needs exact per-token scores)
  --commit SHA       recorded in the results file
  --summary list     HISA / block-sparse block summaries: mean (default), bound, emax
                     (docs/semantics.md "Block summaries")
  --methods specs    exactly these methods (after flat) instead of the --B/--m/--a/--c
                     cross product, ';'-separated specs such as 'hisa:B=64,m=16,summary=emax;
                     misa:a=8,c=4;proj:d=16,c=4;hisa-misa:B=64,m=64,a=1,c=4;block:B=64'
  --inputs DIR       case directories of real inputs (see above); --workload, --L, --dtype
                     and --seed do not apply
  --attn-scale X     softmax scale of the attention mass (default 1/sqrt(D))
)";

DType parse_dtype(const std::string& s) {
  if (s == "fp8" || s == "fp8_e4m3") return DType::fp8_e4m3;
  if (s == "bf16") return DType::bf16;
  if (s == "f32") return DType::f32;
  throw ArgumentError("--dtype", "expected fp8, bf16 or f32, got '" + s + "'");
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char ch : s) {
    if (ch == sep)
      out.emplace_back();
    else if (ch != ' ')
      out.back() += ch;
  }
  return out;
}

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu;
  if (s == "cuda") return Device::cuda;
  throw ArgumentError("--device", "expected cpu or cuda, got '" + s + "'");
}

}  // namespace

int cmd_eval(const std::vector<std::string>& argv) {
  for (const std::string& a : argv)
    if (a == "--help" || a == "-h") {
      std::cout << kEvalUsage;
      return 0;
    }
  const Args args(
      argv,
      {"--out", "--workload", "--L", "--B", "--m", "--a", "--c", "--topk", "--dtype", "--device",
       "--seed", "--threads", "--reps", "--rows", "--mass-rows", "--commit", "--inputs",
       "--attn-scale", "--summary", "--methods"},
      {});
  eval::SweepOptions o;
  o.out = args.required("--out");
  o.workload = args.str("--workload", o.workload);
  o.L = args.integers("--L", o.L);
  o.B = args.integers("--B", o.B);
  o.m = args.integers("--m", o.m);
  o.a = args.integers("--a", o.a);
  o.c = args.integers("--c", o.c);
  o.topk = args.integer("--topk", o.topk);
  o.dtype = parse_dtype(args.str("--dtype", "fp8"));
  o.device = parse_device(args.str("--device", "cpu"));
  const int64_t seed = args.integer("--seed", 1);
  if (seed < 0) throw ArgumentError("--seed", "must be >= 0");
  o.seed = static_cast<uint64_t>(seed);
  const int64_t threads = args.integer("--threads", 0);
  if (threads < 0 || threads > 4096) throw ArgumentError("--threads", "must be in [0, 4096]");
  o.threads = static_cast<int>(threads);
  const int64_t reps = args.integer("--reps", 0);
  if (reps < 0 || reps > 1000) throw ArgumentError("--reps", "must be in [1, 1000]");
  o.reps = static_cast<int>(reps);
  o.rows = args.integer("--rows", o.rows);
  o.mass_rows = args.integer("--mass-rows", o.mass_rows);
  o.commit = args.str("--commit", "");
  if (args.has("--summary")) {
    o.summaries.clear();
    for (const std::string& name : split(args.str("--summary"), ','))
      o.summaries.push_back(parse_block_summary(name, "--summary"));
  }
  if (args.has("--methods"))
    for (const std::string& spec : split(args.str("--methods"), ';'))
      if (!spec.empty()) o.methods.push_back(spec);
  if (args.has("--methods") && o.methods.empty()) throw ArgumentError("--methods", "is empty");
  o.inputs = args.str("--inputs", "");
  if (args.has("--inputs") && o.inputs.empty()) throw ArgumentError("--inputs", "is empty");
  o.attn_scale = args.real("--attn-scale", 0.0);
  if (args.has("--attn-scale") && !(o.attn_scale > 0))
    throw ArgumentError("--attn-scale", "must be > 0");
  if (o.inputs.empty()) {
    if (args.has("--attn-scale"))
      throw ArgumentError("--attn-scale", "applies to --inputs only");
    eval::run_sweep(o, std::cerr);
    return 0;
  }
  for (const char* flag : {"--workload", "--L", "--dtype", "--seed"})
    if (args.has(flag))
      throw ArgumentError(flag, "does not apply with --inputs (the case files set the inputs)");
  eval::run_inputs_sweep(o, std::cerr, std::cout);
  return 0;
}

}  // namespace hisa::cli
