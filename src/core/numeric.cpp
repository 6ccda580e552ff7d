// FP8 e4m3fn and bf16 conversions (see numeric.hpp).
#include "hisa/numeric.hpp"

#include <cmath>
#include <limits>

namespace hisa {

float fp8_e4m3_to_float(uint8_t code) {
  const bool neg = code & 0x80;
  const int exp = (code >> 3) & 0xF;
  const int man = code & 0x7;
  float v;
  if (exp == 0xF && man == 0x7) {
    v = std::numeric_limits<float>::quiet_NaN();
  } else if (exp == 0) {
    v = std::ldexp(static_cast<float>(man), -9);  // subnormal: man/8 * 2^-6
  } else {
    v = std::ldexp(1.0f + man / 8.0f, exp - 7);
  }
  return neg ? -v : v;
}

uint8_t float_to_fp8_e4m3(float x) {
  if (std::isnan(x)) return 0x7F;
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  const float a = std::fabs(x);
  if (a >= 448.0f) return sign | 0x7E;  // saturate to max finite
  if (a < 0.015625f) {                    // subnormal range: steps of 2^-9
    const int m = static_cast<int>(std::nearbyint(std::ldexp(a, 9)));  // m == 8 -> 2^-6
    return sign | static_cast<uint8_t>(m);
  }
  int e2;
  std::frexp(a, &e2);  // a = f * 2^e2, f in [0.5, 1)
  int e = e2 - 1;      // a in [2^e, 2^(e+1)), e in [-6, 8]
  int man = static_cast<int>(std::nearbyint((std::ldexp(a, -e) - 1.0f) * 8.0f));
  if (man == 8) {
    man = 0;
    ++e;
  }
  return sign | static_cast<uint8_t>(((e + 7) << 3) | man);
}

uint16_t float_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if (std::isnan(x)) return static_cast<uint16_t>((u >> 16) | 0x40);
  const uint32_t rounding = 0x7FFF + ((u >> 16) & 1);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

}  // namespace hisa
