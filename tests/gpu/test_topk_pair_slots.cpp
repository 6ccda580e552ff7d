// The pair rows' slot index (src/cuda/topk_pair_slots.cuh), on the host: for random presence
// bitmaps (empty, sparse, dense, runs of full and empty words), word offsets and the directory
// built as pair_topk_kernel builds them (note_word per word in order) give every set position
// the slot of its rank among the set positions (slot_of), and SlotPositions maps every slot
// back to that position. Runs without a GPU.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "cuda/topk_pair_slots.cuh"

namespace {

namespace tp = hisa::cuda::topk_pairs;

TEST(TopkPairSlots, SlotsAndPositionsAreInverse) {
  std::mt19937 rng(611);
  for (int trial = 0; trial < 3000; ++trial) {
    const int cols = 1 + static_cast<int>(rng() % 16384);
    const int words = (cols + 31) / 32;
    std::vector<uint32_t> bits(words, 0), woff(words), dir((cols + 63) / 64 + 1, 0xFFFFFFFFu);
    const int mode = trial % 4;
    const int density = static_cast<int>(rng() % 101);
    for (int p = 0; p < cols; ++p) {
      bool set = static_cast<int>(rng() % 100) < density;
      if (mode == 1) set = (p / 32) % 3 != 1 && set;        // runs of empty words
      if (mode == 2) set = (p / 256) % 2 == 0 || set;        // runs of full words
      if (mode == 3) set = static_cast<int>(rng() % 1000) < 3;  // sparse
      if (set) bits[p >> 5] |= 1u << (p & 31);
    }
    uint32_t at = 0;
    for (int w = 0; w < words; ++w) {
      woff[w] = at;
      const uint32_t c = static_cast<uint32_t>(tp::popcount32(bits[w]));
      tp::note_word(at, c, static_cast<uint32_t>(w), dir.data());
      at += c;
    }
    const tp::SlotPositions position_of{bits.data(), woff.data(), dir.data()};
    uint32_t rank = 0;
    for (int p = 0; p < cols; ++p) {
      if (!((bits[p >> 5] >> (p & 31)) & 1u)) continue;
      ASSERT_EQ(tp::slot_of(bits.data(), woff.data(), static_cast<uint32_t>(p)), rank)
          << "trial " << trial << " position " << p;
      ASSERT_EQ(position_of(static_cast<int32_t>(rank)), p) << "trial " << trial << " slot " << rank;
      ++rank;
    }
    ASSERT_EQ(rank, at);
  }
}

}  // namespace
