// `hisa eval --inputs`: case directories (loader and its named errors), the softmax attention
// mass and the block diagnostics against brute force, the cost model, and the pooled sweep.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "eval/attention_mass.hpp"
#include "eval/block_diagnostics.hpp"
#include "eval/case_inputs.hpp"
#include "eval/cost.hpp"
#include "eval/sweep.hpp"
#include "hisa/error.hpp"
#include "hisa/metrics.hpp"
#include "hisa/npy.hpp"
#include "hisa/numeric.hpp"
#include "hisa/select.hpp"
#include "hisa/workload.hpp"
#include "npy_raw.hpp"
#include "test_files.hpp"

namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) { return hisa::test::temp_dir("inputs_" + name); }

const char* descr(hisa::DType d) {
  return d == hisa::DType::f32 ? "<f4" : d == hisa::DType::bf16 ? "<u2" : "|u1";
}

// Writes `wl` as a case directory (the layout case_inputs.hpp reads).
void write_case(const hisa::Workload& wl, const fs::path& dir) {
  fs::create_directories(dir);
  auto path = [&dir](const char* f) { return (dir / f).string(); };
  hisa::write_npy(path("q.npy"), descr(wl.dtype), {wl.T, wl.H, wl.D}, wl.q.data(), wl.q.size());
  hisa::write_npy(path("k.npy"), descr(wl.dtype), {wl.S, wl.D}, wl.k.data(), wl.k.size());
  hisa::write_npy(path("w.npy"), "<f4", {wl.T, wl.H}, wl.w.data(), wl.w.size() * 4);
  if (!wl.k_scale.empty())
    hisa::write_npy(path("k_scale.npy"), "<f4", {wl.S}, wl.k_scale.data(), wl.k_scale.size() * 4);
  if (!wl.q_scale.empty())
    hisa::write_npy(path("q_scale.npy"), "<f4", {wl.T, wl.H}, wl.q_scale.data(),
                    wl.q_scale.size() * 4);
}

hisa::Workload small_structured(int64_t L, uint64_t seed) {
  hisa::StructuredSpec s;
  s.T = L;
  s.S = L;
  s.H = 4;
  s.D = 32;
  s.topics = 6;
  s.segment = 48;
  s.needles = 2;
  s.seed = seed;
  return hisa::make_structured(s);
}

std::vector<int32_t> select_all(const hisa::Workload& wl, hisa::Config cfg) {
  std::vector<int32_t> idx(static_cast<std::size_t>(wl.T * cfg.topk));
  hisa::Options o;
  o.threads = 2;
  hisa::select(wl.problem(), cfg, idx.data(), o);
  return idx;
}

std::string read_text(const fs::path& p) { return hisa::test::read_file(p.string()); }
using hisa::test::count_of;

TEST(CaseInputs, RoundTripAndDiscovery) {
  const fs::path dir = temp_dir("roundtrip");
  const hisa::Workload f32 = small_structured(200, 3);
  const hisa::Workload fp8 = hisa::quantize_fp8(f32);
  write_case(f32, dir / "L01_g0");
  write_case(fp8, dir / "L00_g1");
  fs::create_directories(dir / "not_a_case");
  const std::vector<std::string> cases = hisa::eval::find_case_dirs(dir.string(), "--inputs");
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(fs::path(cases[0]).filename(), "L00_g1");  // sorted by name
  EXPECT_EQ(hisa::eval::find_case_dirs(cases[1], "--inputs"), std::vector<std::string>{cases[1]});

  const hisa::Workload back = hisa::eval::load_case(cases[0] + "/");
  EXPECT_EQ(back.description, "L00_g1");
  EXPECT_EQ(back.dtype, hisa::DType::fp8_e4m3);
  EXPECT_EQ(back.q, fp8.q);
  EXPECT_EQ(back.k, fp8.k);
  EXPECT_EQ(back.w, fp8.w);
  EXPECT_EQ(back.k_scale, fp8.k_scale);
  EXPECT_EQ(back.q_scale, fp8.q_scale);
  EXPECT_TRUE(back.ks.empty());
  fs::remove_all(dir);
}

