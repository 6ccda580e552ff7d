// Internal declarations shared by the nanobind translation units of hisa._C.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdint>
#include <vector>

namespace hisa::py {

namespace nb = nanobind;

// Pointers cross the boundary as integers (select.cpp says why): conversions, and a read/write
// integer property over a pointer member of a bound struct.
template <typename T>
uintptr_t address(T* p) {
  return reinterpret_cast<uintptr_t>(p);
}
template <typename T>
T* pointer(uintptr_t a) {
  return reinterpret_cast<T*>(a);
}
#define HISA_PTR_PROP(cls, Type, field)                                                  \
  def_prop_rw(                                                                           \
      #field, [](const cls& s) { return ::hisa::py::address(s.field); },                 \
      [](cls& s, uintptr_t a) { s.field = ::hisa::py::pointer<Type>(a); })

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
