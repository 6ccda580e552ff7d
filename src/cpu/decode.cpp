// Decode on the CPU: the readable reference of SPEC.md "Decode". Each query row is the prefill
// rule applied at the query's position, with keys read through the block table and HISA's
// block scores taken from the pooled-key cache. Every number is computed in the arithmetic of
// score.hpp (sequential fma dots, fma head sum, one multiply by k_scale; pooled keys as the
// f32 sum of f32 products divided once by B), so each row equals cpu::select's row for the same
// query bit for bit; tests/cpu/test_decode_*.cpp check exactly that.
#include "cpu/decode.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/score.hpp"
#include "cpu/topk.hpp"

namespace hisa::cpu {
namespace {

// Byte view of one page and the decoded key of one of its tokens.
struct Pages {
  const PagedCache& c;
  int64_t bytes;  // page_bytes(c)
  const uint8_t* page(int64_t page_id) const {
    return static_cast<const uint8_t*>(c.data) + page_id * bytes;
  }
  bool scaled() const { return c.dtype == DType::fp8_e4m3; }
  // Decodes the key at offset `off` of `page` into out[0..D) and returns its k_scale (1 for
  // bf16 pages, which carry none and are scored without a multiply, like k_scale == null).
  float key(const uint8_t* page, int64_t off, float* out) const {
    if (c.dtype == DType::fp8_e4m3) {
      decode_run(DType::fp8_e4m3, page, off * c.D, c.D, out);
      float s;
      std::memcpy(&s, page + c.page_size * c.D + 4 * off, 4);
      return s;
    }
    decode_run(DType::bf16, page, off * c.D, c.D, out);
    return 1.0f;
  }
};

// The head sum of score.hpp: sc = fma(w[h], relu(dot(q_h, k)), sc), h ascending.
float head_sum(const float* q, const float* w, int64_t H, const float* k, int64_t D) {
  float sc = 0.0f;
  for (int64_t h = 0; h < H; ++h) sc = std::fma(w[h], relu(dot_sequential(q + h * D, k, D)), sc);
  return sc;
}

struct RowScratch {
  std::vector<float> q, key;
  std::vector<uint64_t> ranked, blocks;
  std::vector<int32_t> ids;
};

// Row r = b * next_n + i of the output.
void decode_row(const DecodeProblem& p, const Config& cfg, int64_t r, RowScratch& s,
                int32_t* out_row) {
  const PagedCache& c = p.cache;
  const Pages pages{c, page_bytes(c)};
  const int64_t b = r / p.next_n, i = r % p.next_n, D = c.D, P = c.page_size, H = p.H;
  const int64_t topk = cfg.topk;
  const int64_t ctx = std::clamp<int64_t>(p.context_lens[b], 0, p.max_pages * P);
  const int64_t n = ctx - p.next_n + i + 1;  // visible positions [0, n)
  std::fill(out_row, out_row + topk, -1);
  if (n <= 0) return;
  const int32_t* table = p.block_table + b * p.max_pages;

  s.q.resize(H * D);
  s.key.resize(D);
  decode_run(c.dtype, p.q, r * H * D, H * D, s.q.data());
  const float* w = p.w + r * H;

  // Token score I(t, s) of the key at position pos (score.hpp).
  auto score = [&](int64_t pos) {
    const float scale = pages.key(pages.page(table[pos / P]), pos % P, s.key.data());
    const float sc = head_sum(s.q.data(), w, H, s.key.data(), D);
    return pages.scaled() ? scale * sc : sc;
  };

  s.ranked.clear();
  const int64_t B = cfg.block_size;
  const int64_t m = cfg.method == Method::block ? topk / B : cfg.blocks;
  const int64_t nb = cfg.method == Method::flat ? 0 : (n + B - 1) / B;
  if (cfg.method == Method::flat || n <= topk || nb <= m) {
    // flat, or a row whose every token is a candidate (SPEC: the answer is flat's).
    for (int64_t pos = 0; pos < n; ++pos) s.ranked.push_back(rank_key(score(pos), pos));
  } else {
    // Stage 1: J(t, j) of the middle blocks 1 .. nb-2 from their pooled rows (full blocks).
    s.blocks.clear();
    for (int64_t j = 1; j < nb - 1; ++j) {
      const float* kbar = p.pooled + static_cast<int64_t>(table[j * B / P]) * D;
      s.blocks.push_back(rank_key(head_sum(s.q.data(), w, H, kbar, D), j));
    }
    keep_top(s.blocks, m - 2, /*ranked=*/false);
    s.ids.assign({0, static_cast<int32_t>(nb - 1)});
    for (uint64_t key : s.blocks) s.ids.push_back(index_of(key));
    std::sort(s.ids.begin(), s.ids.end());
    // Stage 2: the kept blocks' tokens (only the local block can be cut by n).
    for (int32_t j : s.ids)
      for (int64_t pos = j * B; pos < std::min(n, (j + 1) * B); ++pos)
        s.ranked.push_back(rank_key(score(pos), pos));
  }
  keep_top(s.ranked, topk);
  write_ranked(s.ranked, out_row, topk);
}

}  // namespace

void decode_select(const DecodeProblem& p, const Config& cfg, int32_t* out, const Options& opts) {
  const int64_t rows = p.batch * p.next_n;
  if (rows == 0) return;
  const int workers = worker_count(opts.threads, rows);
  std::vector<RowScratch> scratch(workers);
  parallel_for(rows, workers, [&](int64_t r, int worker) {
    decode_row(p, cfg, r, scratch[worker], out + r * cfg.topk);
  });
}

void pooled_update(const PagedCache& c, const PooledCache& pooled, const PooledUpdate& u) {
  const Pages pages{c, page_bytes(c)};
  const int64_t D = c.D, P = c.page_size, B = pooled.block_size;
  const float count = static_cast<float>(B);
  std::vector<float> key(D);
  // Adds the token at `pos` (sitting at offset `off` of physical page `page`) to the row of its
  // block's first page: a block's first token starts a fresh sum, its last turns it into the
  // mean. The running sum is stored in f32 between tokens, so token-at-a-time equals any
  // batching of the same tokens bit for bit.
  auto add = [&](int64_t pos, int64_t page, int64_t off, int64_t first_page) {
    const float scale = pages.key(pages.page(page), off, key.data());
    float* row = pooled.data + first_page * D;
    const bool fresh = pos % B == 0, last = pos % B == B - 1;
    for (int64_t d = 0; d < D; ++d) {
      const float v = pages.scaled() ? scale * key[d] : key[d];
      const float sum = (fresh ? 0.0f : row[d]) + v;
      row[d] = last ? sum / count : sum;
    }
  };
  if (u.slot_mapping != nullptr) {
    for (int64_t i = 0; i < u.n; ++i) {
      const int64_t slot = u.slot_mapping[i];
      if (slot < 0) continue;  // padding token
      const int64_t pos = u.positions[i];
      const int64_t first =
          B == P ? slot / P : u.block_table[u.seq_index[i] * u.max_pages + (pos / B) * (B / P)];
      add(pos, slot / P, slot % P, first);
    }
    return;
  }
  for (int64_t b = 0; b < u.batch; ++b) {
    const int32_t* table = u.block_table + b * u.max_pages;
    const int64_t ctx = std::clamp<int64_t>(u.context_lens[b], 0, u.max_pages * P);
    const int64_t from = u.new_tokens < 0 ? 0 : std::max<int64_t>(0, ctx - u.new_tokens);
    for (int64_t pos = from; pos < ctx; ++pos)
      add(pos, table[pos / P], pos % P, table[(pos / B) * (B / P)]);
  }
}

}  // namespace hisa::cpu