TEST(CaseInputs, ErrorsNameTheFile) {
  const fs::path dir = temp_dir("errors");
  auto expect_error = [](const std::string& case_dir, const std::string& file) {
    try {
      hisa::eval::load_case(case_dir);
      ADD_FAILURE() << "no error for " << file;
    } catch (const hisa::ArgumentError& e) {
      EXPECT_EQ(e.argument(), file) << e.what();
    }
  };
  const hisa::Workload wl = hisa::quantize_fp8(small_structured(100, 1));
  write_case(wl, dir / "c");
  const std::string c = (dir / "c").string();
  fs::remove(dir / "c" / "k.npy");
  expect_error(c, c + "/k.npy");
  write_case(wl, dir / "c");
  hisa::write_npy(c + "/w.npy", "<f4", {wl.T - 1, wl.H}, wl.w.data(), (wl.T - 1) * wl.H * 4);
  expect_error(c, c + "/w.npy");
  write_case(wl, dir / "c");
  hisa::write_npy(c + "/q_scale.npy", "<f4", {wl.T, wl.H - 1}, wl.w.data(), wl.T * (wl.H - 1) * 4);
  expect_error(c, c + "/q_scale.npy");
  write_case(wl, dir / "c");
  hisa::write_npy(c + "/q_scale.npy", "<i4", {wl.T, wl.H}, wl.w.data(), wl.T * wl.H * 4);
  expect_error(c, c + "/q_scale.npy");
  write_case(wl, dir / "c");
  fs::resize_file(c + "/k.npy", fs::file_size(c + "/k.npy") - 7);  // truncated data
  expect_error(c, c + "/k.npy");

  fs::create_directories(dir / "empty");
  EXPECT_THROW(hisa::eval::find_case_dirs((dir / "empty").string(), "--inputs"), hisa::ArgumentError);
  EXPECT_THROW(hisa::eval::find_case_dirs((dir / "missing").string(), "--inputs"),
               hisa::ArgumentError);
  fs::remove_all(dir);
}

// The attention mass of a selection, straight from the definition in attention_mass.hpp.
double brute_share(const hisa::Workload& wl, int64_t t, const std::vector<int32_t>& sel,
                   double scale) {
  const hisa::Problem p = wl.problem();
  const hisa::Range r = hisa::range_of(p, t);
  auto q_at = [&](int64_t h, int64_t d) {
    const float* q = reinterpret_cast<const float*>(wl.q.data());
    return static_cast<double>(q[(t * p.H + h) * p.D + d]) *
           (wl.q_scale.empty() ? 1.0 : wl.q_scale[t * p.H + h]);
  };
  auto k_at = [&](int64_t s, int64_t d) {
    const float* k = reinterpret_cast<const float*>(wl.k.data());
    return static_cast<double>(k[s * p.D + d]) * (wl.k_scale.empty() ? 1.0 : wl.k_scale[s]);
  };
  double share = 0;
  for (int64_t h = 0; h < p.H; ++h) {
    std::vector<double> e;
    double z = 0;
    for (int64_t s = r.ks; s < r.ke; ++s) {
      double l = 0;
      for (int64_t d = 0; d < p.D; ++d) l += q_at(h, d) * k_at(s, d);
      e.push_back(std::exp(scale * l));
      z += e.back();
    }
    for (int32_t s : sel) share += e[s - r.ks] / z / static_cast<double>(p.H);
  }
  return share;
}

