// A host decode case (decode_fixture.hpp) copied to the device: its paged cache, queries,
// weights, lengths, block table and pooled cache, with `view` pointing at the copies.
#pragma once

#include "../decode_fixture.hpp"
#include "hisa_gpu_check.hpp"

namespace hisa_decode_test {

struct DeviceCase {
  hisa_gpu_test::DeviceBuffer cache, q, w, lens, table, pooled;
  hisa::DecodeProblem view;
  explicit DeviceCase(const DecodeCase& c)
      : cache(c.cache.data(), c.cache.size()),
        q(c.q.data(), c.q.size()),
        w(c.w.data(), c.w.size() * 4),
        lens(c.lens.data(), c.lens.size() * 4),
        table(c.table.data(), c.table.size() * 4),
        pooled(c.pooled.empty() ? nullptr : c.pooled.data(), c.pooled.size() * 4) {
    view = c.view();
    view.cache.data = cache.ptr;
    view.q = q.ptr;
    view.w = w.as<float>();
    view.context_lens = lens.as<int32_t>();
    view.block_table = table.as<int32_t>();
    view.pooled = c.pooled.empty() ? nullptr : pooled.as<float>();
    view.memory = hisa::Device::cuda;
  }
};

}  // namespace hisa_decode_test
