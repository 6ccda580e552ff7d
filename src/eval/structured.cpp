// make_structured: fills q, k, w from the latent plan (structured_plan.hpp), rows in parallel.
// docs/workloads.md is the prose version of this file.
#include <cmath>
#include <string>

#include "eval/parallel_rows.hpp"
#include "eval/rng.hpp"
#include "eval/structured_plan.hpp"
#include "eval/workload_shape.hpp"
#include "hisa/workload.hpp"

namespace hisa {
namespace {

using eval::HeadRole;
using eval::Rng;
using eval::StructuredPlan;

constexpr uint64_t kTagKeys = 301, kTagQueries = 302, kTagWeights = 303;

// Positional features of position p into out[0, 2F): (cos, sin)(2 pi p / lambda_i) * scale /
// sqrt(F), so that q.k over these dims is rho_q * rho_k * mean_i cos(2 pi (t - s) / lambda_i):
// a smooth function of the distance t - s, largest at distance 0 (a recency bias).
void positional(const StructuredPlan& pl, int64_t p, double scale, double* out) {
  const int64_t F = pl.pos_pairs;
  if (F == 0) return;
  const double a = scale / std::sqrt(static_cast<double>(F));
  for (int64_t i = 0; i < F; ++i) {
    double c, s;
    eval::det_cos_sin_turns(p % pl.wavelength[i], pl.wavelength[i], &c, &s);
    out[2 * i] = a * c;
    out[2 * i + 1] = a * s;
  }
}

void add(double* acc, const float* dir, double scale, int64_t n) {
  for (int64_t d = 0; d < n; ++d) acc[d] += scale * dir[d];
}

// Key s: [positional | salience * (topic + passage) + sink + noise], or a needle direction.
void fill_key(const StructuredPlan& pl, uint64_t seed, int64_t s, double* row, float* out) {
  const auto& prm = pl.prm;
  const int64_t F2 = 2 * pl.pos_pairs, dc = pl.content_dims;
  Rng rng(eval::stream_seed(seed, kTagKeys, static_cast<uint64_t>(s)));
  for (int64_t d = 0; d < pl.D; ++d) row[d] = 0.0;
  positional(pl, s, prm.key_position, row);
  double* c = row + F2;
  const int32_t needle = pl.needle_of_key[s];
  if (needle >= 0) {  // an off-topic span: only the needle direction
    const double strength = pl.needles[needle].s == s ? prm.needle_peak : prm.needle_body;
    add(c, pl.needle(needle), strength, dc);
  } else {
    const int32_t g = pl.segment_of[s];
    add(c, pl.topic(pl.seg_topic[g]), pl.salience[s], dc);
    add(c, pl.passage(g), pl.salience[s] * prm.passage_weight, dc);
  }
  if (s < prm.sinks) add(c, pl.sink_dir.data(), prm.sink_strength, dc);
  for (int64_t d = 0; d < dc; ++d) c[d] += prm.key_noise * rng.normal();
  for (int64_t d = 0; d < pl.D; ++d) out[d] = static_cast<float>(row[d]);
}

// Query row (t, h): what head h of query t looks for, by the head's role.
// `unit_pos` holds the positional features of the query position at scale 1.
void fill_query(const StructuredPlan& pl, uint64_t seed, const std::vector<bool>& needle_head,
                int64_t t, int64_t h, const double* unit_pos, double* row, float* out) {
  const auto& prm = pl.prm;
  const int64_t F2 = 2 * pl.pos_pairs, dc = pl.content_dims;
  Rng rng(eval::stream_seed(seed, kTagQueries, static_cast<uint64_t>(t * pl.H + h)));
  const int64_t p = pl.S - pl.T + t;
  const int32_t g = pl.segment_of[p];
  const std::vector<int32_t>& recall = pl.recall[g];
  HeadRole role = pl.role[h];
  if (role == HeadRole::recall && recall.empty()) role = HeadRole::topic;  // no history yet

  const double rho = role == HeadRole::local ? prm.local_position : prm.other_position;
  for (int64_t d = 0; d < F2; ++d) row[d] = rho * unit_pos[d];
  for (int64_t d = F2; d < pl.D; ++d) row[d] = 0.0;
  double* c = row + F2;
  add(c, pl.sink_dir.data(), prm.sink_affinity, dc);
  switch (role) {
    case HeadRole::local:
      add(c, pl.topic(pl.seg_topic[g]), prm.local_topic, dc);
      break;
    case HeadRole::topic:
      add(c, pl.topic(pl.seg_topic[g]), rng.uniform(prm.topic_now_lo, prm.topic_now_hi), dc);
      if (g > 0)
        add(c, pl.topic(pl.seg_topic[g - 1]), rng.uniform(prm.topic_prev_lo, prm.topic_prev_hi),
            dc);
      add(c, pl.topic(pl.head_topic[h]), rng.uniform(prm.topic_fav_lo, prm.topic_fav_hi), dc);
      break;
    case HeadRole::recall: {
      add(c, pl.topic(pl.seg_topic[g]), prm.recall_topic, dc);
      // Distinct passages of the segment's recall set (partial Fisher-Yates on a copy).
      std::vector<int32_t> pool = recall;
      for (int64_t i = 0; i < prm.recalls_per_head && !pool.empty(); ++i) {
        const int64_t j = rng.below(static_cast<int64_t>(pool.size()));
        add(c, pl.passage(pool[j]), rng.uniform(prm.recall_lo, prm.recall_hi), dc);
        pool[j] = pool.back();
        pool.pop_back();
      }
      break;
    }
  }
  const int32_t needle = pl.needle_of_query[t];
  if (needle >= 0 && needle_head[h]) add(c, pl.needle(needle), prm.needle_query, dc);
  for (int64_t d = 0; d < dc; ++d) c[d] += prm.query_noise * rng.normal();
  for (int64_t d = 0; d < pl.D; ++d) out[d] = static_cast<float>(row[d]);
}

// Heads that look for a needle: recall heads with positive weight; failing that, every
// positive head; failing that, all heads (tiny H).
std::vector<bool> needle_heads(const StructuredPlan& pl) {
  std::vector<bool> pick(static_cast<std::size_t>(pl.H), false);
  auto choose = [&](auto&& wanted) {
    bool any = false;
    for (int64_t h = 0; h < pl.H; ++h) {
      pick[h] = wanted(h);
      any = any || pick[h];
    }
    return any;
  };
  if (choose([&](int64_t h) { return pl.role[h] == HeadRole::recall && pl.head_weight[h] > 0; }))
    return pick;
  if (choose([&](int64_t h) { return pl.head_weight[h] > 0; })) return pick;
  pick.assign(pick.size(), true);
  return pick;
}

}  // namespace

Workload make_structured(const StructuredSpec& spec) {
  const StructuredPlan pl = eval::plan_structured(spec);
  Workload wl = eval::allocate_f32_workload(spec.T, spec.S, spec.H, spec.D);
  wl.needles = pl.needles;
  float* q = reinterpret_cast<float*>(wl.q.data());
  float* k = reinterpret_cast<float*>(wl.k.data());
  const int64_t D = spec.D, H = spec.H;

  eval::parallel_rows(spec.S, 0, [&](int64_t s) {
    std::vector<double> row(static_cast<std::size_t>(D));
    fill_key(pl, spec.seed, s, row.data(), k + s * D);
  });
  const std::vector<bool> needle_head = needle_heads(pl);
  eval::parallel_rows(spec.T, 0, [&](int64_t t) {
    std::vector<double> row(static_cast<std::size_t>(D)), unit_pos(2 * pl.pos_pairs);
    positional(pl, spec.S - spec.T + t, 1.0, unit_pos.data());
    for (int64_t h = 0; h < H; ++h)
      fill_query(pl, spec.seed, needle_head, t, h, unit_pos.data(), row.data(),
                 q + (t * H + h) * D);
  });
  // Head weights: the head's signed base weight with a per-query log-normal jitter, / sqrt(H).
  const double inv_sqrt_h = 1.0 / std::sqrt(static_cast<double>(H));
  eval::parallel_rows(spec.T, 0, [&](int64_t t) {
    Rng rng(eval::stream_seed(spec.seed, kTagWeights, static_cast<uint64_t>(t)));
    for (int64_t h = 0; h < H; ++h)
      wl.w[t * H + h] = static_cast<float>(
          pl.head_weight[h] * eval::det_exp(pl.prm.weight_jitter * rng.normal()) * inv_sqrt_h);
  });
  wl.description =
      "structured T=" + std::to_string(spec.T) + " S=" + std::to_string(spec.S) +
      " H=" + std::to_string(H) + " D=" + std::to_string(D) +
      " topics=" + std::to_string(spec.topics) + " segment=" + std::to_string(spec.segment) +
      " needles=" + std::to_string(spec.needles) + " seed=" + std::to_string(spec.seed) + " f32";
  return wl;
}

}  // namespace hisa
