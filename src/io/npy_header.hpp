// The text part of a .npy file: the Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// and the table of element types hisa reads and writes. Internal to src/io and the CLI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hisa::io {

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

// One supported element type.
struct NpyDType {
  const char* descr;     // numpy's dtype.str, e.g. "<f4"
  std::size_t itemsize;  // bytes per element
  const char* meaning;   // how hisa reads it, for messages: "f32", "bf16 bits", ...
};

// The entry for `descr`, or nullptr when hisa does not support it.
const NpyDType* find_npy_dtype(const std::string& descr);

// "'<f4' (float32), '<u2' (uint16: bf16 bits), ..." for error messages.
std::string supported_npy_dtypes();

// Throws DTypeError(argument, ...) explaining why `descr` is unsupported (big-endian,
// object, structured, other); returns the entry when it is supported.
const NpyDType& require_supported_dtype(const std::string& descr, const std::string& argument);

// Parses the dict literal. Every malformed header throws ArgumentError(argument, ...).
NpyHeader parse_npy_header(const std::string& text, const std::string& argument);

// The dict literal for a C-ordered array (no padding, no trailing newline).
std::string format_npy_header(const std::string& descr, const std::vector<int64_t>& shape);

// "[3, 4]" for messages.
std::string shape_to_string(const std::vector<int64_t>& shape);

// Number of elements; throws ArgumentError(argument, ...) when it overflows int64.
int64_t element_count(const std::vector<int64_t>& shape, const std::string& argument);

}  // namespace hisa::io
