// Order::index on the GPU for the paths that rank in score order first (MISA, decode): each idx
// row is re-sorted ascending in place, -1 padding last. flat and HISA write index order
// natively (topk_radix.cu, hisa_rows.cuh) and never call this.
#include <string>

#include "cuda/common.cuh"
#include "cuda/methods.cuh"

namespace hisa::cuda {
namespace {

constexpr int kThreads = 256;

// One CTA per row: bitonic sort of the row as unsigned values (-1 = 0xFFFFFFFF sorts last)
// in shared memory, padded to a power of two P >= topk with 0xFFFFFFFF.
__global__ void __launch_bounds__(kThreads) order_rows_kernel(int32_t* rows, int topk, int P) {
  extern __shared__ uint32_t v[];
  int32_t* row = rows + static_cast<int64_t>(blockIdx.x) * topk;
  for (int i = threadIdx.x; i < P; i += kThreads)
    v[i] = i < topk ? static_cast<uint32_t>(row[i]) : 0xFFFFFFFFu;
  __syncthreads();
  for (int size = 2; size <= P; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int i = threadIdx.x; i < P / 2; i += kThreads) {
        const int pos = 2 * i - (i & (stride - 1));
        const bool ascending = (pos & size) == 0;
        const uint32_t a = v[pos], b = v[pos + stride];
        if ((a > b) == ascending) {
          v[pos] = b;
          v[pos + stride] = a;
        }
      }
      __syncthreads();
    }
  }
  for (int i = threadIdx.x; i < topk; i += kThreads) row[i] = static_cast<int32_t>(v[i]);
}

}  // namespace

void order_rows_by_index_device(int32_t* rows, int64_t nrows, int64_t topk, cudaStream_t st) {
  if (nrows <= 0 || topk <= 0) return;
  int P = 1;
  while (P < topk) P <<= 1;
  const size_t smem = sizeof(uint32_t) * static_cast<size_t>(P);
  const std::string ctx = "rows=" + std::to_string(nrows) + " topk=" + std::to_string(topk);
  HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(reinterpret_cast<const void*>(&order_rows_kernel),
                                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(smem)),
                      ctx);
  for (int64_t r0 = 0; r0 < nrows; r0 += INT32_MAX) {  // grid.x limit
    const int64_t n = nrows - r0 < INT32_MAX ? nrows - r0 : INT32_MAX;
    order_rows_kernel<<<static_cast<unsigned>(n), kThreads, smem, st>>>(rows + r0 * topk,
                                                                       static_cast<int>(topk), P);
    HISA_CUDA_CHECK_LAUNCH("order_rows_kernel", ctx);
  }
}

}  // namespace hisa::cuda
