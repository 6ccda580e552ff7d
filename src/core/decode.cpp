// Decode front door (hisa/decode.hpp): shape, config and value validation, then the CPU
// reference (src/cpu/decode.cpp) or the CUDA backend (src/cuda/decode_*.cu). Every message
// names the argument as the Python API spells it.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>

#include "core/decode_checks.hpp"
#include "cpu/decode.hpp"
#include "cuda/decode_backend.hpp"
#include "hisa/decode.hpp"
#include "hisa/error.hpp"
#include "hisa/select.hpp"

namespace hisa {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

void require(bool ok, const char* argument, const std::string& what) {
  if (!ok) throw ArgumentError(argument, what);
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

void validate_cache(const PagedCache& c, bool need_data) {
  if (c.dtype != DType::fp8_e4m3 && c.dtype != DType::bf16)
    throw DTypeError("kv_cache", std::string("decode supports fp8_e4m3 and bf16 caches, got ") +
                                     to_string(c.dtype));
  require(c.page_size >= 1, "kv_cache", "page size P must be >= 1, got " + str(c.page_size));
  require(c.D >= 16 && c.D % 16 == 0, "kv_cache",
          "D must be a positive multiple of 16, got " + str(c.D));
  if (c.dtype == DType::fp8_e4m3)
    require(c.page_size % 4 == 0, "kv_cache",
            "FP8 pages need P % 4 == 0 (each page and its scales 16-byte aligned), got P=" +
                str(c.page_size));
  require(c.num_pages >= 0, "kv_cache", "num_pages must be >= 0, got " + str(c.num_pages));
  if (need_data) {
    require(c.num_pages >= 1, "kv_cache", "the cache has no pages");
    require(c.data != nullptr, "kv_cache", "null data");
    require(aligned16(c.data), "kv_cache", "data must be 16-byte aligned");
  }
}

void validate_pooled(const PagedCache& c, const PooledCache& pooled, const char* b_name) {
  require(pooled.block_size >= 1, b_name, "B must be >= 1, got " + str(pooled.block_size));
  require(pooled.block_size % c.page_size == 0, b_name,
          "B=" + str(pooled.block_size) + " must be a multiple of the page size P=" +
              str(c.page_size));
  require(pooled.data != nullptr, "pooled", "null pooled-key cache");
  require(aligned16(pooled.data), "pooled", "data must be 16-byte aligned");
}

int64_t first_nonfinite(const void* data, DType dtype, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype) {
      case DType::f32:
        if (!std::isfinite(static_cast<const float*>(data)[i])) return i;
        break;
      case DType::bf16:
        if ((static_cast<const uint16_t*>(data)[i] & 0x7F80) == 0x7F80) return i;
        break;
      case DType::fp8_e4m3:
        if ((static_cast<const uint8_t*>(data)[i] & 0x7F) == 0x7F) return i;
        break;
    }
  }
  return -1;
}

