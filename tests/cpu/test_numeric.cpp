// FP8 e4m3fn and bf16 conversions (numeric.hpp): exhaustive decode, hand-checked codes,
// round trips.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "hisa/numeric.hpp"

namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Independent decoder: sign * 2^(e-7) * (1 + m/8), subnormals 2^-6 * m/8, exponent 15 with
// mantissa 7 is NaN (e4m3fn has no infinities).
double fp8_value(int code) {
  const int s = code >> 7, e = (code >> 3) & 15, m = code & 7;
  if (e == 15 && m == 7) return std::numeric_limits<double>::quiet_NaN();
  const double mag = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1.0 + m / 8.0, e - 7);
  return s ? -mag : mag;
}

TEST(Numeric, Fp8DecodeEveryCode) {
  int nan_codes = 0;
  for (int c = 0; c < 256; ++c) {
    const float got = hisa::fp8_e4m3_to_float(static_cast<uint8_t>(c));
    const double want = fp8_value(c);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << c;
      ++nan_codes;
      continue;
    }
    EXPECT_EQ(static_cast<double>(got), want) << "code " << c;
    EXPECT_EQ(std::signbit(got), c >= 128) << "code " << c;  // -0 keeps its sign
  }
  EXPECT_EQ(nan_codes, 2);  // 0x7F and 0xFF
}

TEST(Numeric, Fp8HandCheckedCodes) {
  EXPECT_EQ(hisa::fp8_e4m3_to_float(0x38), 1.0f);
  EXPECT_EQ(hisa::fp8_e4m3_to_float(0x7E), 448.0f);
  EXPECT_EQ(hisa::fp8_e4m3_to_float(0xFE), -448.0f);
  EXPECT_EQ(hisa::fp8_e4m3_to_float(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(hisa::fp8_e4m3_to_float(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_EQ(hisa::fp8_e4m3_to_float(0x07), 7 * std::ldexp(1.0f, -9));  // largest subnormal
  EXPECT_EQ(hisa::fp8_e4m3_to_float(0x40), 2.0f);
  EXPECT_EQ(hisa::fp8_e4m3_to_float(0x3C), 1.5f);
  EXPECT_TRUE(std::isnan(hisa::fp8_e4m3_to_float(0x7F)));
  EXPECT_TRUE(std::isnan(hisa::fp8_e4m3_to_float(0xFF)));
  EXPECT_EQ(bits(hisa::fp8_e4m3_to_float(0x80)), 0x80000000u);  // -0
  EXPECT_EQ(bits(hisa::fp8_e4m3_to_float(0x00)), 0u);
}

TEST(Numeric, Fp8EncodeRoundTripsEveryFiniteCode) {
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7F) == 0x7F) continue;
    const float v = hisa::fp8_e4m3_to_float(static_cast<uint8_t>(c));
    EXPECT_EQ(hisa::float_to_fp8_e4m3(v), c) << "code " << c;
  }
}

TEST(Numeric, Fp8EncodeRoundsToNearestEvenAndSaturates) {
  EXPECT_EQ(hisa::float_to_fp8_e4m3(1.0625f), 0x38);  // halfway 1 / 1.125: even mantissa 0
  EXPECT_EQ(hisa::float_to_fp8_e4m3(1.1875f), 0x3A);  // halfway 1.125 / 1.25: even mantissa 2
  EXPECT_EQ(hisa::float_to_fp8_e4m3(1.07f), 0x39);
  EXPECT_EQ(hisa::float_to_fp8_e4m3(1000.0f), 0x7E);
  EXPECT_EQ(hisa::float_to_fp8_e4m3(-1e30f), 0xFE);
  EXPECT_EQ(hisa::float_to_fp8_e4m3(std::numeric_limits<float>::infinity()), 0x7E);
  EXPECT_EQ(hisa::float_to_fp8_e4m3(std::numeric_limits<float>::quiet_NaN()), 0x7F);
  EXPECT_EQ(hisa::float_to_fp8_e4m3(std::ldexp(1.0f, -11)), 0x00);  // below half the min subnormal
  EXPECT_EQ(hisa::float_to_fp8_e4m3(std::ldexp(3.0f, -10)), 0x02);  // 1.5 * 2^-9 -> 2 * 2^-9 (even)
  EXPECT_EQ(hisa::float_to_fp8_e4m3(std::ldexp(1.0f, -10)), 0x00);  // 0.5 * 2^-9 -> 0 (even)
  // Every value between two neighbouring codes encodes to the nearer one.
  for (int c = 0; c < 0x7E; ++c) {
    const float lo = hisa::fp8_e4m3_to_float(static_cast<uint8_t>(c));
    const float hi = hisa::fp8_e4m3_to_float(static_cast<uint8_t>(c + 1));
    EXPECT_EQ(hisa::float_to_fp8_e4m3(lo + (hi - lo) * 0.25f), c) << c;
    EXPECT_EQ(hisa::float_to_fp8_e4m3(lo + (hi - lo) * 0.75f), c + 1) << c;
  }
}

TEST(Numeric, Bf16RoundTrip) {
  // Every bf16 pattern that is not NaN decodes and re-encodes to itself.
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const uint16_t code = static_cast<uint16_t>(b);
    const float f = hisa::bf16_to_float(code);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(hisa::bf16_to_float(hisa::float_to_bf16(f))));
      continue;
    }
    ASSERT_EQ(hisa::float_to_bf16(f), code) << b;
  }
  EXPECT_EQ(hisa::bf16_to_float(0x3F80), 1.0f);
  EXPECT_EQ(hisa::float_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);   // tie -> even
  EXPECT_EQ(hisa::float_to_bf16(1.0f + std::ldexp(3.0f, -8)), 0x3F82);   // tie -> even (up)
  EXPECT_EQ(hisa::float_to_bf16(1.0f + std::ldexp(1.0f, -9)), 0x3F80);   // below half
}

}  // namespace
