// Sub-commands of the `hisa` CLI. Each parses its own arguments (args.hpp) and returns the
// process exit code: 0 ok, 2 bad input (ArgumentError / BackendError / usage), 1 other failure.
// main.cpp maps exceptions to exit codes, so commands may simply throw.
#pragma once

#include <string>
#include <vector>

namespace hisa::cli {

int cmd_select(const std::vector<std::string>& args);  // tools/hisa/cmd_select.cpp
int cmd_demo(const std::vector<std::string>& args);    // tools/hisa/cmd_demo.cpp
int cmd_eval(const std::vector<std::string>& args);    // tools/hisa/cmd_eval.cpp
int cmd_bench(const std::vector<std::string>& args);   // tools/hisa/cmd_bench.cpp
int cmd_bench_decode(const std::vector<std::string>& args);  // tools/hisa/cmd_bench_decode.cpp

}  // namespace hisa::cli