// Host scan: ranges of context_lens and block-table entries, NaN/Inf in q, w and the keys
// (and scales) the sequences use.
void validate_decode_host_values(const DecodeProblem& p, const Options& opts) {
  const PagedCache& c = p.cache;
  const int64_t P = c.page_size;
  for (int64_t b = 0; b < p.batch; ++b) {
    const int64_t ctx = p.context_lens[b];
    if (ctx < 0 || ctx > p.max_pages * P)
      throw decode_checks::bad_context_len(b, ctx, p.max_pages, P);
    for (int64_t j = 0; j < (ctx + P - 1) / P; ++j) {
      const int64_t e = p.block_table[b * p.max_pages + j];
      if (e < 0 || e >= c.num_pages) throw decode_checks::bad_block_table(b, j, e, c.num_pages, ctx);
    }
  }
  if (opts.allow_nonfinite) return;
  const int64_t rows = p.batch * p.next_n;
  int64_t i = first_nonfinite(p.q, c.dtype, rows * p.H * c.D);
  if (i >= 0) throw decode_checks::nonfinite("q", i);
  i = first_nonfinite(p.w, DType::f32, rows * p.H);
  if (i >= 0) throw decode_checks::nonfinite("weights", i);
  const int64_t pb = page_bytes(c);
  for (int64_t b = 0; b < p.batch; ++b) {
    const int64_t ctx = p.context_lens[b];
    for (int64_t pos = 0; pos < ctx; ++pos) {
      const int64_t page = p.block_table[b * p.max_pages + pos / P], off = pos % P;
      const uint8_t* base = static_cast<const uint8_t*>(c.data) + page * pb;
      const int64_t elem = c.dtype == DType::fp8_e4m3 ? 1 : 2;
      if (first_nonfinite(base + off * c.D * elem, c.dtype, c.D) >= 0 ||
          (c.dtype == DType::fp8_e4m3 &&
           first_nonfinite(base + P * c.D + 4 * off, DType::f32, 1) >= 0))
        throw ArgumentError("kv_cache", "the key (or scale) of sequence " + str(b) +
                                            " at position " + str(pos) + " (page " + str(page) +
                                            ") is NaN or Inf (rejected by default; pass "
                                            "allow_nonfinite / --allow-nonfinite to accept)");
    }
  }
}

void validate_update_shapes(const PagedCache& c, const PooledCache& pooled, const PooledUpdate& u) {
  validate_cache(c, true);
  validate_pooled(c, pooled, "block_size");
  const bool multi_page = pooled.block_size > c.page_size;
  if (u.slot_mapping != nullptr) {
    require(u.n >= 0, "slot_mapping", "n must be >= 0, got " + str(u.n));
    require(u.n == 0 || u.positions != nullptr, "positions",
            "the slot-mapping form needs the position of every token");
    if (multi_page && u.n > 0) {
      require(u.seq_index != nullptr, "seq_index",
              "B=" + str(pooled.block_size) + " > P=" + str(c.page_size) +
                  ": a block spans pages, so each token's row of block_table is needed");
      require(u.block_table != nullptr && u.max_pages >= 1 && u.batch >= 1, "block_table",
              "B > P needs the block table (batch, max_pages >= 1)");
    }
    return;
  }
  require(u.batch >= 0, "context_lens", "batch must be >= 0, got " + str(u.batch));
  require(u.new_tokens >= 1 || u.new_tokens == -1, "new_tokens",
          "must be >= 1 (or -1: the whole context), got " + str(u.new_tokens));
  if (u.batch > 0) {
    require(u.context_lens != nullptr, "context_lens", "null data");
    require(u.block_table != nullptr, "block_table", "null data");
    require(u.max_pages >= 1, "block_table", "max_pages must be >= 1, got " + str(u.max_pages));
  }
}

