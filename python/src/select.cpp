// Problem / Config / Options as Python objects, and the calls into the one dispatcher.
// Pointers cross as integers: the Python layer takes them from numpy (__array_interface__)
// or torch (data_ptr()) and keeps the arrays alive for the call. Going through raw pointers
// rather than the DLPack protocol matters for torch CUDA tensors: __dlpack__ makes the legacy
// default stream wait on the producer stream, which is illegal while a CUDA graph is captured.
#include <cstdint>
#include <string>

#include <nanobind/stl/string.h>

#include "bindings.hpp"
#include "hisa/select.hpp"
#include "hisa/spec.hpp"
#include "hisa/types.hpp"

namespace hisa::py {
namespace {

void bind_enums(nb::module_& m) {
  nb::enum_<DType>(m, "DType")
      .value("f32", DType::f32)
      .value("bf16", DType::bf16)
      .value("fp8_e4m3", DType::fp8_e4m3);
  nb::enum_<Device>(m, "Device").value("cpu", Device::cpu).value("cuda", Device::cuda);
  nb::enum_<Method>(m, "Method")
      .value("flat", Method::flat)
      .value("hisa", Method::hisa)
      .value("block", Method::block)
      .value("misa", Method::misa)
      .value("proj", Method::proj)
      .value("hisa_misa", Method::hisa_misa);
  nb::enum_<BlockSummary>(m, "BlockSummary")
      .value("mean", BlockSummary::mean)
      .value("bound", BlockSummary::bound)
      .value("emax", BlockSummary::emax);
  nb::enum_<Order>(m, "Order").value("score", Order::score).value("index", Order::index);
}

void bind_structs(nb::module_& m) {
  nb::class_<Problem>(m, "Problem", "Views of the prefill inputs (hisa/types.hpp).")
      .def(nb::init<>())
      .def_rw("dtype", &Problem::dtype)
      .def_rw("T", &Problem::T)
      .def_rw("S", &Problem::S)
      .def_rw("H", &Problem::H)
      .def_rw("D", &Problem::D)
      .HISA_PTR_PROP(Problem, const void, q)
      .HISA_PTR_PROP(Problem, const void, k)
      .HISA_PTR_PROP(Problem, const float, k_scale)
      .HISA_PTR_PROP(Problem, const float, w)
      .HISA_PTR_PROP(Problem, const int32_t, ks)
      .HISA_PTR_PROP(Problem, const int32_t, ke)
      .def_rw("memory", &Problem::memory);

  nb::class_<Config>(m, "Config", "Method configuration (hisa/types.hpp).")
      .def(nb::init<>())
      .def_rw("method", &Config::method)
      .def_rw("topk", &Config::topk)
      .def_rw("block_size", &Config::block_size)
      .def_rw("blocks", &Config::blocks)
      .def_rw("heads", &Config::heads)
      .def_rw("candidates", &Config::candidates)
      .def_rw("block_summary", &Config::block_summary)
      .def_rw("proj_dim", &Config::proj_dim)
      .def_rw("shared_candidates", &Config::shared_candidates)
      .def_rw("order", &Config::order)
      .def("__repr__", [](const Config& c) {
        return "Config(" + to_spec(c) + ", topk=" + std::to_string(c.topk) +
               ", order=" + to_string(c.order) + ")";
      });

  nb::class_<Options>(m, "Options", "Execution options (hisa/types.hpp).")
      .def(nb::init<>())
      .def_rw("device", &Options::device)
      .def_rw("allow_nonfinite", &Options::allow_nonfinite)
      .def_rw("check_values", &Options::check_values)
      .def_rw("threads", &Options::threads)
      .HISA_PTR_PROP(Options, void, stream)
      .HISA_PTR_PROP(Options, void, workspace)
      .def_rw("workspace_bytes", &Options::workspace_bytes);
}

}  // namespace

void bind_select(nb::module_& m) {
  bind_enums(m);
  bind_structs(m);
  m.def(
      "select",
      [](const Problem& p, const Config& cfg, uintptr_t out, const Options& opts) {
        // The selection may take seconds on the CPU: let other Python threads run.
        nb::gil_scoped_release release;
        select(p, cfg, pointer<int32_t>(out), opts);
      },
      nb::arg("problem"), nb::arg("config"), nb::arg("out"), nb::arg("options"),
      "hisa::select: writes idx [T, topk] int32 at address `out`.");
  m.def(
      "workspace_bytes",
      [](const Problem& p, const Config& cfg, Device device) {
        return workspace_bytes(p, cfg, device);
      },
      nb::arg("problem"), nb::arg("config"), nb::arg("device"),
      "Device workspace bytes the backend needs for this problem and config.");
  m.def("validate_shapes", &validate_shapes, nb::arg("problem"), nb::arg("config"));
  m.def(
      "parse_method_spec",
      [](const std::string& spec) { return parse_method_spec(spec, "spec"); }, nb::arg("spec"),
      "Config from a method spec such as 'hisa:B=64,m=16,summary=emax' (hisa/spec.hpp).");
  m.def("to_spec", &to_spec, nb::arg("config"));
}

}  // namespace hisa::py
