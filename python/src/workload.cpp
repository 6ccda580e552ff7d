// Seeded workload generators (hisa/workload.hpp) and the FP8 / bf16 scalar codecs, exposed so
// Python tests, notebooks and the eval use the very same inputs as the CLI and C++ tests.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstring>
#include <string>

#include "bindings.hpp"
#include "hisa/error.hpp"
#include "hisa/numeric.hpp"
#include "hisa/types.hpp"
#include "hisa/workload.hpp"

namespace hisa::py {
namespace {

using HostBytes = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;

// A numpy view of `bytes` owned by the Python object `owner` (a bound Workload).
template <typename T>
nb::object view(nb::handle owner, const void* bytes, std::initializer_list<size_t> shape) {
  return nb::cast(nb::ndarray<nb::numpy, T>(const_cast<void*>(bytes), shape, owner));
}

nb::object element_view(nb::handle owner, const Workload& w, const std::vector<uint8_t>& v,
                        std::initializer_list<size_t> shape) {
  switch (w.dtype) {
    case DType::f32: return view<float>(owner, v.data(), shape);
    case DType::bf16: return view<uint16_t>(owner, v.data(), shape);
    case DType::fp8_e4m3: return view<uint8_t>(owner, v.data(), shape);
  }
  throw ArgumentError("dtype", "unknown dtype");
}

nb::dict arrays_of(nb::handle owner) {
  const Workload& w = nb::cast<const Workload&>(owner);
  const size_t T = w.T, S = w.S, H = w.H, D = w.D;
  nb::dict d;
  d["q"] = element_view(owner, w, w.q, {T, H, D});
  d["k"] = element_view(owner, w, w.k, {S, D});
  d["w"] = view<float>(owner, w.w.data(), {T, H});
  d["k_scale"] = w.k_scale.empty() ? nb::none() : view<float>(owner, w.k_scale.data(), {S});
  d["ks"] = w.ks.empty() ? nb::none() : view<int32_t>(owner, w.ks.data(), {T});
  d["ke"] = w.ke.empty() ? nb::none() : view<int32_t>(owner, w.ke.data(), {T});
  return d;
}

void copy_into(std::vector<uint8_t>& dst, const HostBytes& a) {
  dst.resize(a.nbytes());
  if (a.nbytes()) std::memcpy(dst.data(), a.data(), a.nbytes());
}
template <typename T>
void copy_into(std::vector<T>& dst, const nb::object& maybe) {
  dst.clear();
  if (maybe.is_none()) return;
  const HostBytes a = nb::cast<HostBytes>(maybe);
  dst.resize(a.nbytes() / sizeof(T));
  if (a.nbytes()) std::memcpy(dst.data(), a.data(), a.nbytes());
}

// Python passes arrays already checked for dtype/shape (hisa/workload.py); this only copies.
Workload from_arrays(DType dtype, int64_t T, int64_t S, int64_t H, int64_t D, const HostBytes& q,
                     const HostBytes& k, const HostBytes& w, nb::object k_scale, nb::object ks,
                     nb::object ke, std::string description) {
  Workload out;
  out.dtype = dtype;
  out.T = T, out.S = S, out.H = H, out.D = D;
  const size_t es = dtype_size(dtype);
  if (q.nbytes() != size_t(T * H * D) * es) throw ArgumentError("q", "byte size mismatch");
  if (k.nbytes() != size_t(S * D) * es) throw ArgumentError("k", "byte size mismatch");
  if (w.nbytes() != size_t(T * H) * 4) throw ArgumentError("weights", "byte size mismatch");
  copy_into(out.q, q);
  copy_into(out.k, k);
  std::vector<uint8_t> wb;
  copy_into(wb, w);
  out.w.resize(T * H);
  if (!wb.empty()) std::memcpy(out.w.data(), wb.data(), wb.size());
  copy_into(out.k_scale, k_scale);
  copy_into(out.ks, ks);
  copy_into(out.ke, ke);
  out.description = std::move(description);
  return out;
}

// Element-wise codec over a host array of any shape.
template <typename From, typename To, To (*Convert)(From)>
nb::ndarray<nb::numpy, To> convert(const nb::ndarray<const From, nb::c_contig, nb::device::cpu>& a) {
  std::vector<size_t> shape(a.ndim());
  for (size_t i = 0; i < a.ndim(); ++i) shape[i] = a.shape(i);
  auto* owned = new std::vector<To>(a.size());
  {
    nb::gil_scoped_release release;
    for (size_t i = 0; i < a.size(); ++i) (*owned)[i] = Convert(a.data()[i]);
  }
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<To>*>(p); });
  return nb::ndarray<nb::numpy, To>(owned->data(), shape.size(), shape.data(), owner);
}

}  // namespace

