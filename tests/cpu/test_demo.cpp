// `hisa demo` and `hisa eval`: in-process smoke runs on small L (the table, the JSON records,
// option errors), and the same commands through the CLI binary when HISA_CLI_PATH is built.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "eval/demo.hpp"
#include "eval/sweep.hpp"
#include "hisa/error.hpp"
#include "hisa/select.hpp"
#include "npy_raw.hpp"
#include "test_files.hpp"

#ifndef HISA_CLI_PATH
#define HISA_CLI_PATH ""
#endif

namespace fs = std::filesystem;

namespace {

using hisa::test::count_of;

std::string read_file(const fs::path& p) { return hisa::test::read_file(p.string()); }
fs::path temp_dir(const std::string& name) { return hisa::test::temp_dir("demo_" + name); }

TEST(Demo, SmallRunPrintsOneTableAndJson) {
  const fs::path dir = temp_dir("demo");
  hisa::eval::DemoOptions o;
  o.L = 512;
  o.threads = 2;
  o.json = (dir / "demo.json").string();
  std::ostringstream out, log;
  hisa::eval::run_demo(o, out, log);
  const std::string table = out.str();
  EXPECT_NE(table.find("L=512"), std::string::npos) << table;
  EXPECT_NE(table.find("topk=128"), std::string::npos) << table;  // scaled down, and says so
  for (const char* method : {"flat", "hisa", "block-sparse", "misa ", "misa-hier"})
    EXPECT_NE(table.find(method), std::string::npos) << method << "\n" << table;
  EXPECT_EQ(count_of(table, "B=64 m="), 3) << table;
  // flat against itself: IoU 1, every needle found.
  const std::size_t flat_row = table.find("\nflat ");
  ASSERT_NE(flat_row, std::string::npos) << table;
  const std::string flat_line =
      table.substr(flat_row + 1, table.find('\n', flat_row + 1) - flat_row - 1);
  EXPECT_EQ(count_of(flat_line, "1.0000"), 3) << flat_line;
  EXPECT_NE(flat_line.find("16/16"), std::string::npos) << flat_line;
  EXPECT_NE(log.str().find("flat"), std::string::npos);

  const std::string json = read_file(dir / "demo.json");
  EXPECT_EQ(count_of(json, "\"method\""), 7) << json;
  EXPECT_NE(json.find("\"tool\": \"hisa demo\""), std::string::npos);
  EXPECT_NE(json.find("\"needle_recall\": 1"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "demo.json.tmp"));
  fs::remove_all(dir);
}

TEST(Demo, RejectsBadOptions) {
  std::ostringstream out, log;
  hisa::eval::DemoOptions o;
  o.L = 100;
  EXPECT_THROW(hisa::eval::run_demo(o, out, log), hisa::ArgumentError);
  if (!hisa::cuda_compiled() || hisa::cuda_device_count() == 0) {
    o.L = 512;
    o.device = hisa::Device::cuda;
    EXPECT_THROW(hisa::eval::run_demo(o, out, log), hisa::BackendError);
  }
}

TEST(Demo, TopkRule) {
  EXPECT_EQ(hisa::eval::demo_topk(512), 128);
  EXPECT_EQ(hisa::eval::demo_topk(8192), 512);
  EXPECT_EQ(hisa::eval::demo_topk(20000), 1216);
  EXPECT_EQ(hisa::eval::demo_topk(32768), 2048);
  EXPECT_EQ(hisa::eval::demo_topk(131072), 2048);
}

TEST(Eval, SmallSweepWritesOneRecordPerConfig) {
  const fs::path dir = temp_dir("eval");
  hisa::eval::SweepOptions o;
  o.L = {320, 512};
  o.B = {32, 64};
  o.m = {4};
  o.a = {8};
  o.c = {1, 2};
  o.topk = 96;  // 96 % 64 != 0: block-sparse only for B = 32
  o.threads = 2;
  o.mass_rows = 16;
  o.out = (dir / "eval.json").string();
  std::ostringstream log;
  hisa::eval::run_sweep(o, log);
  const std::string json = read_file(dir / "eval.json");
  // Per L: flat + 2 HISA + 1 block + 4 MISA.
  EXPECT_EQ(count_of(json, "\"method\""), 16) << json;
  EXPECT_EQ(count_of(json, "\"method\": \"block\""), 2);
  EXPECT_EQ(count_of(json, "\"mass_recall\": {"), 16);
  EXPECT_EQ(count_of(json, "\"L\": 320"), 8);
  EXPECT_NE(log.str().find("block-sparse skipped for B=64"), std::string::npos) << log.str();

  o.workload = "gaussian";
  o.L = {256};
  o.dtype = hisa::DType::bf16;
  o.mass_rows = -1;
  hisa::eval::run_sweep(o, log);
  const std::string g = read_file(dir / "eval.json");
  EXPECT_EQ(count_of(g, "\"needle_recall\": null"), 8) << g;  // no needles in Gaussian data
  EXPECT_EQ(count_of(g, "\"mass_recall\": null"), 8);
  EXPECT_NE(g.find("\"dtype\": \"bf16\""), std::string::npos);
  fs::remove_all(dir);
}

TEST(Eval, RejectsBadOptions) {
  std::ostringstream log;
  auto expect_flag = [&log](hisa::eval::SweepOptions o, const char* flag) {
    try {
      hisa::eval::run_sweep(o, log);
      ADD_FAILURE() << "no error for " << flag;
    } catch (const hisa::ArgumentError& e) {
      EXPECT_EQ(e.argument(), flag);
    }
  };
  hisa::eval::SweepOptions o;
  expect_flag(o, "--out");
  o.out = "/nonexistent-dir/x.json";
  o.m = {1};
  expect_flag(o, "--m");
  o.m = {16};
  o.a = {65};
  expect_flag(o, "--a");
  o.a = {8};
  o.workload = "uniform";
  expect_flag(o, "--workload");
  o.workload = "structured";
  o.L = {32};
  expect_flag(o, "--L");
}

// The CLI binary, as a user runs it (skipped when the test build has no CLI target).
int run_cli(const std::string& args, std::string* output) {
  const fs::path dir = temp_dir("cli");
  const fs::path log = dir / "out.txt";
  const std::string cmd = std::string(HISA_CLI_PATH) + " " + args + " > " + log.string() + " 2>&1";
  const int status = std::system(cmd.c_str());
  *output = read_file(log);
  fs::remove_all(dir);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(DemoCli, RunsAndReportsBadFlags) {
  if (std::string(HISA_CLI_PATH).empty() || !fs::exists(HISA_CLI_PATH))
    GTEST_SKIP() << "hisa CLI not built";
  std::string out;
  ASSERT_EQ(run_cli("demo --L 512 --threads 2", &out), 0) << out;
  EXPECT_NE(out.find("misa-hier"), std::string::npos) << out;
  EXPECT_EQ(run_cli("demo --L 100", &out), 2) << out;
  EXPECT_NE(out.find("--L"), std::string::npos) << out;
  EXPECT_EQ(run_cli("demo --bogus 1", &out), 2) << out;
  EXPECT_EQ(run_cli("eval --L 256", &out), 2) << out;  // --out is required
  EXPECT_NE(out.find("--out"), std::string::npos) << out;
  EXPECT_EQ(run_cli("eval --dtype fp16 --out x.json", &out), 2) << out;
  EXPECT_EQ(run_cli("demo --help", &out), 0) << out;
}

}  // namespace
