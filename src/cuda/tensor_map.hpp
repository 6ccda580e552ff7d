// TMA tensor maps over row-major tables of 128-byte rows (FP8 q and k of the DSA shape), for
// the sm_90a producer/consumer kernels. The driver's encoder is looked up once at run time, so
// the library links no libcuda.
#pragma once

#include <cuda.h>

#include <cstdint>
#include <string>

namespace hisa::cuda {

// Whether the driver exposes cuTensorMapEncodeTiled (12.0 ABI).
bool tensor_maps_available();

// 2-D map over `rows` rows of 128 bytes from `base` (16-byte aligned), boxes of `box_rows`
// rows (<= 256), 128-byte swizzle, zero fill outside the table. BackendError naming `ctx` if
// the driver refuses it.
CUtensorMap rows_map(const void* base, int64_t rows, uint32_t box_rows, const std::string& ctx);

}  // namespace hisa::cuda
