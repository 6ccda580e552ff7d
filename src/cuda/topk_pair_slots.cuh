// Slots of the short-row top-k's pair rows (topk_short.cu, TopkRowsArgs::positions): the kept
// pairs are placed by ascending position using a presence bitmap over the positions, its
// words' exclusive prefix counts (woff) and a directory of one word per 64 slots (dir[s / 64]
// = the word that holds slot 64 * (s / 64)). Host and device (tests/gpu/test_topk_pair_slots.cpp
// checks them on the host).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace hisa::cuda::topk_pairs {

// Bit position of the (r + 1)-th set bit of `word` (r < popcount(word)).
__host__ __device__ inline int nth_set_bit(uint32_t word, int r) {
#if defined(__CUDA_ARCH__)
  return static_cast<int>(__fns(word, 0, r + 1));
#else
  for (int b = 0; b < 32; ++b)
    if ((word >> b) & 1u) {
      if (r == 0) return b;
      --r;
    }
  return -1;
#endif
}

__host__ __device__ inline int popcount32(uint32_t v) {
#if defined(__CUDA_ARCH__)
  return __popc(v);
#else
  return __builtin_popcount(v);
#endif
}

// The directory entry of word w, whose slots are [at, at + c) (c <= 32): the word holds at most
// one multiple of 64.
__host__ __device__ inline void note_word(uint32_t at, uint32_t c, uint32_t w, uint32_t* dir) {
  const uint32_t first = (at + 63u) & ~63u;
  if (first < at + c) dir[first >> 6] = w;
}

// Slot of position p (set in bits): the set bits below it.
__host__ __device__ inline uint32_t slot_of(const uint32_t* bits, const uint32_t* woff,
                                            uint32_t p) {
  const uint32_t w = p >> 5;
  return woff[w] + static_cast<uint32_t>(popcount32(bits[w] & ((1u << (p & 31)) - 1u)));
}

// Position of slot s (below the number of set bits).
struct SlotPositions {
  const uint32_t* bits;
  const uint32_t* woff;
  const uint32_t* dir;
  __host__ __device__ int32_t operator()(int32_t s) const {
    uint32_t w = dir[s >> 6];
    const uint32_t us = static_cast<uint32_t>(s);
    while (woff[w] + static_cast<uint32_t>(popcount32(bits[w])) <= us) ++w;
    return static_cast<int32_t>(w << 5) + nth_set_bit(bits[w], static_cast<int>(us - woff[w]));
  }
};

}  // namespace hisa::cuda::topk_pairs
