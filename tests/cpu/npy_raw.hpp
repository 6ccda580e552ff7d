// Test helper: hand-made .npy bytes (any header text, any format version), for the cases the
// library's own writer refuses to produce (unsupported dtypes, Fortran order, corrupt headers).
#pragma once

#include <cstddef>
#include <fstream>
#include <string>

namespace hisa::test {

// Magic, version `major`.0, header length, the dict padded with spaces to a 64-byte boundary
// and ended by '\n' (as numpy writes it), then `data`.
inline std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const std::size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::string bytes("\x93NUMPY", 6);
  bytes.push_back(static_cast<char>(major));
  bytes.push_back('\0');
  for (std::size_t i = 0; i < prefix - 8; ++i)
    bytes.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xFF));
  return bytes + header + data;
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace hisa::test
