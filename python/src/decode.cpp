// Decode (hisa/decode.hpp) for Python: the paged cache, the decode problem, pooled-cache
// updates. Pointers cross as integers, as in select.cpp; the Python layer (hisa/decode.py)
// checks shapes, dtypes and contiguity of the arrays they come from.
#include <cstdint>

#include "bindings.hpp"
#include "hisa/decode.hpp"

namespace hisa::py {

void bind_decode(nb::module_& m) {
  nb::class_<PagedCache>(m, "PagedCache", "The paged index-key cache (hisa/decode.hpp).")
      .def(nb::init<>())
      .def_rw("dtype", &PagedCache::dtype)
      .def_rw("num_pages", &PagedCache::num_pages)
      .def_rw("page_size", &PagedCache::page_size)
      .def_rw("D", &PagedCache::D)
      .HISA_PTR_PROP(PagedCache, const void, data);

  nb::class_<DecodeProblem>(m, "DecodeProblem", "One decode step's inputs (hisa/decode.hpp).")
      .def(nb::init<>())
      .def_rw("cache", &DecodeProblem::cache)
      .def_rw("batch", &DecodeProblem::batch)
      .def_rw("next_n", &DecodeProblem::next_n)
      .def_rw("H", &DecodeProblem::H)
      .HISA_PTR_PROP(DecodeProblem, const void, q)
      .HISA_PTR_PROP(DecodeProblem, const float, w)
      .HISA_PTR_PROP(DecodeProblem, const int32_t, context_lens)
      .HISA_PTR_PROP(DecodeProblem, const int32_t, block_table)
      .def_rw("max_pages", &DecodeProblem::max_pages)
      .HISA_PTR_PROP(DecodeProblem, const float, pooled)
      .def_rw("memory", &DecodeProblem::memory);

  nb::class_<PooledUpdate>(m, "PooledUpdate", "New tokens to fold into the pooled cache.")
      .def(nb::init<>())
      .def_rw("n", &PooledUpdate::n)
      .HISA_PTR_PROP(PooledUpdate, const int64_t, slot_mapping)
      .HISA_PTR_PROP(PooledUpdate, const int32_t, positions)
      .HISA_PTR_PROP(PooledUpdate, const int32_t, seq_index)
      .def_rw("batch", &PooledUpdate::batch)
      .HISA_PTR_PROP(PooledUpdate, const int32_t, block_table)
      .def_rw("max_pages", &PooledUpdate::max_pages)
      .HISA_PTR_PROP(PooledUpdate, const int32_t, context_lens)
      .def_rw("new_tokens", &PooledUpdate::new_tokens)
      .def_rw("memory", &PooledUpdate::memory);

  m.def(
      "decode_select",
      [](const DecodeProblem& p, const Config& cfg, uintptr_t out, const Options& opts) {
        nb::gil_scoped_release release;
        decode_select(p, cfg, pointer<int32_t>(out), opts);
      },
      nb::arg("problem"), nb::arg("config"), nb::arg("out"), nb::arg("options"),
      "hisa::decode_select: writes idx [batch, next_n, topk] int32 (positions) at `out`.");
  m.def(
      "decode_workspace_bytes",
      [](const DecodeProblem& p, const Config& cfg, Device device) {
        return decode_workspace_bytes(p, cfg, device);
      },
      nb::arg("problem"), nb::arg("config"), nb::arg("device"));
  m.def("validate_decode_shapes", &validate_decode_shapes, nb::arg("problem"), nb::arg("config"));
  m.def(
      "pooled_update",
      [](const PagedCache& c, uintptr_t pooled, int64_t block_size, const PooledUpdate& u,
         const Options& opts) {
        nb::gil_scoped_release release;
        pooled_update(c, PooledCache{pointer<float>(pooled), block_size}, u, opts);
      },
      nb::arg("cache"), nb::arg("pooled"), nb::arg("block_size"), nb::arg("update"),
      nb::arg("options"), "hisa::pooled_update (pooled_build: new_tokens = -1).");
  m.def("page_bytes", &page_bytes, nb::arg("cache"));
}

}  // namespace hisa::py
