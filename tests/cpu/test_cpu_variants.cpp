// The methods and knobs beyond plain HISA/MISA (docs/semantics.md): block summaries (bound,
// emax), proj (projected-key candidates), hisa-misa (block filter + routed heads), against the
// brute-force reference (exact equality), their limiting cases, the eigen solver, method specs.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cpu/eigen.hpp"
#include "cpu/projection.hpp"
#include "hisa/spec.hpp"
#include "test_cpu_reference.hpp"

namespace hisa_test {
namespace {

using hisa::BlockSummary;

constexpr BlockSummary kSummaries[] = {BlockSummary::mean, BlockSummary::bound, BlockSummary::emax};

void expect_reference(const TestProblem& tp, const Config& cfg, const std::string& what) {
  const std::vector<int32_t> want = Reference(tp).select(cfg);
  const std::vector<int32_t> got = run_select(tp, cfg);
  const int64_t at = first_difference(got, want);
  EXPECT_EQ(at, -1) << what << " " << hisa::to_spec(cfg) << ": row " << at / cfg.topk;
}

TEST(CpuVariants, BlockSummariesMatchTheReference) {
  for (DType dt : {DType::f32, DType::bf16, DType::fp8_e4m3}) {
    const TestProblem tp = structured_problem(dt, 60, 200, 4, 16, 24, 11);
    for (BlockSummary summary : kSummaries) {
      Config hisa = make_config(Method::hisa, 24, 8, 5);
      hisa.block_summary = summary;
      expect_reference(tp, hisa, hisa::to_string(dt));
      Config block = make_config(Method::block, 24, 8);
      block.block_summary = summary;
      expect_reference(tp, block, hisa::to_string(dt));
    }
  }
  const TestProblem packed = packed_problem(DType::fp8_e4m3, {70, 33, 120}, 3, 16, 5);
  for (BlockSummary summary : kSummaries) {
    Config c = make_config(Method::hisa, 16, 8, 4);
    c.block_summary = summary;
    expect_reference(packed, c, "packed");
  }
}

TEST(CpuVariants, SummariesChangeTheChoiceAndMeanIsTheDefault) {
  const TestProblem tp = structured_problem(DType::f32, 40, 400, 4, 16, 10, 3);
  Config c = make_config(Method::hisa, 16, 8, 4);
  EXPECT_EQ(c.block_summary, BlockSummary::mean);
  const std::vector<int32_t> mean = run_select(tp, c);
  c.block_summary = BlockSummary::bound;
  const std::vector<int32_t> bound = run_select(tp, c);
  c.block_summary = BlockSummary::emax;
  const std::vector<int32_t> emax = run_select(tp, c);
  EXPECT_NE(mean, bound);
  EXPECT_NE(mean, emax);
}

TEST(CpuVariants, HisaMisaMatchesTheReferenceAndItsLimits) {
  for (DType dt : {DType::f32, DType::fp8_e4m3}) {
    const TestProblem tp = structured_problem(dt, 50, 260, 6, 16, 20, 21);
    for (BlockSummary summary : kSummaries)
      for (int64_t a : {1, 3})
        for (int64_t c : {1, 2}) {
          Config cfg = make_config(Method::hisa_misa, 16, 8, 8, a, c);
          cfg.block_summary = summary;
          expect_reference(tp, cfg, hisa::to_string(dt));
        }
    // c*topk >= every candidate: HISA's answer. m >= nb: hierarchical MISA's answer.
    Config hm = make_config(Method::hisa_misa, 16, 8, 4, 2, 4);
    EXPECT_EQ(run_select(tp, hm), run_select(tp, make_config(Method::hisa, 16, 8, 4)));
    hm = make_config(Method::hisa_misa, 16, 8, 1000, 2, 2);
    EXPECT_EQ(run_select(tp, hm), run_select(tp, make_config(Method::misa, 16, 8, 4, 2, 2)));
  }
  const TestProblem packed = packed_problem(DType::bf16, {90, 17, 64}, 4, 8, 9);
  expect_reference(packed, make_config(Method::hisa_misa, 8, 8, 3, 2, 2), "packed");
}

// proj's reduced scores, from the library's basis (tested below) and the definition.
std::vector<int32_t> proj_reference(const TestProblem& tp, const Config& cfg) {
  const hisa::Problem p = tp.view();
  const Reference ref(tp);
  std::vector<int32_t> out(tp.T * cfg.topk, -1);
  for (int64_t t = 0; t < tp.T; ++t) {
    const int64_t a = ref.ks(t), b = ref.ke(t), n = b - a;
    std::vector<int64_t> visible;
    for (int64_t s = a; s < b; ++s) visible.push_back(s);
    std::vector<int64_t> picks;
    if (cfg.candidates * cfg.topk >= n) {
      picks = ref.rank_tokens(t, visible, cfg.topk);
    } else {
      const int64_t B = cfg.block_size, nb = (n + B - 1) / B;
      const int64_t first_end = std::min(b, a + B), local_begin = std::max(first_end, a + (nb - 1) * B);
      int64_t kend = a;  // the sequence's keys: up to the largest ke of queries sharing ks
      for (int64_t u = 0; u < tp.T; ++u)
        if (ref.ks(u) == a) kend = std::max(kend, ref.ke(u));
      const hisa::cpu::Projection proj = hisa::cpu::make_projection(p, a, kend, cfg.proj_dim, 1);
      auto project = [&](auto value) {
        std::vector<float> out(cfg.proj_dim);
        for (int64_t i = 0; i < cfg.proj_dim; ++i) {
          double acc = 0;
          for (int64_t d = 0; d < tp.D; ++d) acc += proj.basis[d * cfg.proj_dim + i] * value(d);
          out[i] = static_cast<float>(acc);
        }
        return out;
      };
      std::vector<std::vector<float>> qp;
      for (int64_t h = 0; h < tp.H; ++h)
        qp.push_back(project([&](int64_t d) { return load(tp.dtype, tp.q, (t * tp.H + h) * tp.D + d); }));
      std::vector<Scored> reduced;  // tokens between the first and the local block
      for (int64_t s = first_end; s < local_begin; ++s) {
        const std::vector<float> kp = project([&](int64_t d) { return ref.key_value(s, d); });
        float sc = 0.0f;
        for (int64_t h = 0; h < tp.H; ++h) {
          float acc = 0.0f;
          for (int64_t i = 0; i < cfg.proj_dim; ++i) acc = std::fma(qp[h][i], kp[i], acc);
          sc = std::fma(tp.w[t * tp.H + h], Reference::relu(acc), sc);
        }
        reduced.push_back({sc, s});
      }
      std::vector<int64_t> cands;  // those two blocks always, the best c*topk of the others
      for (int64_t s = a; s < first_end; ++s) cands.push_back(s);
      for (int64_t s = local_begin; s < b; ++s) cands.push_back(s);
      for (const Scored& x : ref_top(reduced, cfg.candidates * cfg.topk)) cands.push_back(x.index);
      picks = ref.rank_tokens(t, cands, cfg.topk);
    }
    for (std::size_t i = 0; i < picks.size(); ++i) out[t * cfg.topk + i] = static_cast<int32_t>(picks[i]);
  }
  return out;
}

TEST(CpuVariants, ProjMatchesTheReference) {
  for (DType dt : {DType::f32, DType::bf16, DType::fp8_e4m3})
    for (int64_t d : {1, 4, 16})
      for (int64_t c : {1, 3}) {
        const TestProblem tp = structured_problem(dt, 40, 150, 3, 16, 20, 31);
        Config cfg = make_config(Method::proj, 12, d == 4 ? 16 : 8);
        cfg.proj_dim = d;
        cfg.candidates = c;
        const std::vector<int32_t> got = run_select(tp, cfg);
        EXPECT_EQ(first_difference(got, proj_reference(tp, cfg)), -1)
            << hisa::to_string(dt) << " " << hisa::to_spec(cfg);
      }
  const TestProblem packed = packed_problem(DType::f32, {50, 9, 80}, 2, 8, 4);
  Config cfg = make_config(Method::proj, 8);
  cfg.proj_dim = 3;
  cfg.candidates = 2;
  EXPECT_EQ(first_difference(run_select(packed, cfg), proj_reference(packed, cfg)), -1);
  // The result does not depend on the thread count (the basis sums chunks in a fixed order).
  EXPECT_EQ(run_select(packed, cfg, 1), run_select(packed, cfg, 3));
}

TEST(CpuVariants, ProjLimits) {
  const TestProblem tp = random_problem(DType::f32, 30, 100, 2, 8, 2);
  Config c = make_config(Method::proj, 10);
  c.proj_dim = 8;
  c.candidates = 20;  // c*topk >= n: every token re-ranked exactly
  EXPECT_EQ(run_select(tp, c), run_select(tp, make_config(Method::flat, 10)));
  c.candidates = 2;  // d' = D: a rotation, so nearly flat (rounding only)
  const std::vector<int32_t> got = run_select(tp, c), flat = run_select(tp, make_config(Method::flat, 10));
  const std::vector<double> iou = hisa::row_iou(got.data(), 10, flat.data(), 10, tp.T);
  for (double v : iou) EXPECT_GT(v, 0.8);
}

TEST(CpuVariants, EigenSolverDecomposes) {
  const int64_t n = 7;
  std::mt19937 rng(3);
  std::normal_distribution<double> normal;
  std::vector<double> X(n * n), A(n * n, 0.0);
  for (double& x : X) x = normal(rng);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < n; ++k) A[i * n + j] += X[i * n + k] * X[j * n + k];
  std::vector<double> values, V;
  hisa::cpu::symmetric_eigen(A, n, values, V);
  for (int64_t i = 0; i + 1 < n; ++i) EXPECT_GE(values[i], values[i + 1]);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t r = 0; r < n; ++r) {  // A v = lambda v
      double av = 0;
      for (int64_t c = 0; c < n; ++c) av += A[r * n + c] * V[c * n + i];
      EXPECT_NEAR(av, values[i] * V[r * n + i], 1e-9 * (1 + std::fabs(values[0])));
    }
    for (int64_t j = 0; j < n; ++j) {  // orthonormal
      double dot = 0;
      for (int64_t r = 0; r < n; ++r) dot += V[r * n + i] * V[r * n + j];
      EXPECT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-12);
    }
    int64_t big = 0;  // sign convention: largest component positive
    for (int64_t r = 1; r < n; ++r)
      if (std::fabs(V[r * n + i]) > std::fabs(V[big * n + i])) big = r;
    EXPECT_GT(V[big * n + i], 0);
  }
}

