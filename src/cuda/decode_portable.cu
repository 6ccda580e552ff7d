// Portable decode scorers (any GPU sm_80+, any H and D that fit shared memory, FP8 or bf16):
// CUDA cores in the CPU contract's arithmetic (src/cpu/score.hpp) step by step: exact decode,
// each dot a sequential fma over d in one thread, relu keeping NaN, the head sum a sequential
// fma over h, one multiply by k_scale; __fmaf_rn / __fmul_rn so nvcc cannot contract
// differently. Their scores, and so the selected rows, are BITWISE the CPU's.
//
// One CTA of kTile threads scores tiles of kTile key rows (thread = key row): positions of the
// sequence (flat), pooled rows of middle blocks (stage 1), or kept-block candidates (stage 2).
#include <string>

#include "cuda/common.cuh"
#include "cuda/decode_common.cuh"

namespace hisa::cuda::dec {
namespace {

// Queries scored against each key row: all next_n of the sequence (flat, blocks) or one row.
__device__ __forceinline__ void job_rows(const DecodeParams& p, Stage s, int& b, int& r0, int& nq) {
  if (s == Stage::tokens) {
    r0 = blockIdx.y;
    b = r0 / p.next_n;
    nq = 1;
  } else {
    b = blockIdx.y;
    r0 = b * p.next_n;
    nq = p.next_n;
  }
}

// Whether row r selects blocks (stage 1 needed) and, if so, its middle-block count nb - 2.
__device__ __forceinline__ int middle_blocks(const DecodeParams& p, int r) {
  const RowGeometry g = decode_row_geometry(p, row_visible(p, r));
  return g.all_blocks ? 0 : g.nb - 2;
}

// Position of candidate c of row r (stage 2): block c / B of the kept list, offset c % B.
__device__ __forceinline__ int candidate_pos(const DecodeParams& p, int r, const RowGeometry& g,
                                             int c) {
  const int i = c / p.B;
  const int j = g.all_blocks ? i : __ldg(p.kept + static_cast<int64_t>(r) * p.m + i);
  return j * p.B + c % p.B;
}

__device__ __forceinline__ float load_elem(const DecodeParams& p, const uint8_t* row, int d) {
  return p.elem == 1 ? fp8_e4m3_decode(row[d])
                     : bf16_decode(reinterpret_cast<const uint16_t*>(row)[d]);
}

template <Stage S>
__global__ void __launch_bounds__(kTile) portable_kernel(DecodeParams p) {
  extern __shared__ float sm[];
  const int tid = threadIdx.x;
  int b, r0, nq;
  job_rows(p, S, b, r0, nq);
  if (S == Stage::flat && blockIdx.x == 0 && tid < nq) {
    p.row_begin[r0 + tid] = 0;
    p.row_end[r0 + tid] = row_visible(p, r0 + tid);
  }
  // Key rows of the whole job: [0, count).
  int count = 0;
  RowGeometry g{};
  if (S == Stage::flat) {
    count = seq_len(p, b);
  } else if (S == Stage::blocks) {
    for (int i = 0; i < nq; ++i) count = max(count, middle_blocks(p, r0 + i));
  } else {
    g = decode_row_geometry(p, row_visible(p, r0));
    count = g.cvalid;
  }
  const int ntiles = (count + kTile - 1) / kTile;
  const int t0 = blockIdx.x * p.tiles_per_cta;
  const int t1 = min(t0 + p.tiles_per_cta, ntiles);
  if (t0 >= t1) return;

  const int H = p.H, D = p.D;
  float* qs = sm;                            // [nq][H][D]
  float* ws = qs + nq * H * D;               // [nq][H]
  float* ks = ws + nq * H;                   // [D][kTile]
  for (int i = tid; i < nq * H * D; i += kTile) {
    const uint8_t* qrow = static_cast<const uint8_t*>(p.q) + static_cast<int64_t>(r0) * H * D * p.elem;
    qs[i] = load_elem(p, qrow, i);
  }
  for (int i = tid; i < nq * H; i += kTile) ws[i] = p.w[static_cast<int64_t>(r0) * H + i];
  const bool scaled = S != Stage::blocks && p.dtype == DType::fp8_e4m3;

  for (int t = t0; t < t1; ++t) {
    const int c = t * kTile + tid;
    const bool valid = c < count;
    float scale = 1.0f;
    __syncthreads();  // previous tile's readers are done (and q/w are loaded)
    if (valid) {
      if (S == Stage::blocks) {
        const float* row = pooled_row(p, b, c + 1);
        for (int d = 0; d < D; ++d) ks[d * kTile + tid] = row[d];
      } else {
        const int pos = S == Stage::flat ? c : candidate_pos(p, r0, g, c);
        const int page = page_of(p, b, pos);
        const uint8_t* row = key_ptr(p, page, pos % p.P);
        for (int d = 0; d < D; ++d) ks[d * kTile + tid] = load_elem(p, row, d);
        if (scaled) scale = *scale_ptr(p, page, pos % p.P);
      }
    }
    __syncthreads();
    if (!valid) continue;
    for (int i = 0; i < nq; ++i) {
      const int r = r0 + i;
      if (S == Stage::flat && c >= row_visible(p, r)) continue;
      if (S == Stage::blocks && c >= middle_blocks(p, r)) continue;
      const float* q = qs + i * H * D;
      float sc = 0.0f;
      for (int h = 0; h < H; ++h) {
        float dot = 0.0f;
        for (int d = 0; d < D; ++d) dot = __fmaf_rn(q[h * D + d], ks[d * kTile + tid], dot);
        sc = __fmaf_rn(ws[i * H + h], relu_keep_nan(dot), sc);
      }
      const float score = scaled ? __fmul_rn(scale, sc) : sc;
      if (S == Stage::flat) p.logits[static_cast<int64_t>(r) * p.ld + c] = score;
      if (S == Stage::blocks) p.jkeys[static_cast<int64_t>(r) * p.nbmax + c] = score_key(score);
      if (S == Stage::tokens) p.ckeys[static_cast<int64_t>(r) * p.cmax + c] = score_key(score);
    }
  }
}

}  // namespace

std::size_t portable_smem(const DecodeParams& p, Stage s) {
  const int64_t nq = s == Stage::tokens ? 1 : p.next_n;
  return sizeof(float) * static_cast<std::size_t>(nq * p.H * p.D + nq * p.H + p.D * kTile);
}

void launch_portable(const DecodeParams& p, Stage s, dim3 grid, cudaStream_t st) {
  const std::size_t smem = portable_smem(p, s);
  const void* fn = s == Stage::flat     ? reinterpret_cast<const void*>(&portable_kernel<Stage::flat>)
                   : s == Stage::blocks ? reinterpret_cast<const void*>(&portable_kernel<Stage::blocks>)
                                        : reinterpret_cast<const void*>(&portable_kernel<Stage::tokens>);
  const std::string ctx = "decode portable scorer stage " + std::to_string(static_cast<int>(s)) +
                          " smem=" + std::to_string(smem);
  HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(smem)),
                      ctx);
  switch (s) {
    case Stage::flat: portable_kernel<Stage::flat><<<grid, kTile, smem, st>>>(p); break;
    case Stage::blocks: portable_kernel<Stage::blocks><<<grid, kTile, smem, st>>>(p); break;
    case Stage::tokens: portable_kernel<Stage::tokens><<<grid, kTile, smem, st>>>(p); break;
  }
  HISA_CUDA_CHECK_LAUNCH("decode portable_kernel", ctx);
}

}  // namespace hisa::cuda::dec
