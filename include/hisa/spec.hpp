// Method specs: one string names a method and its knobs, e.g. "hisa:B=64,m=16,summary=emax",
// "misa:a=8,c=4", "proj:d=16,c=4", "hisa-misa:B=64,m=64,a=1,c=4", "flat". Used by
// `hisa eval --methods` and the real-data drivers; knobs not given keep Config's defaults
// (except misa's B: kMisaBlockSize, as on every front end).
#pragma once

#include <string>

#include "hisa/types.hpp"

namespace hisa {

// Knobs per method: hisa B m summary Q; block B summary; misa B a c; proj d B c;
// hisa-misa B m a c summary; flat none. B = block_size, m = blocks, a = heads,
// c = candidates, d = proj_dim, summary = mean|bound|emax, Q = shared_candidates. A malformed spec, an unknown method
// or a knob the method does not take is an ArgumentError naming `argument`. Values are checked
// for range by validate_shapes (they depend on the problem), not here.
Config parse_method_spec(const std::string& spec, const std::string& argument = "spec");

// The spec of `cfg` with every knob its method takes (parse_method_spec(to_spec(c)) == c for
// those knobs).
std::string to_spec(const Config& cfg);

// BlockSummary from its name (mean, bound, emax); ArgumentError naming `argument` otherwise.
BlockSummary parse_block_summary(const std::string& name, const std::string& argument);
// Order from its name (score, index); ArgumentError naming `argument` otherwise.
Order parse_order(const std::string& name, const std::string& argument);

}  // namespace hisa