TEST(CpuVariants, BadKnobsAreNamed) {
  const TestProblem tp = random_problem(DType::f32, 10, 40, 3, 8, 1);
  auto expect_named = [&tp](Config cfg, const char* name) {
    try {
      run_select(tp, cfg);
      ADD_FAILURE() << "no error for " << name;
    } catch (const hisa::ArgumentError& e) {
      EXPECT_EQ(e.argument(), name) << e.what();
    }
  };
  Config c = make_config(Method::proj, 8);
  c.proj_dim = 0;
  expect_named(c, "proj_dim");
  c.proj_dim = 9;  // > D
  expect_named(c, "proj_dim");
  c.proj_dim = 4;
  c.candidates = 0;
  expect_named(c, "candidates");
  expect_named(make_config(Method::hisa_misa, 8, 8, 1, 2, 1), "blocks");
  expect_named(make_config(Method::hisa_misa, 8, 8, 4, 4, 1), "heads");  // H = 3
  expect_named(make_config(Method::hisa_misa, 8, 8, 4, 2, 0), "candidates");
  c = make_config(Method::hisa, 8, 8, 4);
  c.block_summary = static_cast<BlockSummary>(7);
  expect_named(c, "block_summary");
}

TEST(CpuVariants, SharedCandidatesSelectFromTheTilesUnion) {
  for (DType dt : {DType::f32, DType::fp8_e4m3}) {
    const TestProblem tp = structured_problem(dt, 45, 300, 4, 16, 30, 41);
    const Reference ref(tp);
    for (int64_t Q : {2, 4, 16}) {
      Config cfg = make_config(Method::hisa, 16, 8, 4);
      cfg.shared_candidates = Q;
      const std::vector<int32_t> got = run_select(tp, cfg);
      const std::vector<int32_t> own = run_select(tp, make_config(Method::hisa, 16, 8, 4));
      const std::vector<int32_t> flat = run_select(tp, make_config(Method::flat, 16));
      const std::vector<double> r_got = hisa::row_recall(got.data(), 16, flat.data(), 16, tp.T);
      const std::vector<double> r_own = hisa::row_recall(own.data(), 16, flat.data(), 16, tp.T);
      for (int64_t t = 0; t < tp.T; ++t) {
        // Brute force: the kept blocks of every query of t's tile, within t's range.
        const int64_t tile = t / Q;
        std::vector<int64_t> blocks;
        for (int64_t u = tile * Q; u < std::min(tp.T, (tile + 1) * Q); ++u) {
          const int64_t nb = (ref.ke(u) - ref.ks(u) + 7) / 8;
          if (ref.ke(u) - ref.ks(u) <= 16 || nb <= 4) {
            for (int64_t j = 0; j < nb; ++j) blocks.push_back(j);
          } else {
            for (int64_t j : ref.kept_blocks(u, cfg, 4)) blocks.push_back(j);
          }
        }
        std::sort(blocks.begin(), blocks.end());
        blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
        std::vector<int64_t> cands;
        for (int64_t j : blocks)
          for (int64_t s = ref.ks(t) + j * 8; s < std::min(ref.ke(t), ref.ks(t) + (j + 1) * 8); ++s)
            cands.push_back(s);
        const std::vector<int64_t> want = ref.rank_tokens(t, cands, 16);
        for (int64_t i = 0; i < 16; ++i)
          ASSERT_EQ(got[t * 16 + i], i < static_cast<int64_t>(want.size()) ? want[i] : -1)
              << "Q=" << Q << " t=" << t << " slot " << i;
        EXPECT_GE(r_got[t], r_own[t]) << "a superset of its own candidates";
      }
    }
  }
  // Packed: tiles restart at each sequence's first query row.
  const TestProblem packed = packed_problem(DType::f32, {37, 50}, 3, 8, 2);
  Config cfg = make_config(Method::hisa, 8, 8, 3);
  cfg.shared_candidates = 8;
  const std::vector<int32_t> got = run_select(packed, cfg);
  EXPECT_EQ(got, run_select(packed, cfg, 1));  // any thread count
  cfg.method = Method::block;
  EXPECT_THROW(run_select(packed, cfg), hisa::ArgumentError);  // hisa only
}

