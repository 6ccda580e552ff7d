// The `hisa select` command line, run as a separate process (HISA_CLI_PATH) on .npy files in
// a temporary directory: its output must equal hisa::select called in-process, and every bad
// input must exit with code 2, name the offending flag on stderr and leave no output file.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "hisa/error.hpp"
#include "hisa/npy.hpp"
#include "hisa/numeric.hpp"
#include "hisa/select.hpp"
#include "npy_raw.hpp"

#ifndef HISA_CLI_PATH
#define HISA_CLI_PATH ""
#endif

namespace fs = std::filesystem;

namespace {

// Host inputs of one problem, in the raw element formats the CLI reads.
struct Inputs {
  hisa::DType dtype = hisa::DType::f32;
  int64_t T = 40, S = 300, H = 8, D = 32;
  std::vector<uint8_t> q, k;
  std::vector<float> w, k_scale;
  std::vector<int32_t> ks, ke;

  hisa::Problem problem() const {
    hisa::Problem p;
    p.dtype = dtype;
    p.T = T, p.S = S, p.H = H, p.D = D;
    p.q = q.data();
    p.k = k.data();
    p.w = w.data();
    p.k_scale = k_scale.empty() ? nullptr : k_scale.data();
    p.ks = ks.empty() ? nullptr : ks.data();
    p.ke = ke.empty() ? nullptr : ke.data();
    return p;
  }
  const char* descr() const {
    return dtype == hisa::DType::f32 ? "<f4" : dtype == hisa::DType::bf16 ? "<u2" : "|u1";
  }
};

// Random values with structure: keys drift slowly along the sequence (so blocks are coherent,
// as in real indexer keys) plus noise; weights of both signs.
Inputs make_inputs(hisa::DType dtype, uint32_t seed, bool with_scale) {
  Inputs in;
  in.dtype = dtype;
  std::mt19937 rng(seed);
  auto uniform = [&rng] { return static_cast<float>(rng() >> 8) * (2.0f / 16777216.0f) - 1.0f; };
  std::vector<float> q(in.T * in.H * in.D), k(in.S * in.D), topic(in.D);
  for (auto& x : q) x = 2.0f * uniform();
  for (int64_t s = 0; s < in.S; ++s) {
    if (s % 50 == 0)
      for (auto& x : topic) x = 2.0f * uniform();
    for (int64_t d = 0; d < in.D; ++d) k[s * in.D + d] = topic[d] + 0.5f * uniform();
  }
  in.w.resize(in.T * in.H);
  for (auto& x : in.w) x = uniform();
  if (with_scale) {
    in.k_scale.resize(in.S);
    for (auto& x : in.k_scale) x = 0.5f + 0.5f * (uniform() + 1.0f);
  }
  auto encode = [dtype](const std::vector<float>& v) {
    std::vector<uint8_t> out(v.size() * hisa::dtype_size(dtype));
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (dtype == hisa::DType::f32) {
        std::memcpy(&out[4 * i], &v[i], 4);
      } else if (dtype == hisa::DType::bf16) {
        const uint16_t b = hisa::float_to_bf16(v[i]);
        std::memcpy(&out[2 * i], &b, 2);
      } else {
        out[i] = hisa::float_to_fp8_e4m3(v[i]);
      }
    }
    return out;
  };
  in.q = encode(q);
  in.k = encode(k);
  return in;
}

// Two packed sequences (keys [0, 150) and [150, 300), 20 queries each, causal), with a few
// rows narrowed to short or empty windows so the n_t <= topk paths run too.
void pack_two_sequences(Inputs& in) {
  in.ks.resize(in.T);
  in.ke.resize(in.T);
  for (int64_t t = 0; t < in.T; ++t) {
    const bool second = t >= 20;
    in.ks[t] = second ? 150 : 0;
    in.ke[t] = static_cast<int32_t>((second ? 300 : 150) - 20 + (t % 20) + 1);
  }
  in.ke[3] = in.ks[3] + 5;    // fewer keys than topk
  in.ke[25] = in.ks[25];      // no visible key at all
  in.ks[30] = in.ke[30] - 33;  // one key more than topk
}

