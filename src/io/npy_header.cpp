// Parser and formatter of the .npy header dict (see npy_header.hpp).
//
// numpy writes the header with repr() of a dict, so real files only ever contain three keys
// with a string, a bool and a tuple of ints. We parse exactly that grammar (plus either quote
// style, Python 2's "3L" ints and free whitespace) and reject everything else with a message
// that says where the header went wrong: a lenient parser could read the wrong shape.
#include "io/npy_header.hpp"

#include <cctype>
#include <limits>

#include "hisa/error.hpp"

namespace hisa::io {
namespace {

constexpr NpyDType kDTypes[] = {
    {"<f4", 4, "float32"},
    {"<u2", 2, "uint16: bf16 bits"},
    {"|u1", 1, "uint8: FP8 e4m3 bytes"},
    {"<i4", 4, "int32"},
};

class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& argument)
      : s_(text), argument_(argument) {}

  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_order = false, have_shape = false;
    skip_space();
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = string_literal("a quoted key");
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        if (have_descr) fail("duplicate key 'descr'");
        if (peek() == '[')
          throw DTypeError(argument_, "structured (record) dtypes are not supported (supported: " +
                                          supported_npy_dtypes() + ")");
        h.descr = string_literal("a quoted dtype string for 'descr'");
        have_descr = true;
      } else if (key == "fortran_order") {
        if (have_order) fail("duplicate key 'fortran_order'");
        h.fortran_order = boolean();
        have_order = true;
      } else if (key == "shape") {
        if (have_shape) fail("duplicate key 'shape'");
        h.shape = int_tuple();
        have_shape = true;
      } else {
        fail("unexpected key '" + key + "' (a .npy header has only descr, fortran_order, shape)");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}'");
    }
    ++pos_;  // '}'
    skip_space();
    if (pos_ != s_.size()) fail("unexpected text after the closing '}'");
    if (!have_descr) fail("missing key 'descr'");
    if (!have_order) fail("missing key 'fortran_order'");
    if (!have_shape) fail("missing key 'shape'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ArgumentError(argument_, "corrupt .npy header at character " + std::to_string(pos_) +
                                       ": " + what + " (header: " + excerpt() + ")");
  }
  std::string excerpt() const {
    std::string e = s_.substr(0, 120);
    while (!e.empty() && std::isspace(static_cast<unsigned char>(e.back()))) e.pop_back();
    for (char& c : e)
      if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
    return e + (s_.size() > 120 ? "..." : "");
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  std::string string_literal(const char* what) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail(std::string("expected ") + what);
    const std::size_t end = s_.find(quote, pos_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string v = s_.substr(pos_ + 1, end - pos_ - 1);
    if (v.find('\\') != std::string::npos) fail("escape sequences are not expected in a .npy header");
    pos_ = end + 1;
    return v;
  }
  bool boolean() {
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail("'fortran_order' must be True or False");
  }
  int64_t non_negative_int() {
    if (peek() == '-') fail("negative dimension in 'shape'");
    if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("expected an integer in 'shape'");
    int64_t v = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      const int d = peek() - '0';
      if (v > (std::numeric_limits<int64_t>::max() - d) / 10) fail("dimension overflows int64");
      v = v * 10 + d;
      ++pos_;
    }
    if (peek() == 'L' || peek() == 'l') ++pos_;  // Python 2 long literal
    return v;
  }
  // "()", "(5,)", "(3, 4)", "(3, 4,)". "(5)" is rejected: in Python it is an int, not a tuple.
  std::vector<int64_t> int_tuple() {
    std::vector<int64_t> dims;
    int commas = 0;
    expect('(');
    while (true) {
      skip_space();
      if (peek() == ')') break;
      dims.push_back(non_negative_int());
      skip_space();
      if (peek() == ')') break;
      expect(',');
      ++commas;
    }
    if (dims.size() == 1 && commas == 0) fail("'shape' must be a tuple, e.g. (5,)");
    ++pos_;  // ')'
    return dims;
  }

  const std::string& s_;
  const std::string& argument_;
  std::size_t pos_ = 0;
};

}  // namespace

const NpyDType* find_npy_dtype(const std::string& descr) {
  for (const NpyDType& d : kDTypes)
    if (descr == d.descr) return &d;
  return nullptr;
}

std::string supported_npy_dtypes() {
  std::string s;
  for (const NpyDType& d : kDTypes) {
    if (!s.empty()) s += ", ";
    s += std::string("'") + d.descr + "' (" + d.meaning + ")";
  }
  return s;
}

const NpyDType& require_supported_dtype(const std::string& descr, const std::string& argument) {
  if (const NpyDType* d = find_npy_dtype(descr)) return *d;
  const std::string supported = " (supported: " + supported_npy_dtypes() + ")";
  if (descr.find('O') != std::string::npos)
    throw DTypeError(argument, "object arrays (dtype '" + descr + "') are not supported" + supported);
  if (descr.size() >= 3 && descr[0] == '>' && descr.substr(2) != "1")
    throw DTypeError(argument, "big-endian dtype '" + descr +
                                   "' is not supported; save little-endian data, e.g. "
                                   "arr.astype(arr.dtype.newbyteorder('<'))" + supported);
  throw DTypeError(argument, "dtype '" + descr + "' is not supported" + supported);
}

NpyHeader parse_npy_header(const std::string& text, const std::string& argument) {
  return HeaderParser(text, argument).parse();
}

std::string format_npy_header(const std::string& descr, const std::vector<int64_t>& shape) {
  std::string dims;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) dims += ", ";
    dims += std::to_string(shape[i]);
  }
  if (shape.size() == 1) dims += ",";
  return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t element_count(const std::vector<int64_t>& shape, const std::string& argument) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw ArgumentError(argument, "negative dimension in shape " + shape_to_string(shape));
    if (__builtin_mul_overflow(n, d, &n))
      throw ArgumentError(argument, "shape " + shape_to_string(shape) + " overflows int64");
  }
  return n;
}

}  // namespace hisa::io