void validate_update_host_values(const PagedCache& c, const PooledCache& pooled,
                                 const PooledUpdate& u) {
  const int64_t P = c.page_size, B = pooled.block_size;
  if (u.slot_mapping != nullptr) {
    // A block's tokens must form one run of the list (padding aside): the device kernel gives
    // each run to one warp, so a block split over two runs would race.
    std::map<int64_t, int64_t> run_of_block;  // pooled row -> index of its run's last token
    int64_t prev = -1;                         // previous non-padding token
    for (int64_t i = 0; i < u.n; ++i) {
      const int64_t slot = u.slot_mapping[i];
      if (slot < 0) continue;
      const int64_t pos = u.positions[i];
      if (slot >= c.num_pages * P)
        throw ArgumentError("slot_mapping", "slot_mapping[" + str(i) + "]=" + str(slot) +
                                                " is outside [0, num_pages * P = " +
                                                str(c.num_pages * P) + ")");
      if (pos < 0 || pos % P != slot % P)
        throw ArgumentError("positions", "positions[" + str(i) + "]=" + str(pos) +
                                             " does not match slot " + str(slot) +
                                             " (its offset in the page is " + str(slot % P) + ")");
      if (B > P) {
        const int64_t s = u.seq_index[i];
        if (s < 0 || s >= u.batch)
          throw ArgumentError("seq_index", "seq_index[" + str(i) + "]=" + str(s) +
                                               " is outside [0, batch=" + str(u.batch) + ")");
        if (pos / P >= u.max_pages || u.block_table[s * u.max_pages + pos / P] != slot / P)
          throw ArgumentError("slot_mapping",
                              "slot_mapping[" + str(i) + "]=" + str(slot) +
                                  " is not where block_table row " + str(s) +
                                  " puts position " + str(pos));
        const int64_t first = u.block_table[s * u.max_pages + (pos / B) * (B / P)];
        if (first < 0 || first >= c.num_pages)
          throw decode_checks::bad_block_table(s, (pos / B) * (B / P), first, c.num_pages, pos + 1);
      }
      const int64_t row = B == P ? slot / P : u.block_table[u.seq_index[i] * u.max_pages + (pos / B) * (B / P)];
      const auto it = run_of_block.find(row);
      if (it != run_of_block.end() && (it->second != prev || u.positions[prev] + 1 != pos))
        throw ArgumentError("slot_mapping",
                            "token " + str(i) + " (position " + str(pos) +
                                ") continues a block whose previous token is not the previous "
                                "token of the list: each sequence's tokens must be consecutive "
                                "and in ascending position order");
      run_of_block[row] = i;
      if (pos % B == B - 1) run_of_block.erase(row);  // the block is complete
      prev = i;
    }
    return;
  }
  for (int64_t b = 0; b < u.batch; ++b) {
    const int64_t ctx = u.context_lens[b];
    if (ctx < 0 || ctx > u.max_pages * P)
      throw decode_checks::bad_context_len(b, ctx, u.max_pages, P);
    if (u.new_tokens > 0 && u.new_tokens > ctx)
      throw ArgumentError("new_tokens", "sequence " + str(b) + " has context_len " + str(ctx) +
                                            " < new_tokens=" + str(u.new_tokens));
    for (int64_t j = 0; j < (ctx + P - 1) / P; ++j) {
      const int64_t e = u.block_table[b * u.max_pages + j];
      if (e < 0 || e >= c.num_pages) throw decode_checks::bad_block_table(b, j, e, c.num_pages, ctx);
    }
  }
}

}  // namespace

int64_t page_bytes(const PagedCache& c) {
  return c.dtype == DType::fp8_e4m3 ? c.page_size * (c.D + 4) : c.page_size * c.D * 2;
}

void validate_decode_shapes(const DecodeProblem& p, const Config& cfg) {
  require(p.batch >= 0, "q", "batch must be >= 0, got " + str(p.batch));
  validate_cache(p.cache, p.batch > 0);
  require(p.next_n >= 1 && p.next_n <= 4, "next_n",
          "must be in [1, 4] (queries per sequence), got " + str(p.next_n));
  require(p.H >= 1, "q", "H must be >= 1, got " + str(p.H));
  require(p.max_pages >= 1, "block_table", "max_pages must be >= 1, got " + str(p.max_pages));
  require(p.max_pages * p.cache.page_size <= std::numeric_limits<int32_t>::max(), "block_table",
          "max_pages * P must fit int32 positions");
  if (p.batch > 0) {
    require(p.q != nullptr, "q", "null data");
    require(aligned16(p.q), "q", "data must be 16-byte aligned");
    require(p.w != nullptr, "weights", "null data");
    require(p.context_lens != nullptr, "context_lens", "null data");
    require(p.block_table != nullptr, "block_table", "null data");
  }
  require(cfg.method == Method::flat || cfg.method == Method::hisa || cfg.method == Method::block,
          "method", std::string("decode supports flat, hisa and block, got ") + to_string(cfg.method));
  require(cfg.block_summary == BlockSummary::mean, "block_summary",
          std::string("decode supports the mean summary only, got ") + to_string(cfg.block_summary));
  require(cfg.topk >= 1 && cfg.topk <= std::numeric_limits<int32_t>::max(), "topk",
          "must be >= 1, got " + str(cfg.topk));
  if (cfg.method == Method::flat) return;
  const int64_t B = cfg.block_size, P = p.cache.page_size;
  require(B >= 1, "block_size", "B must be >= 1, got " + str(B));
  require(B % P == 0, "block_size",
          "B=" + str(B) + " must be a multiple of the page size P=" + str(P) +
              " (pooled keys are kept per block of whole pages)");
  if (cfg.method == Method::hisa)
    require(cfg.blocks >= 2, "blocks",
            "m must be >= 2 (first and local block are always kept), got " + str(cfg.blocks));
  if (cfg.method == Method::block) {
    require(cfg.topk % B == 0, "topk",
            "block-sparse needs topk % B == 0 (topk=" + str(cfg.topk) + ", B=" + str(B) + ")");
    require(cfg.topk / B >= 2, "topk",
            "block-sparse keeps m = topk / B blocks and needs m >= 2 (topk=" + str(cfg.topk) +
                ", B=" + str(B) + ")");
  }
  if (p.batch > 0) {
    require(p.pooled != nullptr, "pooled",
            std::string("method ") + to_string(cfg.method) +
                " needs the pooled-key cache (hisa::pooled_build, then pooled_update)");
    require(aligned16(p.pooled), "pooled", "data must be 16-byte aligned");
  }
}