struct CliResult {
  int code = -1;
  std::string out, err;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string(HISA_CLI_PATH).empty()) GTEST_SKIP() << "the hisa CLI is not built (HISA_CLI=OFF)";
    // The pid keeps concurrent runs (several build trees, ctest -j) apart.
    dir_ = fs::temp_directory_path() / ("hisa_test_cli_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes the inputs as .npy files named <tag>_q.npy, ... and returns the matching flags.
  std::string write_inputs(const Inputs& in, const std::string& tag) {
    const std::string d = in.descr();
    auto put = [&](const std::string& name, const std::string& descr, std::vector<int64_t> shape,
                   const void* data, std::size_t bytes) {
      hisa::write_npy(path(tag + "_" + name + ".npy"), descr, shape, data, bytes);
      return " --" + std::string(name == "k_scale" ? "k-scale" : name) + " " +
             path(tag + "_" + name + ".npy");
    };
    std::string flags = put("q", d, {in.T, in.H, in.D}, in.q.data(), in.q.size()) +
                        put("k", d, {in.S, in.D}, in.k.data(), in.k.size()) +
                        put("w", "<f4", {in.T, in.H}, in.w.data(), in.w.size() * 4);
    if (!in.k_scale.empty()) flags += put("k_scale", "<f4", {in.S}, in.k_scale.data(), in.S * 4);
    if (!in.ks.empty()) {
      flags += put("ks", "<i4", {in.T}, in.ks.data(), in.T * 4);
      flags += put("ke", "<i4", {in.T}, in.ke.data(), in.T * 4);
    }
    return flags;
  }

  CliResult run(const std::string& args) {
    const std::string out = path("stdout.txt"), err = path("stderr.txt");
    const std::string cmd = std::string("'") + HISA_CLI_PATH + "' " + args + " >'" + out + "' 2>'" + err + "'";
    const int status = std::system(cmd.c_str());
    CliResult r;
    r.code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
    r.out = hisa::test::read_file(out);
    r.err = hisa::test::read_file(err);
    return r;
  }

  // `hisa select <args> --out <fresh file>` must fail with exit code 2, print
  // "hisa: error: <flag>: ..." and leave no output file behind.
  void expect_rejected(const std::string& args, const std::string& flag,
                       const std::string& also = "") {
    const std::string out = path("rejected_" + std::to_string(rejected_++) + ".npy");
    const CliResult r = run("select " + args + " --out " + out);
    EXPECT_EQ(r.code, 2) << args << "\nstderr: " << r.err;
    EXPECT_NE(r.err.find("hisa: error: " + flag + ":"), std::string::npos)
        << args << "\nexpected the flag " << flag << " in stderr: " << r.err;
    if (!also.empty()) {
      EXPECT_NE(r.err.find(also), std::string::npos) << args << "\nexpected '" << also << "' in: " << r.err;
    }
    EXPECT_FALSE(fs::exists(out)) << "output left behind by: " << args;
    for (const auto& e : fs::directory_iterator(dir_)) {
      EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << "temporary left: " << e.path();
    }
  }

  // Runs select, checks success, and returns the index array it wrote.
  hisa::NpyArray select_ok(const std::string& args) {
    const std::string out = path("idx_" + std::to_string(accepted_++) + ".npy");
    const CliResult r = run("select " + args + " --out " + out);
    EXPECT_EQ(r.code, 0) << args << "\nstderr: " << r.err;
    if (r.code != 0) return {};
    return hisa::read_npy(out, "--out");
  }

  fs::path dir_;
  int rejected_ = 0, accepted_ = 0;
};

std::string config_flags(const hisa::Config& c) {
  return std::string(" --method ") + hisa::to_string(c.method) + " --topk " + std::to_string(c.topk) +
         " --block-size " + std::to_string(c.block_size) +
         (c.method == hisa::Method::hisa ? " --blocks " + std::to_string(c.blocks) : "") +
         (c.method == hisa::Method::misa ? " --heads " + std::to_string(c.heads) + " --candidates " +
                                               std::to_string(c.candidates)
                                         : "");
}

std::vector<hisa::Config> every_method() {
  std::vector<hisa::Config> v;
  for (hisa::Method m : {hisa::Method::flat, hisa::Method::hisa, hisa::Method::block, hisa::Method::misa}) {
    hisa::Config c;
    c.method = m;
    c.topk = 32;
    c.block_size = 8;
    c.blocks = 5;
    c.heads = 3;
    c.candidates = 2;
    v.push_back(c);
  }
  return v;
}

