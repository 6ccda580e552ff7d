// String names of the enums (used in errors, the CLI and JSON output).
#include "hisa/types.hpp"

namespace hisa {

const char* to_string(DType d) {
  switch (d) {
    case DType::f32: return "f32";
    case DType::bf16: return "bf16";
    case DType::fp8_e4m3: return "fp8_e4m3";
  }
  return "?";
}
const char* to_string(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }
const char* to_string(Method m) {
  switch (m) {
    case Method::flat: return "flat";
    case Method::hisa: return "hisa";
    case Method::block: return "block";
    case Method::misa: return "misa";
    case Method::proj: return "proj";
    case Method::hisa_misa: return "hisa-misa";
  }
  return "?";
}
const char* to_string(BlockSummary b) {
  switch (b) {
    case BlockSummary::mean: return "mean";
    case BlockSummary::bound: return "bound";
    case BlockSummary::emax: return "emax";
  }
  return "?";
}
const char* to_string(Order o) {
  switch (o) {
    case Order::score: return "score";
    case Order::index: return "index";
  }
  return "?";
}
std::size_t dtype_size(DType d) {
  switch (d) {
    case DType::f32: return 4;
    case DType::bf16: return 2;
    case DType::fp8_e4m3: return 1;
  }
  return 0;
}

}  // namespace hisa
