// TMA tensor maps over row-major tables (FP8 q and k of the DSA shape, bf16 pooled keys), for
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

// Map over `n` floats (one row of a 2-D map) from `base` (16-byte aligned; HISA's k_scale),
// boxes of `box` floats (box * 4 a multiple of 16, <= 256 floats), no swizzle, zeros past the
// end. BackendError naming `ctx` if the driver refuses it.
CUtensorMap floats_map(const float* base, int64_t n, uint32_t box, const std::string& ctx);

// 4-D map over a table of `rows` rows of 256 bytes (HISA's bf16 pooled keys, D = 128) that
// reads every B-th row: coordinates (0, half, r, j) address bytes [128 half, 128 half + 128) of
// row r + j * B (r < B, j < rows / B, so every addressed row is below `rows`). A box is
// `box_rows` such rows (consecutive j) x one 128-byte half, 128-byte swizzle: the K-major panel
// layout of the wgmma tiles. Rows past the last whole j read as zeros.
CUtensorMap strided_halves_map(const void* base, int64_t rows, int B, uint32_t box_rows,
                               const std::string& ctx);

}  // namespace hisa::cuda