void expect_same_as_library(const hisa::NpyArray& got, const Inputs& in, const hisa::Config& cfg) {
  std::vector<int32_t> want(in.T * cfg.topk, -7);
  hisa::select(in.problem(), cfg, want.data());
  ASSERT_EQ(got.descr, "<i4");
  ASSERT_EQ(got.shape, (std::vector<int64_t>{in.T, cfg.topk}));
  std::vector<int32_t> idx(want.size());
  ASSERT_EQ(got.data.size(), idx.size() * 4);
  std::memcpy(idx.data(), got.data.data(), got.data.size());
  EXPECT_EQ(idx, want) << "method " << hisa::to_string(cfg.method) << ", dtype " << hisa::to_string(in.dtype);
}

TEST_F(CliTest, RoundTripMatchesInProcessSelectForEveryMethodAndDtype) {
  const struct {
    hisa::DType dtype;
    bool scale;
  } kinds[] = {{hisa::DType::f32, false}, {hisa::DType::bf16, false}, {hisa::DType::fp8_e4m3, true}};
  uint32_t seed = 11;
  for (const auto& kind : kinds) {
    const Inputs in = make_inputs(kind.dtype, seed++, kind.scale);
    const std::string files = write_inputs(in, hisa::to_string(kind.dtype));
    for (const hisa::Config& cfg : every_method()) {
      SCOPED_TRACE(std::string(hisa::to_string(kind.dtype)) + " " + hisa::to_string(cfg.method));
      expect_same_as_library(select_ok(files + config_flags(cfg) + " --threads 2"), in, cfg);
    }
  }
}

TEST_F(CliTest, RoundTripWithPackedRangesAndKScale) {
  Inputs in = make_inputs(hisa::DType::f32, 5, true);
  pack_two_sequences(in);
  const std::string files = write_inputs(in, "packed");
  for (const hisa::Config& cfg : every_method()) {
    SCOPED_TRACE(hisa::to_string(cfg.method));
    const hisa::NpyArray got = select_ok(files + config_flags(cfg));
    expect_same_as_library(got, in, cfg);
    if (got.data.size() != static_cast<std::size_t>(in.T * cfg.topk * 4)) continue;  // reported above
    int32_t first_of_empty_row;
    std::memcpy(&first_of_empty_row, &got.data[25 * cfg.topk * 4], 4);
    EXPECT_EQ(first_of_empty_row, -1);  // the row with no visible key is all -1
  }
}

TEST_F(CliTest, OrderIndexGivesTheLibrarysIndexOrder) {
  Inputs in = make_inputs(hisa::DType::fp8_e4m3, 12, true);
  pack_two_sequences(in);
  const std::string files = write_inputs(in, "order");
  for (hisa::Config cfg : every_method()) {
    SCOPED_TRACE(hisa::to_string(cfg.method));
    cfg.order = hisa::Order::index;
    expect_same_as_library(select_ok(files + config_flags(cfg) + " --order index"), in, cfg);
  }
  expect_rejected(files + " --method flat --topk 32 --order best", "--order", "'best'");
}

TEST_F(CliTest, DefaultsAreTopk2048AndBlock64) {
  Inputs in = make_inputs(hisa::DType::f32, 3, false);
  const std::string files = write_inputs(in, "d");
  hisa::Config cfg;  // library defaults: topk 2048, B 64, m 64
  cfg.method = hisa::Method::hisa;
  expect_same_as_library(select_ok(files + " --method hisa"), in, cfg);
}