TEST(AttentionMass, MatchesTheDefinition) {
  hisa::GaussianSpec g;
  g.T = 6;
  g.S = 9;
  g.H = 3;
  g.D = 5;
  g.seed = 7;
  hisa::Workload wl = hisa::make_gaussian(g);
  wl.k_scale = {0.5f, 1.0f, 2.0f, 1.5f, 0.25f, 1.0f, 3.0f, 0.75f, 1.25f};
  wl.q_scale.resize(g.T * g.H);
  for (std::size_t i = 0; i < wl.q_scale.size(); ++i) wl.q_scale[i] = 0.5f + 0.1f * i;
  const double scale = 0.7;
  const hisa::eval::AttentionMass mass(wl, scale, {}, 2);
  ASSERT_EQ(mass.rows().size(), 6u);
  // Row t sees keys [0, S - T + t + 1): pick a few, with padding and a duplicate.
  const int64_t k = 4;
  std::vector<int32_t> idx(g.T * k, -1);
  std::mt19937 rng(1);
  for (int64_t t = 0; t < g.T; ++t) {
    const int64_t n = g.S - g.T + t + 1;
    for (int64_t j = 0; j < 3; ++j) idx[t * k + j] = static_cast<int32_t>(rng() % n);
  }
  idx[0 * k + 1] = idx[0 * k];  // duplicate: counts once
  const std::vector<double> got = mass.share({idx.data(), k}, 2);
  for (int64_t t = 0; t < g.T; ++t) {
    std::vector<int32_t> sel;
    for (int64_t j = 0; j < k; ++j)
      if (idx[t * k + j] >= 0) sel.push_back(idx[t * k + j]);
    std::sort(sel.begin(), sel.end());
    sel.erase(std::unique(sel.begin(), sel.end()), sel.end());
    EXPECT_NEAR(got[t], brute_share(wl, t, sel, scale), 1e-6) << "row " << t;
  }
  // Every visible key: the whole mass. An index outside the visible range: an error.
  std::vector<int32_t> all(g.T * g.S, -1);
  for (int64_t t = 0; t < g.T; ++t)
    for (int64_t s = 0; s < g.S - g.T + t + 1; ++s) all[t * g.S + s] = static_cast<int32_t>(s);
  for (double v : mass.share({all.data(), g.S})) EXPECT_NEAR(v, 1.0, 1e-6);
  idx[0] = static_cast<int32_t>(g.S - 1);  // row 0 sees only S - T + 1 keys
  EXPECT_THROW(mass.share({idx.data(), k}), hisa::ArgumentError);
}

TEST(AttentionMass, Fp8InputsWithQScaleRecoverTheF32Mass) {
  const hisa::Workload f32 = small_structured(300, 5);
  const hisa::Workload fp8 = hisa::quantize_fp8(f32);
  hisa::Config cfg;
  cfg.topk = 32;
  const std::vector<int32_t> idx = select_all(f32, cfg);
  const std::vector<int64_t> rows = {10, 100, 200, 299};
  const auto a = hisa::eval::AttentionMass(f32, 0, rows).share({idx.data(), cfg.topk});
  const auto b = hisa::eval::AttentionMass(fp8, 0, rows).share({idx.data(), cfg.topk});
  for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_NEAR(a[i], b[i], 0.05) << rows[i];
}

TEST(BlockDiagnostics, MatchesBruteForceAndBoundsHisaRecall) {
  const hisa::Workload wl = small_structured(400, 11);
  const hisa::Problem p = wl.problem();
  hisa::Config flat;
  flat.topk = 48;
  const std::vector<int32_t> f = select_all(wl, flat);
  const int64_t B = 32;
  const std::vector<int64_t> ms = {2, 3, 5};
  const hisa::eval::BlockDiagnostics d = hisa::eval::block_diagnostics(p, {f.data(), 48}, B, ms, 2);
  for (std::size_t mi = 0; mi < ms.size(); ++mi) {
    hisa::Config h;
    h.method = hisa::Method::hisa;
    h.topk = 48;
    h.block_size = B;
    h.blocks = ms[mi] < 2 ? 2 : ms[mi];
    const std::vector<int32_t> got = select_all(wl, h);
    const std::vector<double> recall = hisa::row_recall(got.data(), 48, f.data(), 48, p.T);
    for (int64_t t = 0; t < p.T; ++t) {
      const hisa::Range r = hisa::range_of(p, t);
      const int64_t nb = (r.n() + B - 1) / B;
      std::vector<int64_t> cnt(nb, 0);
      int64_t total = 0;
      for (int64_t j = 0; j < 48; ++j)
        if (f[t * 48 + j] >= 0) ++cnt[(f[t * 48 + j] - r.ks) / B], ++total;
      if (mi == 0) {
        EXPECT_EQ(d.visible[t], nb);
        EXPECT_EQ(d.touched[t], std::count_if(cnt.begin(), cnt.end(), [](int64_t c) { return c; }));
      }
      // Oracle by enumeration of every (m-2)-subset of the middle blocks (nb <= 13 here).
      double best = 1.0;
      if (nb > ms[mi] && total > 0) {
        int64_t held_best = 0;
        const int64_t mid = nb - 2;
        for (uint32_t mask = 0; mask < (1u << mid); ++mask) {
          if (__builtin_popcount(mask) != ms[mi] - 2) continue;
          int64_t held = cnt[0] + cnt[nb - 1];
          for (int64_t j = 0; j < mid; ++j)
            if (mask >> j & 1) held += cnt[j + 1];
          held_best = std::max(held_best, held);
        }
        best = static_cast<double>(held_best) / static_cast<double>(total);
      }
      EXPECT_DOUBLE_EQ(d.oracle[mi][t], best) << "t=" << t << " m=" << ms[mi];
      EXPECT_LE(recall[t], d.oracle[mi][t] + 1e-12) << "t=" << t << " m=" << ms[mi];
    }
  }
  EXPECT_THROW(hisa::eval::block_diagnostics(p, {f.data(), 48}, 0, ms), hisa::ArgumentError);
  EXPECT_THROW(hisa::eval::block_diagnostics(p, {f.data(), 48}, B, {1}), hisa::ArgumentError);
}

