// Top-k of short rows in small CTAs (see topk_short.cuh).
#include "cuda/topk_short.cuh"

#include <string>

#include "cuda/common.cuh"
#include "cuda/topk_bucket_select.cuh"
#include "cuda/topk_ordered.cuh"
#include "cuda/topk_pair_slots.cuh"
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

// ---- Pair rows (TopkRowsArgs::positions) ----
// Shared memory: kBins histogram words, k 8-byte keys, the placed score keys (cols words), the
// presence bitmap and its word offsets (words each), a slot -> word directory (one word per 64
// slots).
__host__ __device__ inline int pair_words(const TopkRowsArgs& a) {
  return static_cast<int>((a.cols + 31) / 32);
}
std::size_t pair_smem_bytes(const TopkRowsArgs& a) {
  const std::size_t words = static_cast<std::size_t>(pair_words(a));
  return kBins * sizeof(uint32_t) + a.k * sizeof(uint64_t) +
         static_cast<std::size_t>(a.cols) * sizeof(uint32_t) +
         (2 * words + (a.cols + 63) / 64) * sizeof(uint32_t);
}

// One row of pairs: the kept pairs are placed by ascending position (the slot order is then
// the column order, so ties still go to the larger position), selected by the one-sort
// selection with slot -> position -> token on output; a refused row is rewritten by position
// for the retry pass.
template <int kLimit>
__global__ void __launch_bounds__(kThreads, 2) pair_topk_kernel(TopkRowsArgs a) {
  extern __shared__ __align__(16) unsigned char dyn[];
  const int words = pair_words(a);
  uint32_t* hist = reinterpret_cast<uint32_t*>(dyn);
  uint64_t* buf = reinterpret_cast<uint64_t*>(dyn + kBins * sizeof(uint32_t));
  uint32_t* sk = reinterpret_cast<uint32_t*>(buf + a.k);
  uint32_t* bits = sk + a.cols;
  uint32_t* woff = bits + words;
  uint32_t* dir = woff + words;
  __shared__ topk_bucket::SelectShared<kThreads, kLimit> sh;
  const int tid = threadIdx.x;
  const int64_t row = blockIdx.x;
  const int k = static_cast<int>(a.k);
  const int n = min(max(a.end[row], 0), static_cast<int>(a.cols));
  const float* sc = a.scores + row * a.ld;
  const uint16_t* ps = a.positions + row * a.ld;
  const uint32_t min_key = a.min_key != nullptr ? a.min_key[row] : 0u;
  int32_t* out = a.out + row * a.out_ld;
  const topk_io::TokenMap tokens = topk_io::token_map(a, row);

  // 1. Which positions are kept.
  for (int w = tid; w < words; w += kThreads) bits[w] = 0;
  __syncthreads();
  for (int i = tid; i < n; i += kThreads) {
    if (score_key(sc[i]) < min_key) continue;
    const uint32_t p = ps[i];
    atomicOr(&bits[p >> 5], 1u << (p & 31));
  }
  __syncthreads();
  // 2. Word offsets (each thread a contiguous run of words) and the slot directory.
  const int per = (words + kThreads - 1) / kThreads;
  const int lo = min(words, tid * per), hi = min(words, lo + per);
  uint32_t mine = 0;
  for (int w = lo; w < hi; ++w) mine += static_cast<uint32_t>(__popc(bits[w]));
  uint32_t placed = 0;
  uint32_t at = topk_ordered::block_exclusive_scan<kThreads>(mine, sh.scan, placed);
  for (int w = lo; w < hi; ++w) {
    woff[w] = at;
    const uint32_t c = static_cast<uint32_t>(__popc(bits[w]));
    topk_pairs::note_word(at, c, static_cast<uint32_t>(w), dir);
    at += c;
  }
  __syncthreads();
  // 3. Placement by position.
  for (int i = tid; i < n; i += kThreads) {
    const uint32_t key = score_key(sc[i]);
    if (key < min_key) continue;
    sk[topk_pairs::slot_of(bits, woff, ps[i])] = key;
  }
  __syncthreads();
  const topk_pairs::SlotPositions position_of{bits, woff, dir};
  const auto to_out = [&](int32_t slot) { return tokens(position_of(slot)); };
  if (placed == 0) {
    for (int j = tid; j < k; j += kThreads) out[j] = -1;
    return;
  }
  const int kk = min(k, static_cast<int>(placed));
  if (topk_bucket::select_by_buckets<kThreads, kBins>(sk, 0, placed, kk, buf, sk, hist, sh, out,
                                                      to_out)) {
    for (int j = kk + tid; j < k; j += kThreads) out[j] = -1;
    return;
  }
  // Refused (uniform; sk, bits and woff are intact): the row by position, NaN where no pair
  // was kept (those scores are below the row's k-th: they are never selected), for the retry.
  const int cvalid = topk_io::columns_geometry(a, row).cvalid;
  float* by_position = const_cast<float*>(sc);
  for (int p = tid; p < cvalid; p += kThreads) {
    const uint32_t up = static_cast<uint32_t>(p);
    const uint64_t key = static_cast<uint64_t>(sk[topk_pairs::slot_of(bits, woff, up)]) << 32;
    by_position[p] =
        (bits[up >> 5] >> (up & 31)) & 1u ? topk_bucket::key_score(key) : __uint_as_float(0x7FC00000u);
  }
  __syncthreads();  // every thread has read sk and written its positions
  if (tid == 0) {
    const_cast<int32_t*>(a.end)[row] = cvalid;
    out[0] = kShortRowRefused;
  }
}

template <int kLimit>
void launch_pairs(const TopkRowsArgs& a, cudaStream_t stream, const char* ctx) {
  const std::size_t smem = pair_smem_bytes(a);
  HISA_CUDA_CHECK_CTX(cudaFuncSetAttribute(reinterpret_cast<const void*>(&pair_topk_kernel<kLimit>),
                                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(smem)),
                      ctx);
  pair_topk_kernel<kLimit><<<dim3(static_cast<unsigned>(a.rows)), kThreads, smem, stream>>>(a);
  HISA_CUDA_CHECK_LAUNCH("pair_topk_kernel", ctx);
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
  if (a.positions != nullptr) {
    if (wide_buckets) launch_pairs<2 * topk_bucket::kBucketMax>(a, stream, ctx);
    else launch_pairs<topk_bucket::kBucketMax>(a, stream, ctx);
    return;
  }
  if (wide_buckets) launch_typed<2 * topk_bucket::kBucketMax>(a, vec, stream, ctx);
  else launch_typed<topk_bucket::kBucketMax>(a, vec, stream, ctx);
}

}  // namespace hisa::cuda