TEST_F(CliTest, FortranOrderedInputsAreConvertedNotRejected) {
  const Inputs in = make_inputs(hisa::DType::f32, 8, false);
  const std::string files = write_inputs(in, "c");
  // q [T, H, D] and w [T, H] stored column-major.
  std::string qf(in.q.size(), '\0'), wf(in.w.size() * 4, '\0');
  for (int64_t t = 0; t < in.T; ++t)
    for (int64_t h = 0; h < in.H; ++h) {
      std::memcpy(&wf[(t + in.T * h) * 4], &in.w[t * in.H + h], 4);
      for (int64_t d = 0; d < in.D; ++d)
        std::memcpy(&qf[(t + in.T * (h + in.H * d)) * 4], &in.q[((t * in.H + h) * in.D + d) * 4], 4);
    }
  const std::string shape_q = "(" + std::to_string(in.T) + ", " + std::to_string(in.H) + ", " + std::to_string(in.D) + ")";
  const std::string shape_w = "(" + std::to_string(in.T) + ", " + std::to_string(in.H) + ")";
  hisa::test::write_file(path("fq.npy"), hisa::test::npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': " + shape_q + ", }", qf));
  hisa::test::write_file(path("fw.npy"), hisa::test::npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': " + shape_w + ", }", wf));
  const hisa::Config cfg = every_method()[1];  // hisa
  expect_same_as_library(select_ok(" --q " + path("fq.npy") + " --k " + path("c_k.npy") + " --w " +
                                   path("fw.npy") + config_flags(cfg)),
                         in, cfg);
}

TEST_F(CliTest, HelpUsageAndExitCodes) {
  CliResult r = run("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("select"), std::string::npos);
  r = run("select --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--method"), std::string::npos);
  EXPECT_NE(r.out.find("--allow-nonfinite"), std::string::npos);
  r = run("");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("usage: hisa"), std::string::npos);
  r = run("select");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("usage: hisa select"), std::string::npos);
  r = run("frobnicate");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("hisa: error: command: unknown command 'frobnicate'"), std::string::npos) << r.err;
}

