// The wording of decode's value errors, shared by the host scan (src/core/decode.cpp) and the
// device scan (src/cuda/decode_select.cu) so that both raise the same ArgumentError.
#pragma once

#include <cstdint>
#include <string>

#include "hisa/error.hpp"

namespace hisa::decode_checks {

inline ArgumentError bad_context_len(int64_t b, int64_t value, int64_t max_pages, int64_t P) {
  return ArgumentError("context_lens",
                       "context_lens[" + std::to_string(b) + "]=" + std::to_string(value) +
                           " is outside [0, max_pages * P = " + std::to_string(max_pages * P) +
                           "] (max_pages=" + std::to_string(max_pages) +
                           ", P=" + std::to_string(P) + ")");
}

inline ArgumentError bad_block_table(int64_t b, int64_t j, int64_t value, int64_t num_pages,
                                     int64_t ctx) {
  return ArgumentError("block_table",
                       "block_table[" + std::to_string(b) + "][" + std::to_string(j) +
                           "]=" + std::to_string(value) + " is outside [0, num_pages=" +
                           std::to_string(num_pages) + ") (sequence " + std::to_string(b) +
                           " has context_len " + std::to_string(ctx) + ")");
}

inline ArgumentError nonfinite(const char* argument, int64_t element) {
  return ArgumentError(argument, "element " + std::to_string(element) +
                                     " is NaN or Inf (rejected by default; pass "
                                     "allow_nonfinite / --allow-nonfinite to accept)");
}

}  // namespace hisa::decode_checks
