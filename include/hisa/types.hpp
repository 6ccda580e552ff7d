// Core value types shared by every front end (CLI, C++ API, Python) and every backend.
// One Problem + one Config + Options flow into hisa::select (select.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace hisa {

// Element type of q and k (they share one family). w, k_scale are always f32; ks/ke i32.
enum class DType : int { f32 = 0, bf16 = 1, fp8_e4m3 = 2 };

// Where the Problem's pointers live, and which backend runs.
enum class Device : int { cpu = 0, cuda = 1 };

// flat (exact DSA), hisa (hierarchical), block (block-sparse baseline), misa (routed heads),
// proj (projected-key candidates + exact re-rank), hisa_misa (HISA's block filter, MISA's
// routed heads over the kept tokens, exact re-rank). docs/semantics.md defines each.
enum class Method : int { flat = 0, hisa = 1, block = 2, misa = 3, proj = 4, hisa_misa = 5 };

// HISA's stage-1 block summary (SPEC.md "HISA variants"; docs/semantics.md): the mean pooled
// key, Quest's channel-wise bound, or emax (mean + sqrt(2 ln B) * the channel-wise spread: an
// estimate of the block's best token score).
enum class BlockSummary : int { mean = 0, bound = 1, emax = 2 };

// Order of each idx row (SPEC.md allows a faster order when the API names it): `score` is
// SPEC.md's (score descending, ties to the larger index); `index` holds exactly the same set in
// ascending index order, -1 padding last. Sparse attention does not need score order, and the
// sm_90a HISA kernels then skip their per-row sort (docs/cuda_hisa.md).
enum class Order : int { score = 0, index = 1 };

const char* to_string(DType d);
const char* to_string(Device d);
const char* to_string(Method m);
const char* to_string(BlockSummary b);
const char* to_string(Order o);
std::size_t dtype_size(DType d);  // bytes per element of q/k: 4, 2, 1

// Views of the prefill inputs (SPEC.md "Inputs"). All arrays are dense, row-major (C order).
//   q       [T, H, D]  dtype        indexer queries
//   k       [S, D]     dtype        indexer keys (one shared head)
//   k_scale [S]        f32 or null  per-key dequant scale (1 if null)
//   w       [T, H]     f32          per-query head weights
//   ks, ke  [T]        i32 or null  visible keys of query t are [ks[t], ke[t]).
//                                   Both null: default causal range ks=0, ke=S-T+t+1.
//                                   Exactly one null is an error.
// `memory` says where all pointers live (host or CUDA device memory).
struct Problem {
  DType dtype = DType::f32;
  int64_t T = 0, S = 0, H = 0, D = 0;
  const void* q = nullptr;
  const void* k = nullptr;
  const float* k_scale = nullptr;
  const float* w = nullptr;
  const int32_t* ks = nullptr;
  const int32_t* ke = nullptr;
  Device memory = Device::cpu;
};

// MISA's recommended router block size: fidelity rises from B = 64 to 1024 on the structured
// workload (+1.2 to +4.8 IoU points) and the GPU router gets cheaper (docs/cuda_misa.md). The
// CLI, the Python misa_topk and method specs default to it; Config's block_size stays 64
// (HISA's), so C++ callers of MISA set it.
constexpr int64_t kMisaBlockSize = 1024;

// Method configuration (SPEC.md). Defaults follow the CLI: B=64, m=64, a=8, topk=2048.
struct Config {
  Method method = Method::flat;
  int64_t topk = 2048;
  int64_t block_size = 64;  // B: HISA, block-sparse, hisa_misa; MISA router statistics
  int64_t blocks = 64;      // m: kept blocks for HISA and hisa_misa (block-sparse: topk / B)
  int64_t heads = 8;        // a: active (routed) heads for MISA and hisa_misa
  int64_t candidates = 1;   // c: candidates c*topk re-ranked exactly (misa: 1 = plain MISA;
                            // proj, hisa_misa)
  BlockSummary block_summary = BlockSummary::mean;  // stage 1 of hisa, block, hisa_misa
  int64_t proj_dim = 16;    // d': dimensions of proj's reduced key space (1..D)
  int64_t shared_candidates = 1;  // Q: hisa only; each query of a tile of Q consecutive query
                                  // rows selects from the union of the tile's kept blocks
                                  // (SPEC.md "HISA variants"); 1 = plain HISA
  Order order = Order::score;     // row order; index: same set, ascending index
};

// Reorders each of `rows` idx rows of `topk` entries (host memory) from score order to index
// order: the valid prefix ascending, -1 padding kept last.
void order_rows_by_index(int32_t* rows, int64_t nrows, int64_t topk);

// Execution options. None of them changes the result.
struct Options {
  Device device = Device::cpu;   // backend that runs the selection
  bool allow_nonfinite = false;  // false: NaN/Inf in q, k, w, k_scale is an ArgumentError
  bool check_values = true;      // scan values (NaN/Inf, ks/ke range) before running.
                                 // Host memory: always possible. Device memory: costs a
                                 // device->host sync, so graph-captured callers set false.
  int threads = 0;               // CPU worker threads; 0 = hardware concurrency
  void* stream = nullptr;        // cudaStream_t for the CUDA backend (null = default stream)
  void* workspace = nullptr;     // CUDA: caller-provided device workspace (see workspace_bytes)
  std::size_t workspace_bytes = 0;
};

// Visible range of query t (resolves the default causal range).
struct Range {
  int64_t ks, ke;
  int64_t n() const { return ke - ks; }
};
inline Range range_of(const Problem& p, int64_t t) {
  if (p.ks == nullptr) return Range{0, p.S - p.T + t + 1};
  return Range{p.ks[t], p.ke[t]};
}

}  // namespace hisa
