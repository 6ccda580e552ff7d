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

CUtensorMap rows_map(const void* base, int64_t rows, uint32_t box_rows, const std::string& ctx) {
  constexpr cuuint64_t kRowBytes = 128;
  if (!tensor_maps_available())
    throw BackendError("cuTensorMapEncodeTiled is not available from the driver [" + ctx + "]");
  CUtensorMap m;
  const cuuint64_t dims[2] = {kRowBytes, static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[1] = {kRowBytes};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(kRowBytes), box_rows};
  const cuuint32_t elem[2] = {1u, 1u};
  const CUresult r = tensor_map_encoder()(
      &m, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<void*>(base), dims, strides, box, elem,
      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
      CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    throw BackendError("cuTensorMapEncodeTiled failed (CUresult " + std::to_string(r) + ") [" +
                       ctx + "]");
  return m;
}

CUtensorMap floats_map(const float* base, int64_t n, uint32_t box, const std::string& ctx) {
  if (!tensor_maps_available())
    throw BackendError("cuTensorMapEncodeTiled is not available from the driver [" + ctx + "]");
  // One row of n floats as a 2-D table (the driver refused the rank-1 form, CUresult 1, on an
  // H100 with driver 580): the row stride only has to be a multiple of 16 bytes.
  CUtensorMap m;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(n), 1};
  const cuuint64_t strides[1] = {(static_cast<cuuint64_t>(n) * 4 + 15) / 16 * 16};
  const cuuint32_t boxd[2] = {box, 1u};
  const cuuint32_t elem[2] = {1u, 1u};
  const CUresult r = tensor_map_encoder()(
      &m, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, const_cast<float*>(base), dims, strides, boxd, elem,
      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
      CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    throw BackendError("cuTensorMapEncodeTiled failed for the k_scale map (CUresult " +
                       std::to_string(r) + ") [" + ctx + "]");
  return m;
}

CUtensorMap strided_halves_map(const void* base, int64_t rows, int B, uint32_t box_rows,
                               const std::string& ctx) {
  if (!tensor_maps_available())
    throw BackendError("cuTensorMapEncodeTiled is not available from the driver [" + ctx + "]");
  if (B < 1 || rows / B < 1)
    throw BackendError("strided_halves_map: no whole stride of " + std::to_string(B) +
                       " rows in " + std::to_string(rows) + " [" + ctx + "]");
  CUtensorMap m;
  const cuuint64_t dims[4] = {128, 2, static_cast<cuuint64_t>(B),
                              static_cast<cuuint64_t>(rows / B)};
  const cuuint64_t strides[3] = {128, 256, static_cast<cuuint64_t>(B) * 256};
  const cuuint32_t box[4] = {128u, 1u, 1u, box_rows};
  const cuuint32_t elem[4] = {1u, 1u, 1u, 1u};
  const CUresult r = tensor_map_encoder()(
      &m, CU_TENSOR_MAP_DATA_TYPE_UINT8, 4, const_cast<void*>(base), dims, strides, box, elem,
      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
      CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    throw BackendError("cuTensorMapEncodeTiled (strided halves) failed (CUresult " +
                       std::to_string(r) + ") [" + ctx + "]");
  return m;
}

}  // namespace hisa::cuda