TEST_F(CliTest, RejectsBadFlags) {
  const Inputs in = make_inputs(hisa::DType::f32, 4, false);
  const std::string f = write_inputs(in, "x");
  expect_rejected(f, "--method", "is required");
  expect_rejected(f + " --method dense", "--method");
  expect_rejected(f + " --method flat --bogus 3", "--bogus", "unknown option");
  expect_rejected(f + " --method flat --topk 12x", "--topk", "integer");
  expect_rejected(f + " --method flat --topk 0", "--topk");
  expect_rejected(f + " --method flat --topk -5", "--topk");
  expect_rejected(f + " --method hisa --topk 32 --block-size 0", "--block-size");
  expect_rejected(f + " --method block --topk 32 --block-size -8", "--block-size");
  expect_rejected(f + " --method hisa --topk 32 --block-size 8 --blocks 1", "--blocks");
  expect_rejected(f + " --method misa --topk 32 --heads 0", "--heads");
  expect_rejected(f + " --method misa --topk 32 --heads 9", "--heads", "H=8");
  expect_rejected(f + " --method misa --topk 32 --candidates 0", "--candidates");
  expect_rejected(f + " --method block --topk 30 --block-size 8", "--topk", "topk % B");
  expect_rejected(f + " --method flat --topk 32 --device tpu", "--device");
  expect_rejected(f + " --method flat --topk 32 --threads -1", "--threads");
  const CliResult r = run("select --method flat --q " + path("x_q.npy") + " --w " + path("x_w.npy") +
                    " --out " + path("o.npy"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("hisa: error: --k: is required"), std::string::npos) << r.err;
  // Flags whose mistakes need a hand-made command line (expect_rejected appends --out).
  CliResult last = run("select" + f + " --method flat --out " + path("o.npy") + " --topk");
  EXPECT_EQ(last.code, 2);
  EXPECT_NE(last.err.find("hisa: error: --topk: expects a value"), std::string::npos) << last.err;
  last = run("select" + f + " --method flat --topk 32 --out " + path("no_such_dir/idx.npy"));
  EXPECT_EQ(last.code, 2);
  EXPECT_NE(last.err.find("hisa: error: --out: directory"), std::string::npos) << last.err;
  EXPECT_FALSE(fs::exists(path("o.npy")));
}

TEST_F(CliTest, RejectsMismatchedShapes) {
  const Inputs in = make_inputs(hisa::DType::f32, 6, true);
  const std::string f = write_inputs(in, "ok");
  const std::string q = " --q " + path("ok_q.npy"), k = " --k " + path("ok_k.npy"), w = " --w " + path("ok_w.npy");
  const std::string m = " --method flat --topk 32";
  std::vector<float> buf(in.S * (in.D + 1) + in.T * (in.H + 1), 0.25f);
  auto bad = [&](const std::string& name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    hisa::write_npy(path(name), "<f4", shape, buf.data(), n * 4);
    return path(name);
  };
  expect_rejected(q + " --k " + bad("kD.npy", {in.S, in.D + 1}) + w + m, "--k", "expected [S, 32]");
  expect_rejected(q + k + " --w " + bad("wH.npy", {in.T, in.H + 1}) + m, "--w",
                  "shape [40, 9] does not match q's [T=40, H=8]");
  expect_rejected(q + k + " --w " + bad("wT.npy", {in.T - 1, in.H}) + m, "--w", "[T=40, H=8]");
  expect_rejected(" --q " + bad("q2.npy", {in.T, in.H * in.D}) + k + w + m, "--q", "3-D");
  expect_rejected(q + k + w + " --k-scale " + bad("s.npy", {in.S - 1}) + m, "--k-scale", "[S=300]");
  std::vector<int32_t> r(in.T + 1, 0);
  hisa::write_npy(path("ks41.npy"), "<i4", {in.T + 1}, r.data(), r.size() * 4);
  hisa::write_npy(path("ke40.npy"), "<i4", {in.T}, r.data(), in.T * 4);
  expect_rejected(q + k + w + " --ks " + path("ks41.npy") + " --ke " + path("ke40.npy") + m, "--ks", "[T=40]");
  expect_rejected(q + k + w + " --ks " + path("ke40.npy") + m, "--ke", "together");
  // Default causal range needs T <= S.
  expect_rejected(q + " --k " + bad("kshort.npy", {in.T - 1, in.D}) + w + m, "--k", "T <= S");
  // k must have q's dtype.
  std::vector<uint16_t> kb(in.S * in.D, 0x3F80);
  hisa::write_npy(path("kbf16.npy"), "<u2", {in.S, in.D}, kb.data(), kb.size() * 2);
  expect_rejected(q + " --k " + path("kbf16.npy") + w + m, "--k", "same dtype as q");
}

TEST_F(CliTest, RejectsBadRanges) {
  const Inputs base = make_inputs(hisa::DType::f32, 7, false);
  const struct {
    int64_t row;
    int32_t ks, ke;
    const char* flag;
    const char* message;
  } cases[] = {
      {4, 20, 10, "--ks", "ks[4]=20 > ke[4]=10"},
      {5, 0, 301, "--ke", "ke[5]=301 > S=300"},
      {6, -1, 10, "--ks", "negative"},
  };
  int i = 0;
  for (const auto& c : cases) {
    Inputs in = base;
    pack_two_sequences(in);
    in.ks[c.row] = c.ks;
    in.ke[c.row] = c.ke;
    expect_rejected(write_inputs(in, "r" + std::to_string(i++)) + " --method hisa --topk 32 --block-size 8",
                    c.flag, c.message);
  }
}

TEST_F(CliTest, NonFiniteValuesRejectedByDefaultAcceptedOnRequest) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const std::string m = " --method hisa --topk 32 --block-size 8 --blocks 4";
  for (int which = 0; which < 4; ++which) {
    Inputs in = make_inputs(hisa::DType::f32, 20 + which, true);
    const char* flag = "";
    if (which == 0) std::memcpy(&in.q[4 * 77], &nan, 4), flag = "--q";
    if (which == 1) std::memcpy(&in.k[4 * 901], &inf, 4), flag = "--k";
    if (which == 2) in.w[13] = -inf, flag = "--w";
    if (which == 3) in.k_scale[42] = nan, flag = "--k-scale";
    const std::string f = write_inputs(in, "nf" + std::to_string(which));
    expect_rejected(f + m, flag, "NaN or Inf");
    const hisa::NpyArray got = select_ok(f + m + " --allow-nonfinite");
    EXPECT_EQ(got.shape, (std::vector<int64_t>{in.T, 32})) << flag;
  }
  // FP8 NaN code (0x7F) and bf16 Inf in q.
  Inputs f8 = make_inputs(hisa::DType::fp8_e4m3, 30, true);
  f8.q[5] = 0x7F;
  expect_rejected(write_inputs(f8, "f8") + m, "--q", "NaN or Inf");
  Inputs b16 = make_inputs(hisa::DType::bf16, 31, false);
  b16.k[2 * 3] = 0x80, b16.k[2 * 3 + 1] = 0xFF;  // 0xFF80: -Inf
  expect_rejected(write_inputs(b16, "b16") + m, "--k", "NaN or Inf");
}

