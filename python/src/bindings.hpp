// Internal declarations shared by the nanobind translation units of hisa._C.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdint>
#include <vector>

namespace hisa::py {

namespace nb = nanobind;

// Each registers one area of the module (one file each).
void bind_errors(nb::module_& m);    // errors.cpp: exception classes + C++ -> Python mapping
void bind_select(nb::module_& m);    // select.cpp: Problem/Config/Options, select, workspace
void bind_metrics(nb::module_& m);   // metrics.cpp: IoU, recall, mass recall, summary
void bind_workload(nb::module_& m);  // workload.cpp: generators, FP8/bf16 conversion
void bind_decode(nb::module_& m);    // decode.cpp: paged-cache decode, pooled-cache updates

// Host arrays handed in from Python (numpy, or anything exposing DLPack on the CPU).
using HostIndex = nb::ndarray<const int32_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using HostDoubles = nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

// A numpy array that owns `values` (moved into a capsule).
template <typename T>
nb::ndarray<nb::numpy, T> to_numpy(std::vector<T>&& values, std::initializer_list<size_t> shape) {
  auto* owned = new std::vector<T>(std::move(values));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T>(owned->data(), shape, owner);
}

}  // namespace hisa::py
