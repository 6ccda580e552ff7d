// Two-pass stage 2 (hisa_select.cu): after the sm_90a tokens kernel has written every
// candidate's score (HisaParams::scores) and the radix top-k has ranked each row, the idx rows
// hold candidate positions. Position pos of row t is token ks + j * B + pos % B with
// j = kept[t][pos / B] (or pos / B when the row keeps every block): kept blocks ascend, so
// positions ascend with tokens, and the top-k's ties to the larger column are ties to the
// larger token (SPEC.md), in score order and in index order alike.
#include "cuda/common.cuh"
#include "cuda/hisa_launch.cuh"

namespace hisa::cuda {
namespace {

constexpr int kMapThreads = 256;

__global__ void __launch_bounds__(kMapThreads) map_columns_kernel(HisaParams p) {
  const int64_t t = p.t0 + blockIdx.x;
  const RowGeometry g = row_of(p, t);
  int32_t* out = p.out + t * p.topk;
  const int32_t* kept = g.all_blocks ? nullptr : p.kept + static_cast<int64_t>(blockIdx.x) * p.m;
  for (int j = threadIdx.x; j < p.topk; j += kMapThreads) {
    const int pos = out[j];
    if (pos < 0) continue;
    const int i = pos / p.B;
    const int block = kept == nullptr ? i : kept[i];
    out[j] = g.ks + block * p.B + (pos - i * p.B);
  }
}

}  // namespace

void launch_map_columns(const HisaParams& p, cudaStream_t st) {
  if (p.T == 0) return;
  map_columns_kernel<<<p.T, kMapThreads, 0, st>>>(p);
  HISA_CUDA_CHECK_LAUNCH("map_columns_kernel", "T=" + std::to_string(p.T));
}

}  // namespace hisa::cuda
