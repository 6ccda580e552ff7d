// The A/B switches read from the environment (src/cuda/backend.cu): env_switch takes unset/empty
// (-1), "0" and "1"; env_choice takes unset/empty (the fallback) and the listed numbers; every
// other value is an ArgumentError that names the variable (the HISA_TOKENS_STAGES=5 arm once
// threw because it went through env_switch). Runs without a GPU.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "cuda/common.cuh"
#include "hisa/error.hpp"

namespace {

constexpr const char* kVar = "HISA_TEST_ENV_SWITCH";

struct EnvVar {
  explicit EnvVar(const char* value) { setenv(kVar, value, 1); }
  ~EnvVar() { unsetenv(kVar); }
};

std::string error_of(int (*read)()) {
  try {
    read();
  } catch (const hisa::ArgumentError& e) {
    return e.what();
  }
  return "";
}

TEST(EnvSwitches, OnOffSwitch) {
  unsetenv(kVar);
  EXPECT_EQ(hisa::cuda::env_switch(kVar), -1);
  {
    EnvVar v("");
    EXPECT_EQ(hisa::cuda::env_switch(kVar), -1);
  }
  {
    EnvVar v("0");
    EXPECT_EQ(hisa::cuda::env_switch(kVar), 0);
  }
  {
    EnvVar v("1");
    EXPECT_EQ(hisa::cuda::env_switch(kVar), 1);
  }
  for (const char* bad : {"5", "yes", " 1", "01"}) {
    EnvVar v(bad);
    const std::string what = error_of([] { return hisa::cuda::env_switch(kVar); });
    EXPECT_NE(what.find(kVar), std::string::npos) << bad << ": " << what;
  }
}

TEST(EnvSwitches, NumericChoice) {
  const auto stages = [] { return hisa::cuda::env_choice(kVar, {4, 5, 6}, 4); };
  unsetenv(kVar);
  EXPECT_EQ(stages(), 4);
  {
    EnvVar v("");
    EXPECT_EQ(stages(), 4);
  }
  for (int n : {4, 5, 6}) {
    EnvVar v(std::to_string(n).c_str());
    EXPECT_EQ(stages(), n);
  }
  for (const char* bad : {"3", "7", "1", "five", "5 ", "-5"}) {
    EnvVar v(bad);
    const std::string what = error_of(stages);
    EXPECT_NE(what.find(kVar), std::string::npos) << bad << ": " << what;
    EXPECT_NE(what.find("4, 5, 6"), std::string::npos) << bad << ": " << what;
  }
}

}  // namespace
