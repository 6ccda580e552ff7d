// The cost model of docs/fidelity.md "Cost": scored (query, head, token) triples per query,
// counted from each method's definition (SPEC.md) for one query row. A triple is one D-long
// dot product q[t,h] . x with x a key or a block summary; a summary that needs two D-long
// products per head (bound) counts 2, a product in d' < D dimensions counts d'/D.
#pragma once

#include <cstdint>

#include "hisa/types.hpp"

namespace hisa::eval {

// Triples scored for query t of `p` by the method `cfg` (flat: n * H). HISA with
// shared_candidates counts the query's own candidates: the union of its tile is scored once per
// tile as dense tiles (the GPU's way), so its extra tokens cost no more key loads per tile.
double scored_triples(const Problem& p, const Config& cfg, int64_t t);

}  // namespace hisa::eval
