// Minimal .npy reader/writer (format versions 1.0-3.0) for the CLI and tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hisa {

struct NpyArray {
  std::string descr;            // e.g. "<f4", "<u2", "|u1", "<i4"
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;    // C-order bytes (Fortran-ordered files are converted)
  int64_t size() const;         // number of elements
};

// Reads `path`. Every failure (missing file, bad magic, truncated data, unsupported
// descr, big-endian, object arrays) throws ArgumentError naming `argument` (e.g. "--q").
NpyArray read_npy(const std::string& path, const std::string& argument);

// Writes atomically: a temporary file beside `path`, renamed over it only when complete.
void write_npy(const std::string& path, const std::string& descr,
               const std::vector<int64_t>& shape, const void* data, std::size_t bytes);

}  // namespace hisa
