// hisa._C: the nanobind extension behind the Python package. It only adapts Python values to
// the C++ API (hisa::select and friends); all semantics live in the C++ library.
#include "bindings.hpp"
#include "hisa/select.hpp"

NB_MODULE(_C, m) {
  m.doc() = "hisa C++ extension (use the `hisa` package, not this module directly)";
  hisa::py::bind_errors(m);
  hisa::py::bind_select(m);
  hisa::py::bind_metrics(m);
  hisa::py::bind_workload(m);
  hisa::py::bind_decode(m);
  m.def("cuda_compiled", &hisa::cuda_compiled,
        "True when this build has the CUDA backend compiled in.");
  m.def("cuda_device_count", &hisa::cuda_device_count,
        "Usable CUDA devices (0 without a CUDA build or a GPU); never raises.");
}
