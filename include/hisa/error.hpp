// Errors thrown by the library. Every message names the argument and what was expected.
#pragma once

#include <stdexcept>
#include <string>

namespace hisa {

// Bad input from the caller: shape, dtype, range, value policy. CLI exit code 2;
// Python ValueError/TypeError.
class ArgumentError : public std::invalid_argument {
 public:
  ArgumentError(std::string argument, const std::string& what)
      : std::invalid_argument(argument + ": " + what), argument_(std::move(argument)) {}
  const std::string& argument() const { return argument_; }

 private:
  std::string argument_;
};

// The dtype of an argument is not supported (Python TypeError).
class DTypeError : public ArgumentError {
 public:
  using ArgumentError::ArgumentError;
};

// The requested backend cannot run here (no CUDA build, no GPU, CUDA runtime failure).
class BackendError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace hisa