TEST(MethodSpec, ParsesAndRoundTrips) {
  const Config h = hisa::parse_method_spec("hisa:B=128,m=32,summary=emax");
  EXPECT_EQ(h.method, Method::hisa);
  EXPECT_EQ(h.block_size, 128);
  EXPECT_EQ(h.blocks, 32);
  EXPECT_EQ(h.block_summary, BlockSummary::emax);
  const Config p = hisa::parse_method_spec("proj:d=24,c=4,B=32");
  EXPECT_EQ(p.block_size, 32);
  EXPECT_EQ(p.proj_dim, 24);
  EXPECT_EQ(p.candidates, 4);
  EXPECT_EQ(hisa::parse_method_spec("flat").method, Method::flat);
  for (const char* spec : {"hisa:B=64,m=16,summary=mean,Q=1", "block:B=32,summary=bound",
                           "misa:B=64,a=8,c=4", "proj:d=16,B=64,c=2", "hisa-misa:B=64,m=64,a=1,c=4,summary=emax",
                           "flat"})
    EXPECT_EQ(hisa::to_spec(hisa::parse_method_spec(spec)), spec);
  for (const char* bad : {"nope", "hisa:m", "hisa:m=", "hisa:a=2", "hisa:m=x", "hisa:summary=max",
                          "proj:m=64", "flat:B=1", "hisa:B=64,,m=2"}) {
    try {
      hisa::parse_method_spec(bad, "--methods");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const hisa::ArgumentError& e) {
      EXPECT_EQ(e.argument(), "--methods") << bad;
    }
  }
}

}  // namespace
}  // namespace hisa_test
