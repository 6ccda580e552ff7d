// Decode on the CPU (SPEC.md "Decode"): every decode row equals the prefill reference
// (hisa::select on the sequence's contiguous keys) of the same query at the same position, bit
// for bit; the pooled-key cache after any sequence of appends equals one built from scratch;
// bad inputs raise ArgumentError naming the argument.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <cstring>
#include <string>
#include <vector>

#include "decode_fixture.hpp"

namespace hisa_decode_test {
namespace {

// Lengths that exercise the edges for P = 16, B in {16, 32}: one token, exactly one page,
// block boundaries +-1, shorter than next_n, empty, and long rows that need block selection.
std::vector<int32_t> edge_lengths() { return {1, 16, 31, 32, 33, 0, 3, 250, 517, 64, 400}; }

std::vector<int32_t> run_decode(const DecodeCase& c, const Config& cfg) {
  std::vector<int32_t> out(c.batch * c.next_n * cfg.topk, 0x5A5A5A5A);
  hisa::Options opts;
  opts.threads = 2;
  hisa::decode_select(c.view(), cfg, out.data(), opts);
  return out;
}

void expect_same(const std::vector<int32_t>& got, const std::vector<int32_t>& want,
                 const DecodeCase& c, const Config& cfg, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) {
      const int64_t row = static_cast<int64_t>(i) / cfg.topk;
      FAIL() << what << ": row " << row << " (sequence " << row / c.next_n << ", query "
             << row % c.next_n << ", len " << c.lens[row / c.next_n] << ") slot " << i % cfg.topk
             << ": decode " << got[i] << ", prefill " << want[i];
    }
  }
}