void bind_workload(nb::module_& m) {
  nb::class_<Workload>(m, "Workload", "Owned host arrays of one problem (hisa/workload.hpp).")
      .def_ro("dtype", &Workload::dtype)
      .def_ro("T", &Workload::T)
      .def_ro("S", &Workload::S)
      .def_ro("H", &Workload::H)
      .def_ro("D", &Workload::D)
      .def_ro("description", &Workload::description)
      .def_prop_ro("needles",
                   [](const Workload& w) {
                     std::vector<int64_t> v;
                     for (const Needle& n : w.needles) v.insert(v.end(), {n.t, n.s});
                     return to_numpy(std::move(v), {w.needles.size(), 2});
                   },
                   nb::rv_policy::automatic)  // a fresh array, not a view of the workload
      // A Problem viewing this workload's arrays: the caller keeps the Workload alive.
      .def("problem", &Workload::problem, nb::keep_alive<0, 1>());

  m.def("workload_arrays", &arrays_of, nb::arg("workload"),
        "numpy views (no copy) of q, k, w, k_scale, ks, ke; they keep the workload alive.");
  m.def("workload_from_arrays", &from_arrays, nb::arg("dtype"), nb::arg("T"), nb::arg("S"),
        nb::arg("H"), nb::arg("D"), nb::arg("q"), nb::arg("k"), nb::arg("w"),
        nb::arg("k_scale").none(), nb::arg("ks").none(), nb::arg("ke").none(),
        nb::arg("description"));
  m.def(
      "make_gaussian",
      [](int64_t T, int64_t S, int64_t H, int64_t D, uint64_t seed) {
        GaussianSpec s;
        s.T = T, s.S = S, s.H = H, s.D = D, s.seed = seed;
        nb::gil_scoped_release release;
        return make_gaussian(s);
      },
      nb::arg("T"), nb::arg("S"), nb::arg("H"), nb::arg("D"), nb::arg("seed"));
  m.def(
      "make_structured",
      [](int64_t T, int64_t S, int64_t H, int64_t D, int64_t topics, int64_t segment,
         int64_t needles, uint64_t seed) {
        StructuredSpec s;
        s.T = T, s.S = S, s.H = H, s.D = D;
        s.topics = topics, s.segment = segment, s.needles = needles, s.seed = seed;
        nb::gil_scoped_release release;
        return make_structured(s);
      },
      nb::arg("T"), nb::arg("S"), nb::arg("H"), nb::arg("D"), nb::arg("topics"),
      nb::arg("segment"), nb::arg("needles"), nb::arg("seed"));
  m.def("quantize_fp8", &quantize_fp8, nb::arg("workload"));
  m.def("to_bf16", &to_bf16, nb::arg("workload"));
  m.def("pack_sequences", &pack_sequences, nb::arg("workloads"));

  m.def("encode_fp8", &convert<float, uint8_t, float_to_fp8_e4m3>, nb::arg("values"),
        "f32 -> FP8 e4m3fn bytes (round to nearest even, saturating at +-448).");
  m.def("decode_fp8", &convert<uint8_t, float, fp8_e4m3_to_float>, nb::arg("codes"),
        "FP8 e4m3fn bytes -> exact f32.");
  m.def("encode_bf16", &convert<float, uint16_t, float_to_bf16>, nb::arg("values"),
        "f32 -> bfloat16 bits (round to nearest even).");
  m.def("decode_bf16", &convert<uint16_t, float, bf16_to_float>, nb::arg("bits"),
        "bfloat16 bits -> exact f32.");
}

}  // namespace hisa::py
