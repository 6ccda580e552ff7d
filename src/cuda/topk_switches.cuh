// The radix top-k's (topk_radix.cu) A/B switches, read on the host at each launch. Each one:
// its test hook (radix_topk_set_*, topk_radix.cuh; -1 = unset), else its environment variable
// (read once), else its default. Defaults and the measurements behind them: topk_switches.cu.
#pragma once

#include "cuda/topk_radix.cuh"

namespace hisa::cuda::topk_switch {

bool bucket_rank();                       // HISA_TOPK_BUCKETS: score-order ranking by buckets
bool bucket_select();                     // HISA_TOPK_SELECT: short rows by one counting sort
bool short_cta(const TopkRowsArgs& a);    // HISA_TOPK_SHORT_CTA: short rows in small CTAs first
bool bucket64();                          // HISA_TOPK_BUCKET64: short CTAs' bucket limit 64
int sample_min_cols();                    // HISA_TOPK_SAMPLE(_MIN): 0 = off, else the shortest
                                          // row that takes the sampled window
bool sample_hist();                       // HISA_TOPK_SAMPLE_HIST: its bounds by histograms

}  // namespace hisa::cuda::topk_switch
