#include "cuda/tensor_map.hpp"

#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include <mutex>

#include "hisa/error.hpp"

namespace hisa::cuda {
namespace {

PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault,
                                         &q) == cudaSuccess &&
        q == cudaDriverEntryPointSuccess)
      fn = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
    (void)cudaGetLastError();
  });
  return fn;
}

}  // namespace

bool tensor_maps_available() { return tensor_map_encoder() != nullptr; }

namespace {

// A tiled map with unit element strides, no interleave, L2 promotion of 256 bytes and zeros
// outside the table; BackendError naming `what` and `ctx` if the driver lacks the encoder or
// refuses the map.
CUtensorMap encode_tiled(CUtensorMapDataType type, cuuint32_t rank, const void* base,
                         const cuuint64_t* dims, const cuuint64_t* strides, const cuuint32_t* box,
                         CUtensorMapSwizzle swizzle, const char* what, const std::string& ctx) {
  if (!tensor_maps_available())
    throw BackendError("cuTensorMapEncodeTiled is not available from the driver [" + ctx + "]");
  const cuuint32_t elem[5] = {1u, 1u, 1u, 1u, 1u};
  CUtensorMap m;
  const CUresult r = tensor_map_encoder()(&m, type, rank, const_cast<void*>(base), dims, strides,
                                          box, elem, CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle,
                                          CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                                          CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    throw BackendError(std::string("cuTensorMapEncodeTiled failed for the ") + what +
                       " (CUresult " + std::to_string(r) + ") [" + ctx + "]");
  return m;
}

}  // namespace

CUtensorMap rows_map(const void* base, int64_t rows, uint32_t box_rows, const std::string& ctx) {
  constexpr cuuint64_t kRowBytes = 128;
  const cuuint64_t dims[2] = {kRowBytes, static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[1] = {kRowBytes};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(kRowBytes), box_rows};
  return encode_tiled(CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, base, dims, strides, box,
                      CU_TENSOR_MAP_SWIZZLE_128B, "row map", ctx);
}

CUtensorMap floats_map(const float* base, int64_t n, uint32_t box, const std::string& ctx) {
  // One row of n floats as a 2-D table (the driver refused the rank-1 form, CUresult 1, on an
  // H100 with driver 580): the row stride only has to be a multiple of 16 bytes.
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(n), 1};
  const cuuint64_t strides[1] = {(static_cast<cuuint64_t>(n) * 4 + 15) / 16 * 16};
  const cuuint32_t boxd[2] = {box, 1u};
  return encode_tiled(CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, base, dims, strides, boxd,
                      CU_TENSOR_MAP_SWIZZLE_NONE, "k_scale map", ctx);
}

CUtensorMap strided_halves_map(const void* base, int64_t rows, int B, uint32_t box_rows,
                               const std::string& ctx) {
  if (B < 1 || rows / B < 1)
    throw BackendError("strided_halves_map: no whole stride of " + std::to_string(B) +
                       " rows in " + std::to_string(rows) + " [" + ctx + "]");
  const cuuint64_t dims[4] = {128, 2, static_cast<cuuint64_t>(B),
                              static_cast<cuuint64_t>(rows / B)};
  const cuuint64_t strides[3] = {128, 256, static_cast<cuuint64_t>(B) * 256};
  const cuuint32_t box[4] = {128u, 1u, 1u, box_rows};
  return encode_tiled(CU_TENSOR_MAP_DATA_TYPE_UINT8, 4, base, dims, strides, box,
                      CU_TENSOR_MAP_SWIZZLE_128B, "strided halves map", ctx);
}

}  // namespace hisa::cuda
