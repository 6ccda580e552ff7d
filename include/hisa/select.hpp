// The one dispatcher. Every front end builds a Problem + Config and calls select().
#pragma once

#include <cstddef>
#include <cstdint>

#include "hisa/types.hpp"

namespace hisa {

// Validates `p` and `cfg` (throws ArgumentError naming the argument), then writes
// idx [T, cfg.topk] int32 into `out` (same memory space as p.memory) per SPEC.md:
// absolute key rows ranked by score descending, ties to the larger index, -1 padded.
//
// Backend choice is opts.device. Host inputs with opts.device == cuda are staged to the
// GPU and back (convenience path for the CLI); device inputs with opts.device == cpu are
// an error.
void select(const Problem& p, const Config& cfg, int32_t* out, const Options& opts = {});

// Device workspace (bytes) the CUDA backend needs for this problem shape and config,
// so that select() allocates nothing in the hot path. 0 for the CPU backend.
std::size_t workspace_bytes(const Problem& p, const Config& cfg, Device device);

// Shape/config validation only (no value scans). Throws ArgumentError.
void validate_shapes(const Problem& p, const Config& cfg);
// Value scans over host memory: NaN/Inf policy and ks/ke ranges. Throws ArgumentError.
void validate_host_values(const Problem& p, const Options& opts);

// True when this build has the CUDA backend compiled in.
bool cuda_compiled();
// Number of usable CUDA devices (0 without a CUDA build or without a GPU); never throws.
int cuda_device_count();

}  // namespace hisa
