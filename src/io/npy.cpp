// .npy reader and atomic writer (format versions 1.0, 2.0, 3.0). See include/hisa/npy.hpp.
//
// Layout: "\x93NUMPY", major, minor, header length (uint16 LE for 1.0, uint32 LE for 2.0/3.0),
// the header dict (npy_header.hpp) padded with spaces and ended by '\n', then the raw data.
#include "hisa/npy.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "hisa/error.hpp"
#include "io/npy_header.hpp"

namespace hisa {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;

std::string quoted(const std::string& path) { return "'" + path + "'"; }

uint32_t little_endian(const unsigned char* b, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

// Reorders a Fortran-ordered (column-major) buffer into C order. Walks the destination in
// C order and keeps the source offset up to date with a mixed-radix counter, so the cost is
// one copy per element whatever the rank.
std::vector<uint8_t> fortran_to_c(const std::vector<uint8_t>& src, const std::vector<int64_t>& shape,
                                  std::size_t itemsize, int64_t count) {
  const std::size_t rank = shape.size();
  if (rank < 2 || count == 0) return src;  // same bytes in both orders
  std::vector<uint8_t> dst(src.size());
  std::vector<int64_t> f_stride(rank), index(rank, 0);
  int64_t stride = 1;
  for (std::size_t i = 0; i < rank; ++i) {
    f_stride[i] = stride;
    stride *= shape[i];
  }
  int64_t f_offset = 0;
  for (int64_t c = 0; c < count; ++c) {
    std::memcpy(&dst[c * itemsize], &src[f_offset * itemsize], itemsize);
    for (std::size_t i = rank; i-- > 0;) {  // increment the C-order multi-index
      ++index[i];
      f_offset += f_stride[i];
      if (index[i] < shape[i]) break;
      f_offset -= f_stride[i] * shape[i];
      index[i] = 0;
    }
  }
  return dst;
}

}  // namespace

int64_t NpyArray::size() const { return io::element_count(shape, "shape"); }

NpyArray read_npy(const std::string& path, const std::string& argument) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw ArgumentError(argument, quoted(path) + " is a directory, expected a .npy file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ArgumentError(argument, "cannot open " + quoted(path) + ": " + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff file_size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (file_size < 0) throw ArgumentError(argument, "cannot read " + quoted(path));

  unsigned char prefix[kMagicSize + 2];
  if (!in.read(reinterpret_cast<char*>(prefix), sizeof prefix) ||
      std::memcmp(prefix, kMagic, kMagicSize) != 0)
    throw ArgumentError(argument, quoted(path) + " is not a .npy file (bad magic string)");
  const int major = prefix[6], minor = prefix[7];
  if (major < 1 || major > 3 || minor != 0)
    throw ArgumentError(argument, quoted(path) + ": unsupported .npy format version " +
                                      std::to_string(major) + "." + std::to_string(minor) +
                                      " (supported: 1.0, 2.0, 3.0)");
  const int len_bytes = major == 1 ? 2 : 4;
  unsigned char len_buf[4];
  if (!in.read(reinterpret_cast<char*>(len_buf), len_bytes))
    throw ArgumentError(argument, quoted(path) + " is truncated inside the header length");
  const std::streamoff header_len = little_endian(len_buf, len_bytes);
  const std::streamoff data_offset = static_cast<std::streamoff>(sizeof prefix) + len_bytes + header_len;
  if (data_offset > file_size)
    throw ArgumentError(argument, quoted(path) + " is truncated: header length " +
                                      std::to_string(header_len) + " runs past the end of the file");
  std::string header_text(static_cast<std::size_t>(header_len), '\0');
  if (!in.read(header_text.data(), header_len))
    throw ArgumentError(argument, "cannot read the header of " + quoted(path));

  io::NpyHeader h = io::parse_npy_header(header_text, argument);
  const io::NpyDType& dtype = io::require_supported_dtype(h.descr, argument);
  const int64_t count = io::element_count(h.shape, argument);

  // Compare in bytes before allocating, so a lying header cannot make us allocate the moon.
  const std::streamoff present = file_size - data_offset;
  int64_t expected = 0;
  if (__builtin_mul_overflow(count, static_cast<int64_t>(dtype.itemsize), &expected))
    throw ArgumentError(argument, quoted(path) + ": shape " + io::shape_to_string(h.shape) +
                                      " is too large");
  if (expected != present)
    throw ArgumentError(argument, quoted(path) +
                                      (expected > present ? " is truncated" : " has trailing bytes") +
                                      ": shape " + io::shape_to_string(h.shape) + " of '" + h.descr +
                                      "' needs " + std::to_string(expected) +
                                      " data bytes, the file holds " + std::to_string(present));

  NpyArray a;
  a.descr = h.descr;
  a.shape = h.shape;
  a.data.resize(static_cast<std::size_t>(present));
  if (present > 0 && !in.read(reinterpret_cast<char*>(a.data.data()), present))
    throw ArgumentError(argument, "cannot read the data of " + quoted(path));
  if (h.fortran_order) a.data = fortran_to_c(a.data, a.shape, dtype.itemsize, count);
  return a;
}

void write_npy(const std::string& path, const std::string& descr,
               const std::vector<int64_t>& shape, const void* data, std::size_t bytes) {
  const io::NpyDType& dtype = io::require_supported_dtype(descr, "descr");
  const int64_t count = io::element_count(shape, "shape");
  int64_t needed = 0;
  if (__builtin_mul_overflow(count, static_cast<int64_t>(dtype.itemsize), &needed) ||
      static_cast<uint64_t>(needed) != bytes)
    throw ArgumentError("data", std::to_string(bytes) + " bytes given for shape " +
                                    io::shape_to_string(shape) + " of '" + descr + "'");
  if (bytes > 0 && data == nullptr) throw ArgumentError("data", "null data pointer");

  // Pad so the data starts on a 64-byte boundary, as numpy does; format 2.0 only when the
  // padded header no longer fits the 16-bit length of 1.0.
  std::string header = io::format_npy_header(descr, shape);
  auto padded_total = [&](std::size_t prefix) { return (prefix + header.size() + 1 + 63) / 64 * 64; };
  const bool v2 = padded_total(10) - 10 > 65535;
  const std::size_t prefix = v2 ? 12 : 10;
  const std::size_t total = padded_total(prefix);
  header.append(total - prefix - header.size() - 1, ' ');
  header.push_back('\n');

  std::string head(kMagic, kMagicSize);
  head.push_back(static_cast<char>(v2 ? 2 : 1));
  head.push_back('\0');
  for (std::size_t i = 0, len = header.size(); i < (v2 ? 4u : 2u); ++i)
    head.push_back(static_cast<char>((len >> (8 * i)) & 0xFF));
  head += header;

  // A unique temporary beside the target (same file system, so rename() is atomic).
  static std::atomic<unsigned> serial{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(serial++);
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr)
    throw ArgumentError("out", "cannot create " + quoted(path) + ": " + std::strerror(errno));
  int err = 0;  // first failure's errno
  auto check = [&err](bool ok) {
    if (!ok && err == 0) err = errno ? errno : EIO;
  };
  check(std::fwrite(head.data(), 1, head.size(), f) == head.size());
  if (bytes > 0) check(std::fwrite(data, 1, bytes, f) == bytes);
  check(std::fflush(f) == 0);
  check(::fsync(::fileno(f)) == 0 || errno == EINVAL);  // EINVAL: no fsync on this file type
  check(std::fclose(f) == 0);
  if (err == 0) check(std::rename(tmp.c_str(), path.c_str()) == 0);
  if (err != 0) {
    std::remove(tmp.c_str());
    throw ArgumentError("out", "cannot write " + quoted(path) + ": " + std::strerror(err));
  }
}

}  // namespace hisa
