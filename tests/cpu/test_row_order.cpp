// Row order (types.hpp Order) on the CPU: order = index gives, for every method and for decode,
// each score-order row's valid prefix sorted ascending, -1 padding last; parse_order names its
// argument.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "decode_fixture.hpp"
#include "hisa/spec.hpp"
#include "test_cpu_reference.hpp"

namespace hisa_test {
namespace {

using hisa::Order;

// Each index row is its score row's valid entries sorted ascending, then -1s (checked without
// order_rows_by_index); some rows are padded and some reordered, so the check means something.
void expect_index_order(const std::vector<int32_t>& score, const std::vector<int32_t>& index,
                        int64_t topk, const std::string& what) {
  ASSERT_EQ(score.size(), index.size()) << what;
  int64_t padded = 0, reordered = 0;
  for (std::size_t r = 0; r * topk < score.size(); ++r) {
    const auto first = score.begin() + r * topk, last = first + topk;
    std::vector<int32_t> want(first, std::find(first, last, -1));
    std::sort(want.begin(), want.end());
    padded += want.size() < static_cast<std::size_t>(topk);
    want.resize(topk, -1);
    const std::vector<int32_t> got(index.begin() + r * topk, index.begin() + (r + 1) * topk);
    ASSERT_EQ(got, want) << what << ": row " << r;
    reordered += !std::equal(got.begin(), got.end(), first);
  }
  EXPECT_GT(padded, 0) << what << ": no row is shorter than topk";
  EXPECT_GT(reordered, 0) << what << ": score order was already ascending everywhere";
}

TEST(RowOrder, ScoreIsTheDefault) { EXPECT_EQ(Config{}.order, Order::score); }

TEST(RowOrder, OrderRowsByIndexSortsTheValidPrefix) {
  std::vector<int32_t> rows = {9, 2, 7, -1, -1, /**/ 4, 3, 8, 1, 0, /**/ -1, -1, -1, -1, -1};
  hisa::order_rows_by_index(rows.data(), 3, 5);
  EXPECT_EQ(rows, (std::vector<int32_t>{2, 7, 9, -1, -1, 0, 1, 3, 4, 8, -1, -1, -1, -1, -1}));
}

TEST(RowOrder, EveryMethodGivesTheScoreRowsSortedByIndex) {
  // Packed sequences; query i of a sequence sees i + 1 keys, so early rows are padded.
  const TestProblem tp = packed_problem(DType::fp8_e4m3, {70, 33, 120}, 4, 16, 31);
  Config proj = make_config(Method::proj, 24, 8, 4, 2, 2);
  proj.proj_dim = 4;
  const Config configs[] = {
      make_config(Method::flat, 24),
      make_config(Method::hisa, 24, 8, 4),
      make_config(Method::block, 24, 8),
      make_config(Method::misa, 24, 16, 4, 2, 2),
      proj,
      make_config(Method::hisa_misa, 24, 8, 5, 2, 2),
  };
  for (Config cfg : configs) {
    const std::vector<int32_t> score = run_select(tp, cfg);
    cfg.order = Order::index;
    const std::vector<int32_t> index = run_select(tp, cfg);
    expect_index_order(score, index, cfg.topk, hisa::to_spec(cfg));
  }
}

TEST(RowOrder, DecodeGivesTheScoreRowsSortedByIndex) {
  using hisa_decode_test::decode_cfg;
  hisa_decode_test::DecodeCase c =
      hisa_decode_test::make_case(DType::fp8_e4m3, {1, 16, 33, 0, 250, 400}, 2, 4, 32, 16, 7);
  c.build_pooled(16);
  for (Config cfg : {decode_cfg(Method::flat, 40), decode_cfg(Method::hisa, 40, 16, 4),
                     decode_cfg(Method::block, 48, 16)}) {
    std::vector<int32_t> score(c.batch * c.next_n * cfg.topk), index(score.size());
    hisa::Options opts;
    opts.threads = 2;
    hisa::decode_select(c.view(), cfg, score.data(), opts);
    cfg.order = Order::index;
    hisa::decode_select(c.view(), cfg, index.data(), opts);
    expect_index_order(score, index, cfg.topk, std::string("decode ") + hisa::to_string(cfg.method));
  }
}

TEST(RowOrder, ParseOrderNamesTheArgument) {
  EXPECT_EQ(hisa::parse_order("score", "--order"), Order::score);
  EXPECT_EQ(hisa::parse_order("index", "--order"), Order::index);
  EXPECT_STREQ(hisa::to_string(Order::index), "index");
  for (const std::string bad : {"Index", "", "ascending"}) {
    try {
      hisa::parse_order(bad, "--order");
      ADD_FAILURE() << "'" << bad << "' was accepted";
    } catch (const hisa::ArgumentError& e) {
      EXPECT_EQ(e.argument(), "--order");
      EXPECT_NE(std::string(e.what()).find("'" + bad + "'"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace hisa_test