TEST(Cost, CountsFollowEachMethodsDefinition) {
  hisa::Problem p;
  p.T = 1;
  p.S = 1000;
  p.H = 8;
  p.D = 16;  // row 0 sees all 1000 keys
  hisa::Config c;
  c.topk = 100;
  EXPECT_EQ(hisa::eval::scored_triples(p, c, 0), 8000.0);
  c.method = hisa::Method::hisa;
  c.block_size = 64;  // nb = 16, local block of 1000 - 15*64 = 40 tokens
  c.blocks = 4;
  EXPECT_EQ(hisa::eval::scored_triples(p, c, 0), 14 * 8 + (3 * 64 + 40) * 8.0);
  c.blocks = 16;  // every block kept: flat
  EXPECT_EQ(hisa::eval::scored_triples(p, c, 0), 8000.0);
  c.method = hisa::Method::misa;
  c.heads = 2;
  c.candidates = 4;
  EXPECT_EQ(hisa::eval::scored_triples(p, c, 0), 15 * 8 + 1000 * 2 + 400 * 8.0);
  c.candidates = 10;  // c * topk >= n: flat
  EXPECT_EQ(hisa::eval::scored_triples(p, c, 0), 8000.0);
  c.method = hisa::Method::proj;  // d' = 4 of D = 16; first block 64 + local 40 tokens forced
  c.proj_dim = 4;
  c.candidates = 2;
  EXPECT_EQ(hisa::eval::scored_triples(p, c, 0), 4 * 8 + 896 * 8 * 4 / 16.0 + (200 + 104) * 8.0);
}

TEST(EvalInputs, SweepsEveryCaseAndPoolsThem) {
  const fs::path dir = temp_dir("sweep");
  write_case(small_structured(256, 1), dir / "L00_g0");
  write_case(hisa::quantize_fp8(small_structured(320, 2)), dir / "L01_g0");
  hisa::eval::SweepOptions o;
  o.inputs = dir.string();
  o.B = {32};
  o.m = {4};
  o.a = {2, 4};  // a = 4 = H: skipped (flat)
  o.c = {1, 2};
  o.topk = 64;
  o.threads = 2;
  o.mass_rows = 32;
  o.out = (dir / "r.json").string();
  std::ostringstream log, table;
  hisa::eval::run_inputs_sweep(o, log, table);
  const std::string json = read_text(dir / "r.json");
  // Per case and pooled: flat, hisa, block, misa a=2 c=1 and c=2.
  EXPECT_EQ(count_of(json, "\"method\""), 15) << json;
  EXPECT_EQ(count_of(json, "\"case\": \"all\""), 5 + 1) << json;  // records + diagnostics
  EXPECT_EQ(count_of(json, "\"attn_mass\": {"), 15);
  EXPECT_EQ(count_of(json, "\"oracle_coverage\""), 3);
  EXPECT_NE(log.str().find("a=4 skipped"), std::string::npos) << log.str();
  EXPECT_NE(table.str().find("pooled over 2 case(s)"), std::string::npos) << table.str();
  EXPECT_NE(table.str().find("block diagnostics B=32"), std::string::npos) << table.str();

  o.inputs = (dir / "nothing").string();
  EXPECT_THROW(hisa::eval::run_inputs_sweep(o, log, table), hisa::ArgumentError);
  fs::remove_all(dir);
}

}  // namespace
