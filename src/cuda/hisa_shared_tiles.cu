// seq_first table of shared_candidates (hisa_shared_tiles.cuh): seq_first[ks] = the smallest
// query row whose clamped range starts at ks, for every ks in use.
#include <string>

#include "cuda/common.cuh"
#include "cuda/hisa_launch.cuh"

namespace hisa::cuda {
namespace {

__global__ void seq_first_kernel(HisaParams p, int T, int32_t* table) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= T) return;
  atomicMin(&table[row_of(p, t).ks], t);
}

}  // namespace

void launch_seq_first(const HisaParams& p, int T_total, int32_t* table, cudaStream_t st) {
  // 0x7F bytes: 0x7F7F7F7F, above every row index.
  HISA_CUDA_CHECK(cudaMemsetAsync(table, 0x7F, sizeof(int32_t) * (static_cast<size_t>(p.S) + 1), st));
  if (T_total == 0) return;
  seq_first_kernel<<<(T_total + 255) / 256, 256, 0, st>>>(p, T_total, table);
  HISA_CUDA_CHECK_LAUNCH("seq_first_kernel", "T=" + std::to_string(T_total));
}

}  // namespace hisa::cuda
