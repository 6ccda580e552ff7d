// Test helpers for suites that write files: a fresh per-process temporary folder, and counting
// occurrences in a text (JSON records, table rows). read_file is in npy_raw.hpp.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace hisa::test {

// <tmp>/hisa_test_<name>_<pid>, empty and created.
inline std::filesystem::path temp_dir(const std::string& name) {
  const std::filesystem::path d = std::filesystem::temp_directory_path() /
                                  ("hisa_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// Non-overlapping-start occurrences of `what` in `text`.
inline int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace hisa::test
