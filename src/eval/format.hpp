// Number formatting shared by the demo and eval output (times, ratios, fractions).
#pragma once

#include <cstdio>
#include <string>

namespace hisa::eval {

// "812.40 ms" below one second, "2.31 s" above.
inline std::string fmt_seconds(double s) {
  char buf[32];
  if (s < 1.0)
    std::snprintf(buf, sizeof buf, "%.2f ms", s * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

// printf-style formatting of one double, e.g. fmt("%.4f", iou).
inline std::string fmt(const char* format, double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

}  // namespace hisa::eval