TEST_F(CliTest, RejectsCorruptAndUnsupportedFiles) {
  const Inputs in = make_inputs(hisa::DType::f32, 9, false);
  const std::string f = write_inputs(in, "g");
  const std::string k = " --k " + path("g_k.npy"), w = " --w " + path("g_w.npy"), q = " --q " + path("g_q.npy");
  const std::string m = " --method flat --topk 32";
  const std::string good_q = hisa::test::read_file(path("g_q.npy"));

  hisa::test::write_file(path("trunc.npy"), good_q.substr(0, good_q.size() - 100));
  expect_rejected(" --q " + path("trunc.npy") + k + w + m, "--q", "truncated");
  std::string bad_magic = good_q;
  bad_magic[1] = 'X';
  hisa::test::write_file(path("magic.npy"), bad_magic);
  expect_rejected(" --q " + path("magic.npy") + k + w + m, "--q", "bad magic");
  std::string bad_header = hisa::test::read_file(path("g_w.npy"));
  bad_header.replace(bad_header.find("'shape'"), 7, "'shapo'");
  hisa::test::write_file(path("header.npy"), bad_header);
  expect_rejected(q + k + " --w " + path("header.npy") + m, "--w", "corrupt .npy header");
  expect_rejected(" --q " + path("missing.npy") + k + w + m, "--q", "cannot open");

  // Supported by the reader, wrong for the flag.
  std::vector<int32_t> ints(in.T * in.H * in.D, 1);
  hisa::write_npy(path("qi32.npy"), "<i4", {in.T, in.H, in.D}, ints.data(), ints.size() * 4);
  expect_rejected(" --q " + path("qi32.npy") + k + w + m, "--q", "not a query type");
  hisa::write_npy(path("wi32.npy"), "<i4", {in.T, in.H}, ints.data(), in.T * in.H * 4);
  expect_rejected(q + k + " --w " + path("wi32.npy") + m, "--w", "must be '<f4'");
  hisa::write_npy(path("ksf.npy"), "<f4", {in.T}, in.w.data(), in.T * 4);
  hisa::write_npy(path("ke.npy"), "<i4", {in.T}, ints.data(), in.T * 4);
  expect_rejected(f + " --ks " + path("ksf.npy") + " --ke " + path("ke.npy") + m, "--ks", "must be '<i4'");

  // Not supported at all: int64 ranges, big-endian and float64 values.
  std::string i64(in.T * 8, '\0');
  hisa::test::write_file(path("ks64.npy"), hisa::test::npy_bytes(
      "{'descr': '<i8', 'fortran_order': False, 'shape': (" + std::to_string(in.T) + ",), }", i64));
  expect_rejected(f + " --ks " + path("ks64.npy") + " --ke " + path("ke.npy") + m, "--ks",
                  "--ks must be '<i4' (int32)");
  const std::string kbytes = hisa::test::read_file(path("g_k.npy"));
  const std::string kdata = kbytes.substr(kbytes.size() - in.k.size());
  hisa::test::write_file(path("kbe.npy"), hisa::test::npy_bytes(
      "{'descr': '>f4', 'fortran_order': False, 'shape': (300, 32), }", kdata));
  expect_rejected(q + " --k " + path("kbe.npy") + w + m, "--k", "big-endian");
  hisa::test::write_file(path("wf8.npy"), hisa::test::npy_bytes(
      "{'descr': '<f8', 'fortran_order': False, 'shape': (40, 4), }", std::string(40 * 4 * 8, '\0')));
  expect_rejected(q + k + " --w " + path("wf8.npy") + m, "--w", "'<f8' is not supported");
}

TEST_F(CliTest, FailedRunKeepsAnExistingOutputUntouched) {
  const Inputs in = make_inputs(hisa::DType::f32, 12, false);
  const std::string f = write_inputs(in, "e");
  const std::string out = path("keep.npy");
  hisa::test::write_file(out, "previous contents");
  const CliResult r = run("select" + f + " --method flat --topk 0 --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(hisa::test::read_file(out), "previous contents");
}

TEST_F(CliTest, CudaDeviceWithoutGpuIsACleanError) {
  if (hisa::cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  const Inputs in = make_inputs(hisa::DType::f32, 13, false);
  // BackendError carries no argument name; its message starts with "--device cuda".
  expect_rejected(write_inputs(in, "cu") + " --method flat --topk 32 --device cuda", "--device cuda",
                  "CUDA");
}

}  // namespace