TEST(DecodeCpu, EqualsPrefillForEveryMethodDtypeAndNextN) {
  int checked = 0;
  for (DType dtype : {DType::fp8_e4m3, DType::bf16}) {
    for (int64_t next_n = 1; next_n <= 4; ++next_n) {
      const DecodeCase base =
          make_case(dtype, edge_lengths(), next_n, 4, 32, 16, 100 + 7 * next_n);
      for (int64_t B : {16, 32}) {
        DecodeCase c = base;
        c.build_pooled(B);
        const Config configs[] = {
            decode_cfg(Method::flat, 40),
            decode_cfg(Method::hisa, 40, B, 4),   // selects blocks from ~400 tokens
            decode_cfg(Method::hisa, 96, B, 3),   // m - 2 = 1
            decode_cfg(Method::hisa, 24, B, 2),   // only block 0 and the local block
            decode_cfg(Method::block, 2 * B, B),  // m = 2
            decode_cfg(Method::block, 4 * B, B),
        };
        for (const Config& cfg : configs) {
          const std::string what = std::string(hisa::to_string(dtype)) + " next_n=" +
                                   std::to_string(next_n) + " B=" + std::to_string(B) + " " +
                                   hisa::to_spec(cfg) + " topk=" + std::to_string(cfg.topk);
          expect_same(run_decode(c, cfg), prefill_reference(c, cfg), c, cfg, what);
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 2 * 4 * 2 * 6);
}

TEST(DecodeCpu, LongSequencesWithRealisticShape) {
  // H = 64, D = 128, P = 64, B = 64 and 128: the DSA shapes, two sequences of a few thousand.
  DecodeCase c = make_case(DType::fp8_e4m3, {3000, 1100, 64}, 2, 64, 128, 64, 5);
  for (int64_t B : {64, 128}) {
    c.build_pooled(B);
    for (const Config& cfg : {decode_cfg(Method::hisa, 256, B, 6), decode_cfg(Method::flat, 256),
                              decode_cfg(Method::block, 4 * B, B)})
      expect_same(run_decode(c, cfg), prefill_reference(c, cfg), c, cfg, hisa::to_spec(cfg));
  }
}

TEST(DecodeCpu, RowsThatSeeNothingAreAllMinusOne) {
  DecodeCase c = make_case(DType::fp8_e4m3, {0, 2}, 4, 2, 16, 4, 9);
  const std::vector<int32_t> out = run_decode(c, decode_cfg(Method::flat, 5));
  // Sequence 0 (len 0): 4 empty rows. Sequence 1 (len 2, next_n 4): rows 0, 1 see nothing, row 2
  // sees position 0, row 3 positions {0, 1}.
  for (int64_t i = 0; i < 6 * 5; ++i) EXPECT_EQ(out[i], -1) << i;
  EXPECT_EQ(out[6 * 5], 0);
  EXPECT_EQ(out[6 * 5 + 1], -1);
  EXPECT_TRUE((out[7 * 5] == 0 && out[7 * 5 + 1] == 1) || (out[7 * 5] == 1 && out[7 * 5 + 1] == 0));
}

// ---- pooled-key cache -------------------------------------------------------------------------

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

// Rows of the pooled cache that hold a block of some sequence (the rest are unused).
std::vector<float> used_rows(const DecodeCase& c, const std::vector<float>& pooled, int64_t B) {
  std::vector<float> rows;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t j = 0; j * B < c.lens[b]; ++j) {
      const int64_t e = c.table[b * c.max_pages + j * (B / c.P)];
      rows.insert(rows.end(), pooled.begin() + e * c.D, pooled.begin() + (e + 1) * c.D);
    }
  return rows;
}

TEST(DecodeCpu, PooledKeyIsTheContractMeanBitForBit) {
  for (DType dtype : {DType::fp8_e4m3, DType::bf16}) {
    DecodeCase c = make_case(dtype, {200, 64}, 1, 2, 32, 16, 3);
    c.build_pooled(32);
    for (int64_t b = 0; b < c.batch; ++b)
      for (int64_t j = 0; j * 32 < c.lens[b]; ++j) {
        const int64_t e = c.table[b * c.max_pages + j * 2];
        const int64_t end = std::min<int64_t>(c.lens[b], (j + 1) * 32);
        for (int64_t d = 0; d < c.D; ++d) {
          float acc = 0.0f;
          for (int64_t s = j * 32; s < end; ++s) {
            const float k = dtype == DType::fp8_e4m3
                                ? hisa::fp8_e4m3_to_float(c.seq_k[b][s * c.D + d])
                                : hisa::bf16_to_float(reinterpret_cast<const uint16_t*>(
                                      c.seq_k[b].data())[s * c.D + d]);
            acc = acc + (dtype == DType::fp8_e4m3 ? c.seq_scale[b][s] * k : k);
          }
          const float want = end - j * 32 == 32 ? acc / 32.0f : acc;  // open block: running sum
          ASSERT_EQ(std::memcmp(&want, &c.pooled[e * c.D + d], 4), 0)
              << hisa::to_string(dtype) << " seq " << b << " block " << j << " d " << d;
        }
      }
  }
}

TEST(DecodeCpu, IncrementalAppendsEqualBuildFromScratch) {
  std::mt19937 rng(17);
  for (int64_t B : {16, 48}) {
    const std::vector<int32_t> final_lens = {300, 47, 16, 129, 1};
    DecodeCase c = make_case(DType::fp8_e4m3, final_lens, 1, 2, 32, 16, 21);
    c.build_pooled(B);
    const std::vector<float> want = used_rows(c, c.pooled, B);

    // Prefill hand-off at random lengths, then appends in random chunks through the slot
    // mapping, sequences interleaved (each in position order).
    std::vector<int32_t> lens(final_lens.size());
    for (std::size_t b = 0; b < lens.size(); ++b)
      lens[b] = std::uniform_int_distribution<int32_t>(0, final_lens[b])(rng);
    std::vector<float> pooled(c.num_pages * c.D, std::nanf(""));
    const hisa::PooledCache pc{pooled.data(), B};
    hisa::pooled_build(c.paged(), pc, c.batch, c.table.data(), c.max_pages, lens.data());
    while (lens != final_lens) {
      std::vector<int64_t> slots;
      std::vector<int32_t> pos, seq;
      for (int64_t b = 0; b < c.batch; ++b) {
        const int32_t add = std::min(final_lens[b] - lens[b],
                                     std::uniform_int_distribution<int32_t>(0, 40)(rng));
        for (int32_t t = 0; t < add; ++t) {
          const int32_t p = lens[b] + t;
          slots.push_back(int64_t{c.table[b * c.max_pages + p / c.P]} * c.P + p % c.P);
          pos.push_back(p);
          seq.push_back(static_cast<int32_t>(b));
          if (rng() % 5 == 0) {  // a padding token (vLLM pads with slot -1)
            slots.push_back(-1);
            pos.push_back(0);
            seq.push_back(0);
          }
        }
        lens[b] += add;
      }
      if (slots.empty()) continue;
      hisa::PooledUpdate u;
      u.n = static_cast<int64_t>(slots.size());
      u.slot_mapping = slots.data();
      u.positions = pos.data();
      u.seq_index = seq.data();
      u.batch = c.batch;
      u.block_table = c.table.data();
      u.max_pages = c.max_pages;
      hisa::pooled_update(c.paged(), pc, u);
    }
    EXPECT_TRUE(same_bits(used_rows(c, pooled, B), want)) << "B=" << B << " slot-mapping form";

    // The per-sequence form: one decode step of 3 tokens at a time.
    std::vector<float> pooled2(c.num_pages * c.D, std::nanf(""));
    const hisa::PooledCache pc2{pooled2.data(), B};
    for (std::size_t b = 0; b < lens.size(); ++b) lens[b] = final_lens[b] % 3;
    hisa::pooled_build(c.paged(), pc2, c.batch, c.table.data(), c.max_pages, lens.data());
    for (int64_t b = 0; b < c.batch; ++b) {  // one sequence at a time (a batch of 1)
      while (lens[b] != final_lens[b]) {
        lens[b] += 3;
        hisa::PooledUpdate u;
        u.batch = 1;
        u.block_table = c.table.data() + b * c.max_pages;
        u.max_pages = c.max_pages;
        u.context_lens = lens.data() + b;
        u.new_tokens = 3;
        hisa::pooled_update(c.paged(), pc2, u);
      }
    }
    EXPECT_TRUE(same_bits(used_rows(c, pooled2, B), want)) << "B=" << B << " per-sequence form";
  }
}

// ---- bad inputs -----------------------------------------------------------------------------

std::string argument_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const hisa::ArgumentError& e) {
    return e.argument();
  }
  return "(no ArgumentError)";
}

