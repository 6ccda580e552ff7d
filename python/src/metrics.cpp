// Fidelity metrics (SPEC.md "Fidelity metrics") over host index arrays.
#include <string>

#include "bindings.hpp"
#include "hisa/error.hpp"
#include "hisa/metrics.hpp"
#include "hisa/select.hpp"
#include "hisa/types.hpp"

namespace hisa::py {
namespace {

using RowMetric = std::vector<double> (*)(const int32_t*, int64_t, const int32_t*, int64_t,
                                          int64_t);

// Both lists must have the same number of rows; widths may differ (e.g. c*topk vs topk).
int64_t rows_of(const HostIndex& approx, const HostIndex& flat) {
  if (approx.shape(0) != flat.shape(0))
    throw ArgumentError("flat", "row count " + std::to_string(flat.shape(0)) +
                                    " differs from approx's " +
                                    std::to_string(approx.shape(0)));
  return static_cast<int64_t>(approx.shape(0));
}

nb::ndarray<nb::numpy, double> row_metric(RowMetric f, const HostIndex& approx,
                                          const HostIndex& flat) {
  const int64_t T = rows_of(approx, flat);
  std::vector<double> v;
  {
    nb::gil_scoped_release release;
    v = f(approx.data(), static_cast<int64_t>(approx.shape(1)), flat.data(),
          static_cast<int64_t>(flat.shape(1)), T);
  }
  return to_numpy(std::move(v), {static_cast<size_t>(T)});
}

// Every entry must be -1 (unused) or a row of k: the score of each is read.
void require_rows_index_k(const HostIndex& idx, int64_t S, const char* argument) {
  const int32_t* v = idx.data();
  const size_t n = idx.size();
  for (size_t i = 0; i < n; ++i)
    if (v[i] < -1 || v[i] >= S)
      throw ArgumentError(argument, "entry " + std::to_string(i) + " = " + std::to_string(v[i]) +
                                        " is not -1 or a key row in [0, S=" + std::to_string(S) +
                                        ")");
}

}  // namespace

void bind_metrics(nb::module_& m) {
  m.def(
      "row_iou",
      [](const HostIndex& a, const HostIndex& f) { return row_metric(&row_iou, a, f); },
      nb::arg("approx"), nb::arg("flat"));
  m.def(
      "row_recall",
      [](const HostIndex& a, const HostIndex& f) { return row_metric(&row_recall, a, f); },
      nb::arg("approx"), nb::arg("flat"));
  m.def(
      "row_mass_recall",
      [](const Problem& p, const HostIndex& a, const HostIndex& f) {
        if (p.memory != Device::cpu)
          throw ArgumentError("q", "mass recall needs the inputs in host memory");
        if (static_cast<int64_t>(a.shape(0)) != p.T)
          throw ArgumentError("approx", "has " + std::to_string(a.shape(0)) +
                                            " rows, q has T=" + std::to_string(p.T));
        rows_of(a, f);
        Config shapes_only;  // validate the problem's shapes with the flat method
        validate_shapes(p, shapes_only);
        Options ranges_only;  // ks/ke ranges; non-finite values only lower the recall
        ranges_only.allow_nonfinite = true;
        validate_host_values(p, ranges_only);
        require_rows_index_k(a, p.S, "approx");
        require_rows_index_k(f, p.S, "flat");
        std::vector<double> v;
        {
          nb::gil_scoped_release release;
          v = row_mass_recall(p, a.data(), static_cast<int64_t>(a.shape(1)), f.data(),
                              static_cast<int64_t>(f.shape(1)));
        }
        return to_numpy(std::move(v), {static_cast<size_t>(p.T)});
      },
      nb::arg("problem"), nb::arg("approx"), nb::arg("flat"));
  m.def(
      "summarize",
      [](const HostDoubles& per_row) {
        std::vector<double> v(per_row.data(), per_row.data() + per_row.shape(0));
        const Summary s = summarize(v);
        nb::dict d;
        d["mean"] = s.mean;
        d["p1"] = s.p1;
        d["p5"] = s.p5;
        d["min"] = s.min;
        d["rows"] = s.rows;
        return d;
      },
      nb::arg("per_row"));
}

}  // namespace hisa::py
