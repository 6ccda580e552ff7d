// `hisa <select|demo|eval|bench> [options]`: dispatches to a sub-command and turns exceptions
// into exit codes, so that scripts can tell bad input (2) from a failure of the tool (1).
#include <exception>
#include <iostream>
#include <new>
#include <set>
#include <string>
#include <vector>

#include "commands.hpp"
#include "hisa/error.hpp"

namespace {

constexpr const char* kUsage = R"(usage: hisa <command> [options]

Selects, for every query of a DeepSeek Sparse Attention indexer, the top-k key tokens it
attends to: the exact (flat) indexer, or the sparse HISA / block-sparse / MISA selectors that
score far fewer keys and return the same int32 [T, topk] index list (-1 padded).

commands:
  select   run a selection on q / k / w (.npy files) and write the indices as .npy
  demo     a small self-checking demonstration on synthetic data
  eval     fidelity of the sparse methods against flat (IoU, recall, needles)
  bench    time the methods on synthetic workloads

Run 'hisa <command> --help' for the options of a command.
Exit status: 0 success; 2 bad input or unavailable backend (the message names the argument);
1 any other failure.
)";

// Library errors name API arguments ("topk", "k_scale"); on the command line the user typed
// flags ("--topk", "--k-scale"). Only the names the library uses are translated, so messages
// about other things keep their own wording.
std::string flag_name(const std::string& argument) {
  static const std::set<std::string> kApiArguments = {
      "q",    "k",          "w",      "k_scale", "ks",         "ke",  "topk",
      "block_size", "blocks", "heads", "candidates", "out", "device", "method", "threads",
      "block_summary", "proj_dim", "shared_candidates"};
  if (!kApiArguments.count(argument)) return argument;
  std::string flag = "--" + argument;
  for (char& c : flag)
    if (c == '_') c = '-';
  return flag;
}

int report(const hisa::ArgumentError& e) {
  std::string what = e.what();
  const std::string prefix = e.argument() + ": ";
  if (what.compare(0, prefix.size(), prefix) == 0) what.erase(0, prefix.size());
  std::cerr << "hisa: error: " << flag_name(e.argument()) << ": " << what << "\n";
  return 2;
}

int run(const std::vector<std::string>& argv) {
  if (argv.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string& command = argv[0];
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (command == "select") return hisa::cli::cmd_select(rest);
  if (command == "demo") return hisa::cli::cmd_demo(rest);
  if (command == "eval") return hisa::cli::cmd_eval(rest);
  if (command == "bench") return hisa::cli::cmd_bench(rest);
  throw hisa::ArgumentError("command", "unknown command '" + command +
                                           "' (expected select, demo, eval or bench; see hisa --help)");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const hisa::ArgumentError& e) {
    return report(e);
  } catch (const hisa::BackendError& e) {
    std::cerr << "hisa: error: " << e.what() << "\n";
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "hisa: error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "hisa: error: " << e.what() << "\n";
    return 1;
  } catch (...) {
    std::cerr << "hisa: error: unknown failure\n";
    return 1;
  }
}
