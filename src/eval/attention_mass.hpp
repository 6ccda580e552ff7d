// Softmax attention mass covered by a selection (docs/fidelity.md "Attention mass"): on real
// model inputs the indexer's q and k ARE the attention's (post-RoPE) q and k, so this is the
// share of the model's own attention probability that a sparse attention over the selected
// keys would still see.
#pragma once

#include <cstdint>
#include <vector>

#include "eval/compare.hpp"
#include "hisa/workload.hpp"

namespace hisa::eval {

// For query row t and head h, p_h(s) = softmax over the visible s in [ks, ke) of
//   attn_scale * dot(q[t,h,:] * q_scale[t,h], k[s,:] * k_scale[s])
// (q, k dequantized exactly; q_scale = 1 and k_scale = 1 where absent), computed in double.
// A selection A covers share(t) = (1/H) * sum_h sum_{s in A} p_h(s): the mean over the query
// heads of the attention probability inside A (1 when A holds every visible key).
class AttentionMass {
 public:
  // attn_scale <= 0 means 1/sqrt(D). `rows` ascending and distinct (empty: every row). The
  // per-token mass of every sampled row is computed once, here (rows x n floats).
  AttentionMass(const Workload& wl, double attn_scale, std::vector<int64_t> rows,
                int threads = 0);
  const std::vector<int64_t>& rows() const { return rows_; }
  double attn_scale() const { return scale_; }
  // share(t) of `sel` on rows(), in that order. Duplicates count once; an index outside the
  // row's visible range is an ArgumentError (as for mass recall).
  std::vector<double> share(IndexList sel, int threads = 0) const;

 private:
  Problem p_;
  double scale_;
  std::vector<int64_t> rows_;
  std::vector<std::vector<float>> mass_;  // per sampled row: mean-over-heads p(s), s - ks
};

}  // namespace hisa::eval
