// Scalar number formats: FP8 e4m3 (the "fn" variant: no infinities, 0x7F/0xFF are NaN,
// max finite 448) and bfloat16, to and from f32. Exact decoders; encoders round to nearest even.
#pragma once

#include <cstdint>
#include <cstring>

namespace hisa {

// Decode one FP8 e4m3fn byte exactly (every one of the 256 codes).
float fp8_e4m3_to_float(uint8_t code);
// Encode with round-to-nearest-even; |x| > 448 saturates to +-448; NaN -> 0x7F.
uint8_t float_to_fp8_e4m3(float x);

inline float bf16_to_float(uint16_t bits) {
  uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// Round-to-nearest-even; NaN stays NaN.
uint16_t float_to_bf16(float x);

}  // namespace hisa
