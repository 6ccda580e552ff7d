// Internal helpers behind metrics.hpp, shared by the demo and eval drivers: comparing several
// approximate selections against one flat selection without recomputing flat's scores.
#pragma once

#include <cstdint>
#include <vector>

#include "hisa/types.hpp"
#include "hisa/workload.hpp"

namespace hisa::eval {

// One [T, k] int32 index list (-1 padded), host memory.
struct IndexList {
  const int32_t* idx = nullptr;
  int64_t k = 0;
};

// Distinct valid (non -1) entries of row t of `list`, ascending. An entry outside the row's
// visible range is an ArgumentError naming `name`.
std::vector<int32_t> row_entries(const Problem& p, IndexList list, int64_t t, const char* name);

// Score-mass recall (metrics.hpp row_mass_recall) of approximate lists against one flat
// list, on the query rows `rows` only (ascending, distinct; empty means every row). The exact
// positive scores I+ of flat's tokens are computed once, here, and shared by every recall()
// call, which then scores only the tokens an approximation adds. Throws ArgumentError for an
// index outside its row's visible range.
class FlatMass {
 public:
  FlatMass(const Problem& p, IndexList flat, std::vector<int64_t> rows, int threads = 0);
  const std::vector<int64_t>& rows() const { return rows_; }
  // Mass recall of `approx` on rows(), in that order.
  std::vector<double> recall(IndexList approx, int threads = 0) const;

 private:
  Problem p_;
  std::vector<int64_t> rows_;
  std::vector<std::vector<int32_t>> tokens_;  // per row: flat's distinct tokens, ascending
  std::vector<std::vector<double>> score_;    // their I+
  std::vector<double> mass_;                  // per row: sum of score_
};

// `count` rows spread evenly over [0, T) (all rows when count <= 0 or count >= T), ascending.
std::vector<int64_t> spread_rows(int64_t T, int64_t count);

// Fraction of needles (t, s) whose s appears in row t of `sel`; -1 when there are none.
double needle_recall(IndexList sel, int64_t T, const std::vector<Needle>& needles);

}  // namespace hisa::eval