TEST(DecodeCpu, BadInputsNameTheArgument) {
  DecodeCase c = make_case(DType::fp8_e4m3, {100, 40}, 1, 2, 32, 16, 8);
  c.build_pooled(32);
  std::vector<int32_t> out(2 * 64);
  const Config hisa_cfg = decode_cfg(Method::hisa, 64, 32, 2);
  auto run = [&](hisa::DecodeProblem p, Config cfg) {
    return argument_of([&] { hisa::decode_select(p, cfg, out.data()); });
  };
  EXPECT_EQ(run(c.view(), hisa_cfg), "(no ArgumentError)");

  std::vector<int32_t> table = c.table;
  table[1 * c.max_pages + 2] = static_cast<int32_t>(c.num_pages);  // used by sequence 1 (len 40)
  hisa::DecodeProblem p = c.view();
  p.block_table = table.data();
  EXPECT_EQ(run(p, hisa_cfg), "block_table");
  table[1 * c.max_pages + 2] = -1;
  EXPECT_EQ(run(p, hisa_cfg), "block_table");

  std::vector<int32_t> lens = c.lens;
  lens[0] = static_cast<int32_t>(c.max_pages * c.P + 1);
  p = c.view();
  p.context_lens = lens.data();
  EXPECT_EQ(run(p, hisa_cfg), "context_lens");
  lens[0] = -1;
  EXPECT_EQ(run(p, hisa_cfg), "context_lens");

  EXPECT_EQ(run(c.view(), decode_cfg(Method::hisa, 64, 24, 2)), "block_size");  // 24 % 16
  EXPECT_EQ(run(c.view(), decode_cfg(Method::block, 64, 8)), "block_size");

  p = c.view();
  p.cache.data = c.cache.data() + 1;  // misaligned
  EXPECT_EQ(run(p, decode_cfg(Method::flat, 64)), "kv_cache");
  p = c.view();
  p.cache.D = 24;  // not a multiple of 16
  EXPECT_EQ(run(p, decode_cfg(Method::flat, 64)), "kv_cache");
  p = c.view();
  p.cache.page_size = 6;  // FP8 pages need P % 4 == 0
  EXPECT_EQ(run(p, decode_cfg(Method::flat, 64)), "kv_cache");

  for (int64_t bad : {0, 5}) {
    p = c.view();
    p.next_n = bad;
    EXPECT_EQ(run(p, decode_cfg(Method::flat, 64)), "next_n") << bad;
  }
  p = c.view();
  p.pooled = nullptr;
  EXPECT_EQ(run(p, hisa_cfg), "pooled");
  Config misa = hisa_cfg;
  misa.method = Method::misa;
  EXPECT_EQ(run(c.view(), misa), "method");
  Config bound = hisa_cfg;
  bound.block_summary = hisa::BlockSummary::bound;
  EXPECT_EQ(run(c.view(), bound), "block_summary");

  std::vector<uint8_t> q = c.q;
  q[5] = 0x7F;  // FP8 NaN
  p = c.view();
  p.q = q.data();
  EXPECT_EQ(run(p, hisa_cfg), "q");
  hisa::Options lax;
  lax.allow_nonfinite = true;
  EXPECT_NO_THROW(hisa::decode_select(p, hisa_cfg, out.data(), lax));

  // pooled_update: a slot that is not where the position says, B not a multiple of P.
  const hisa::PooledCache pc{c.pooled.data(), 32};
  std::vector<int64_t> slots = {int64_t{c.table[0]} * c.P + 3};
  std::vector<int32_t> pos = {4}, seq = {0};
  hisa::PooledUpdate u;
  u.n = 1;
  u.slot_mapping = slots.data();
  u.positions = pos.data();
  u.seq_index = seq.data();
  u.batch = c.batch;
  u.block_table = c.table.data();
  u.max_pages = c.max_pages;
  EXPECT_EQ(argument_of([&] { hisa::pooled_update(c.paged(), pc, u); }), "positions");
  EXPECT_EQ(argument_of([&] { hisa::pooled_update(c.paged(), hisa::PooledCache{c.pooled.data(), 20}, u); }),
            "block_size");
  u.seq_index = nullptr;
  EXPECT_EQ(argument_of([&] { hisa::pooled_update(c.paged(), pc, u); }), "seq_index");
}

}  // namespace
}  // namespace hisa_decode_test
