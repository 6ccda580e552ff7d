// Benchmark support for `hisa bench decode` (tools/hisa/cmd_bench_decode.cpp): seeded random
// decode inputs generated on the device (a 4 GB paged cache would take longer to make on the
// host than to benchmark). Host-compilable declarations; the kernels are in decode_bench.cu.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace hisa::cuda {

// FP8 paged cache [num_pages, P, 1, D + 4]: value bytes are e4m3 codes of ~N(0, 2^2) samples
// (never NaN), each page's P scales ~U[0.5, 1.5). q: e4m3 codes likewise; w ~ N(0, 1/8) roughly.
// Element i of each array is a pure function of (seed, array, i).
void fill_decode_random(uint8_t* cache, int64_t num_pages, int64_t P, int64_t D, uint8_t* q,
                        int64_t q_count, float* w, int64_t w_count, uint64_t seed,
                        cudaStream_t stream);

}  // namespace hisa::cuda
