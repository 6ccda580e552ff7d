// Top-k of short rows in small CTAs (see topk_short.cuh).
#include "cuda/topk_short.cuh"

#include <string>

#include "cuda/common.cuh"
#include "cuda/topk_bucket_select.cuh"
#include "cuda/topk_ordered.cuh"
#include "cuda/topk_row_io.cuh"

namespace hisa::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kBins = 2048;

// Shared memory: kBins histogram words, k 8-byte keys (the scatter buffer), then the row's
// score keys (cols 4-byte words, rounded up to 16 bytes).
std::size_t smem_bytes(const TopkRowsArgs& a) {
  return kBins * sizeof(uint32_t) + a.k * sizeof(uint64_t) +
         static_cast<std::size_t>((a.cols + 3) / 4 * 4) * sizeof(uint32_t);
}

// One row: every output written through to_out (the identity, or positions -> tokens).
template <bool kVec, typename TE, bool kByIndex, int kLimit, typename ToOut>
__device__ __forceinline__ void run_row(const TopkRowsArgs& a, const TE* scores, int begin, int end,
                                        int n, int k, int32_t* out, ToOut to_out) {
  extern __shared__ __align__(16) unsigned char dyn[];
  uint32_t* hist = reinterpret_cast<uint32_t*>(dyn);
  uint64_t* buf = reinterpret_cast<uint64_t*>(dyn + kBins * sizeof(uint32_t));
  uint32_t* sk = reinterpret_cast<uint32_t*>(buf + a.k);
  __shared__ topk_bucket::SelectShared<kThreads, kLimit> sh;
  const int tid = threadIdx.x;
  bool done = true;
  if (n <= 0) {
    for (int j = tid; j < k; j += kThreads) out[j] = -1;
  } else if (kByIndex && n <= k) {  // every column, already in order
    for (int j = tid; j < k; j += kThreads) out[j] = j < n ? to_out(begin + j) : -1;
  } else {
    topk_io::for_each_score<kThreads, kVec, TE>(scores, begin, end,
                                                [&](float v, int i) { sk[i - begin] = score_key(v); });
    __syncthreads();
    const int kk = min(k, n);
    if constexpr (kByIndex) {  // k < n
      uint64_t t;
      done = topk_bucket::kth_key_by_buckets<kThreads, kBins>(
          sk, begin, static_cast<uint32_t>(n), kk, hist, sh, &t);
      if (done)
        topk_ordered::ordered_buffer_pass<kThreads>(
            static_cast<uint32_t>(n), sh.scan,
            [&](uint32_t i) { return topk_bucket::rank_key_at(sk, begin, i); },
            [&](uint64_t key) { return key >= t; },
            [&](uint32_t pos, uint64_t key) {
              if (pos < static_cast<uint32_t>(k)) out[pos] = to_out(static_cast<int32_t>(key & 0xFFFFFFFFu));
            });
    } else {  // score order (also a valid answer for an unordered set); k = n ranks the row
      done = topk_bucket::select_by_buckets<kThreads, kBins>(
          sk, begin, static_cast<uint32_t>(n), kk, buf, sk, hist, sh, out, to_out);
      if (done)
        for (int j = kk + tid; j < k; j += kThreads) out[j] = -1;
    }
  }
  if (!done && tid == 0) out[0] = kShortRowRefused;  // uniform: the retry pass selects the row
}

template <bool kVec, typename TE, bool kByIndex, int kLimit>
__global__ void __launch_bounds__(kThreads, 4) short_topk_kernel(TopkRowsArgs a) {
  const int64_t row = blockIdx.x;
  const topk_io::RowView<TE> view = topk_io::row_view<TE>(a, row);
  const int begin = view.begin, end = view.end;
  const TE* scores = view.scores;
  int32_t* out = view.out;
  const int k = static_cast<int>(a.k);
  const int n = end - begin;
  // Kept-block positions become tokens as they are written (short_topk_fits: B <= kMaxB).
  if (a.columns.kept != nullptr) {
    run_row<kVec, TE, kByIndex, kLimit>(a, scores, begin, end, n, k, out,
                                       topk_io::token_map(a, row));
  } else {
    run_row<kVec, TE, kByIndex, kLimit>(a, scores, begin, end, n, k, out,
                                       topk_bucket::SameColumn{});
  }
}

template <bool kVec, typename TE, int kLimit>
void launch(const TopkRowsArgs& a, cudaStream_t stream, const char* ctx) {
  const bool by_index = a.sorted && a.by_index;
  auto* fn = by_index ? &short_topk_kernel<kVec, TE, true, kLimit>
                      : &short_topk_kernel<kVec, TE, false, kLimit>;
  const std::size_t smem = smem_bytes(a);
  HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(reinterpret_cast<const void*>(fn),
                                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(smem)),
                      ctx);
  fn<<<dim3(static_cast<unsigned>(a.rows)), kThreads, smem, stream>>>(a);
  HISA_CUDA_CHECK_LAUNCH("short_topk_kernel", ctx);
}

template <int kLimit>
void launch_typed(const TopkRowsArgs& a, bool vec, cudaStream_t stream, const char* ctx) {
  const bool f16 = a.scores_f16 != nullptr;
  if (f16 && vec) launch<true, uint16_t, kLimit>(a, stream, ctx);
  else if (f16) launch<false, uint16_t, kLimit>(a, stream, ctx);
  else if (vec) launch<true, float, kLimit>(a, stream, ctx);
  else launch<false, float, kLimit>(a, stream, ctx);
}

}  // namespace

bool short_topk_fits(const TopkRowsArgs& a) {
  return a.k >= 1 && a.k <= kShortRowMaxK && a.cols >= 1 && a.cols <= kShortRowMaxCols &&
         (a.columns.kept == nullptr || (a.columns.B >= 1 && a.columns.B <= topk_io::TokenMap::kMaxB));
}

void short_topk_rows(const TopkRowsArgs& a, bool vec, bool wide_buckets, cudaStream_t stream,
                     const char* ctx) {
  if (wide_buckets) launch_typed<2 * topk_bucket::kBucketMax>(a, vec, stream, ctx);
  else launch_typed<topk_bucket::kBucketMax>(a, vec, stream, ctx);
}

}  // namespace hisa::cuda