std::size_t decode_workspace_bytes(const DecodeProblem& p, const Config& cfg, Device device) {
  validate_decode_shapes(p, cfg);
  if (device != Device::cuda) return 0;
  return cuda::decode_workspace_bytes(p, cfg);
}

void decode_select(const DecodeProblem& p, const Config& cfg, int32_t* out, const Options& opts) {
  validate_decode_shapes(p, cfg);
  if (p.batch == 0) return;
  if (out == nullptr) throw ArgumentError("out", "null output buffer");
  if (opts.device == Device::cpu) {
    if (p.memory != Device::cpu)
      throw ArgumentError("device", "inputs are in CUDA memory but the CPU backend was chosen");
    if (opts.check_values) validate_decode_host_values(p, opts);
    cpu::decode_select(p, cfg, out, opts);
    if (cfg.order == Order::index) order_rows_by_index(out, p.batch * p.next_n, cfg.topk);
    return;
  }
  if (!cuda_compiled())
    throw BackendError(
        "--device cuda: this build of hisa has no CUDA backend (rebuild with nvcc on PATH)");
  if (cuda_device_count() == 0)
    throw BackendError("--device cuda: no CUDA-capable GPU is visible to this process");
  if (p.memory == Device::cpu) {
    if (opts.check_values) validate_decode_host_values(p, opts);
    cuda::decode_select_host_staged(p, cfg, out, opts);
  } else {
    cuda::decode_select_device(p, cfg, out, opts);
  }
}

void pooled_update(const PagedCache& cache, const PooledCache& pooled, const PooledUpdate& u,
                   const Options& opts) {
  validate_update_shapes(cache, pooled, u);
  if (u.memory == Device::cpu) {
    if (opts.check_values) validate_update_host_values(cache, pooled, u);
    cpu::pooled_update(cache, pooled, u);
    return;
  }
  if (cuda_device_count() == 0)
    throw BackendError("pooled_update: the caches are in CUDA memory but no GPU is usable here");
  cuda::pooled_update_device(cache, pooled, u, opts);
}

void pooled_build(const PagedCache& cache, const PooledCache& pooled, int64_t batch,
                  const int32_t* block_table, int64_t max_pages, const int32_t* context_lens,
                  const Options& opts, Device memory) {
  PooledUpdate u;
  u.batch = batch;
  u.block_table = block_table;
  u.max_pages = max_pages;
  u.context_lens = context_lens;
  u.new_tokens = -1;
  u.memory = memory;
  pooled_update(cache, pooled, u, opts);
}

}  // namespace hisa
