// Query-row sampling for long-context evaluation on the CPU: fidelity is a per-row property,
// so a few hundred rows of a 128K-token prefill measure it at a fraction of the cost.
#pragma once

#include <cstdint>

#include "hisa/workload.hpp"

namespace hisa::eval {

// A workload with only some query rows of `wl` and all of its keys: `count` rows spread evenly
// over [0, T) plus the query row of every needle, ascending, with explicit ks/ke so that each
// row sees exactly the keys it sees in `wl` (HISA's blocks align to ks, so every method selects
// the same tokens for the row). Needles are re-indexed to the new rows. count <= 0 or
// count >= T returns a copy of `wl`.
Workload sample_queries(const Workload& wl, int64_t count);

}  // namespace hisa::eval
