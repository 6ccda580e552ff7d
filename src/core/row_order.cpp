// Row order (types.hpp Order): score order -> index order on the host. The CPU backends and the
// host-side checks use it; the CUDA backend has its own (src/cuda/row_order.cu).
#include <algorithm>
#include <cstdint>

#include "hisa/types.hpp"

namespace hisa {

void order_rows_by_index(int32_t* rows, int64_t nrows, int64_t topk) {
  for (int64_t r = 0; r < nrows; ++r) {
    int32_t* row = rows + r * topk;
    // Score order puts every -1 after the valid entries, so the valid prefix is contiguous.
    int32_t* end = std::find(row, row + topk, -1);
    std::sort(row, end);
  }
}

}  // namespace hisa
