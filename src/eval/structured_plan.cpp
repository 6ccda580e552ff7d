// Draws the latent structure of the structured workload (structured_plan.hpp). Every random
// choice comes from its own counter-based stream (rng.hpp), so the plan is a pure function
// of the spec.
#include "eval/structured_plan.hpp"
#include "eval/workload_shape.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "eval/rng.hpp"
#include "hisa/error.hpp"

namespace hisa::eval {
namespace {

// Stream tags (rng.hpp stream_seed) of the plan; structured.cpp uses 300+.
constexpr uint64_t kTagSegments = 201, kTagPhrases = 202, kTagRecall = 203, kTagHeads = 204,
                   kTagNeedles = 205, kTagTopicDir = 211, kTagPassageDir = 212, kTagNeedleDir = 213,
                   kTagSinkDir = 214, kTagBasis = 215;

std::string str(int64_t v) { return std::to_string(v); }

void validate(const StructuredSpec& spec) {
  eval::validate_workload_sizes(spec.T, spec.S, spec.H, spec.D);
  if (spec.topics < 1) throw ArgumentError("topics", "must be >= 1, got " + str(spec.topics));
  if (spec.segment < 1) throw ArgumentError("segment", "must be >= 1, got " + str(spec.segment));
  if (spec.needles < 0 || spec.needles > spec.T)
    throw ArgumentError("needles", "must be in [0, T=" + str(spec.T) + "] (one query each), got " +
                                       str(spec.needles));
}

// `count` random unit vectors of `dims` elements, row i from stream (seed, tag, i).
std::vector<float> unit_directions(uint64_t seed, uint64_t tag, int64_t count, int64_t dims) {
  std::vector<float> out(static_cast<std::size_t>(count * dims));
  std::vector<double> v(static_cast<std::size_t>(dims));
  for (int64_t i = 0; i < count; ++i) {
    Rng rng(stream_seed(seed, tag, static_cast<uint64_t>(i)));
    double norm2 = 0;
    for (int64_t d = 0; d < dims; ++d) {
      v[d] = rng.normal();
      norm2 += v[d] * v[d];
    }
    const double inv = norm2 > 0 ? 1.0 / std::sqrt(norm2) : 0.0;
    for (int64_t d = 0; d < dims; ++d) out[i * dims + d] = static_cast<float>(v[d] * inv);
  }
  return out;
}

// Appends up to `want` values of `pool` not yet in `chosen`, drawn uniformly without
// replacement (pool is small: one segment's history).
void pick_distinct(Rng& rng, const std::vector<int32_t>& pool, int64_t want,
                   std::vector<int32_t>& chosen) {
  std::vector<int32_t> free;
  for (int32_t v : pool)
    if (std::find(chosen.begin(), chosen.end(), v) == chosen.end()) free.push_back(v);
  for (int64_t i = 0; i < want && !free.empty(); ++i) {
    const int64_t j = rng.below(static_cast<int64_t>(free.size()));
    chosen.push_back(free[j]);
    free[j] = free.back();
    free.pop_back();
  }
}

void plan_segments(const StructuredSpec& spec, StructuredPlan& pl) {
  const StructuredParams& prm = pl.prm;
  Rng rng(stream_seed(spec.seed, kTagSegments, 0));
  std::vector<float> seg_salience;
  for (int64_t pos = 0; pos < spec.S;) {
    const int64_t g = pl.segments();
    const int64_t len = std::max<int64_t>(
        1, static_cast<int64_t>(static_cast<double>(spec.segment) * rng.uniform(0.5, 1.5) + 0.5));
    int32_t topic;
    if (g == 0 || spec.topics == 1) {
      topic = static_cast<int32_t>(rng.below(spec.topics));
    } else if (rng.uniform() < prm.recurrence) {
      topic = pl.seg_topic[rng.below(g)];  // a topic seen earlier comes back
    } else {                               // a fresh topic, different from the current one
      const int32_t prev = pl.seg_topic[g - 1];
      topic = static_cast<int32_t>(rng.below(spec.topics - 1));
      if (topic >= prev) ++topic;
    }
    pl.seg_begin.push_back(pos);
    pl.seg_topic.push_back(topic);
    seg_salience.push_back(static_cast<float>(det_exp(prm.segment_salience_sigma * rng.normal())));
    pos = std::min(spec.S, pos + len);
  }
  pl.seg_begin.push_back(spec.S);
  pl.segment_of.resize(static_cast<std::size_t>(spec.S));
  for (int64_t g = 0; g < pl.segments(); ++g)
    std::fill(pl.segment_of.begin() + pl.seg_begin[g], pl.segment_of.begin() + pl.seg_begin[g + 1],
              static_cast<int32_t>(g));

  // Phrases: sub-runs with their own salience, independent of segment boundaries.
  Rng phrase(stream_seed(spec.seed, kTagPhrases, 0));
  pl.salience.resize(static_cast<std::size_t>(spec.S));
  for (int64_t pos = 0; pos < spec.S;) {
    const int64_t len = prm.phrase_min + phrase.below(prm.phrase_max - prm.phrase_min + 1);
    const double factor = det_exp(prm.phrase_salience_sigma * phrase.normal());
    const int64_t end = std::min(spec.S, pos + len);
    for (int64_t s = pos; s < end; ++s)
      pl.salience[s] = static_cast<float>(seg_salience[pl.segment_of[s]] * factor);
    pos = end;
  }

  // Recall sets: half from earlier segments of the same topic (recurring themes), the rest
  // from any earlier segment.
  std::vector<std::vector<int32_t>> earlier_by_topic(static_cast<std::size_t>(spec.topics));
  std::vector<int32_t> earlier;
  pl.recall.resize(static_cast<std::size_t>(pl.segments()));
  for (int64_t g = 0; g < pl.segments(); ++g) {
    Rng r(stream_seed(spec.seed, kTagRecall, static_cast<uint64_t>(g)));
    const int64_t want = std::min<int64_t>(prm.recall_set, g);
    std::vector<int32_t>& set = pl.recall[g];
    pick_distinct(r, earlier_by_topic[pl.seg_topic[g]], (want + 1) / 2, set);
    pick_distinct(r, earlier, want - static_cast<int64_t>(set.size()), set);
    earlier.push_back(static_cast<int32_t>(g));
    earlier_by_topic[pl.seg_topic[g]].push_back(static_cast<int32_t>(g));
  }
}

void plan_heads(const StructuredSpec& spec, StructuredPlan& pl) {
  for (int64_t h = 0; h < spec.H; ++h) {
    Rng rng(stream_seed(spec.seed, kTagHeads, static_cast<uint64_t>(h)));
    const double u = rng.uniform();
    const StructuredParams& prm = pl.prm;
    pl.role.push_back(u < prm.local_heads                     ? HeadRole::local
                      : u < prm.local_heads + prm.topic_heads ? HeadRole::topic
                                                              : HeadRole::recall);
    pl.head_topic.push_back(static_cast<int32_t>(rng.below(spec.topics)));
    const double magnitude = 0.5 + 0.5 * std::fabs(rng.normal());
    const bool negative = rng.uniform() < prm.negative_heads;
    pl.head_weight.push_back(static_cast<float>(negative ? -magnitude : magnitude));
  }
  // Needles need a head of positive weight to be found by flat (tiny H only).
  bool any_positive = false;
  for (float w : pl.head_weight) any_positive = any_positive || w > 0;
  if (!any_positive) pl.head_weight[0] = -pl.head_weight[0];
}

void plan_needles(const StructuredSpec& spec, StructuredPlan& pl) {
  const StructuredParams& prm = pl.prm;
  pl.needle_of_key.assign(static_cast<std::size_t>(spec.S), -1);
  pl.needle_of_query.assign(static_cast<std::size_t>(spec.T), -1);
  Rng rng(stream_seed(spec.seed, kTagNeedles, 0));
  // Short sequences get shorter needles, so that all of them fit without overlap.
  const int64_t span_max =
      std::clamp<int64_t>(spec.S / (4 * std::max<int64_t>(spec.needles, 1)), 1, prm.needle_span);
  for (int64_t i = 0; i < spec.needles; ++i) {
    bool placed = false;
    for (int attempt = 0; attempt < 256 && !placed; ++attempt) {
      const int64_t t = rng.below(spec.T);
      if (pl.needle_of_query[t] >= 0) continue;
      const int64_t p = spec.S - spec.T + t;         // key position of query t
      const int64_t first = std::min(prm.sinks, p);  // needles avoid the sink tokens
      const int64_t avail = p + 1 - first;
      const int64_t span = std::min(span_max, avail);
      // Keep the needle away from the query (up to two segments) so it is a long-range fetch.
      const int64_t gap = std::min(2 * spec.segment, (avail - span) / 2);
      const int64_t start = first + rng.below(avail - span - gap + 1);
      bool free = true;
      for (int64_t s = start; s < start + span; ++s) free = free && pl.needle_of_key[s] < 0;
      if (!free) continue;
      const int64_t peak = start + rng.below(span);
      for (int64_t s = start; s < start + span; ++s) pl.needle_of_key[s] = static_cast<int32_t>(i);
      pl.needle_of_query[t] = static_cast<int32_t>(i);
      pl.needles.push_back({t, peak});
      placed = true;
    }
    if (!placed)
      throw ArgumentError("needles", "could not place needle " + str(i) + " of " +
                                         str(spec.needles) + " without overlap; S=" + str(spec.S) +
                                         " is too small for that many");
  }
}

// Semantic directions. A random orthonormal basis of the content dims (dense in coordinates,
// as real keys are) provides "features": feature 0 is the sink direction, features
// 1..topics the topics (so topics are mutually orthogonal), and passages are random unit
// vectors in the span of the remaining features. When the content dims are too few for that
// (small D or many topics), all directions are independent random unit vectors instead.
// Needle directions are always random unit vectors (rare: aligned with nothing in particular).
void plan_directions(const StructuredSpec& spec, StructuredPlan& pl) {
  const int64_t dc = pl.content_dims;
  pl.needle_dir = unit_directions(spec.seed, kTagNeedleDir, spec.needles, dc);
  const int64_t pool_first = 1 + spec.topics, pool = dc - pool_first;
  if (pool < 8) {
    pl.topic_dir = unit_directions(spec.seed, kTagTopicDir, spec.topics, dc);
    pl.passage_dir = unit_directions(spec.seed, kTagPassageDir, pl.segments(), dc);
    pl.sink_dir = unit_directions(spec.seed, kTagSinkDir, 1, dc);
    return;
  }
  // Modified Gram-Schmidt on random vectors (in double; independent vectors with
  // probability 1, and a near-dependent one is simply redrawn from the next stream index).
  std::vector<double> basis;
  for (uint64_t draw = 0; static_cast<int64_t>(basis.size()) < dc * dc; ++draw) {
    Rng rng(stream_seed(spec.seed, kTagBasis, draw));
    std::vector<double> v(static_cast<std::size_t>(dc));
    for (double& x : v) x = rng.normal();
    const int64_t have = static_cast<int64_t>(basis.size()) / dc;
    for (int64_t b = 0; b < have; ++b) {
      double dot = 0;
      for (int64_t d = 0; d < dc; ++d) dot += v[d] * basis[b * dc + d];
      for (int64_t d = 0; d < dc; ++d) v[d] -= dot * basis[b * dc + d];
    }
    double norm2 = 0;
    for (double x : v) norm2 += x * x;
    if (norm2 < 1e-6) continue;  // (numerically) dependent: draw again
    const double inv = 1.0 / std::sqrt(norm2);
    for (double x : v) basis.push_back(x * inv);
  }
  auto feature = [&](int64_t f) { return basis.data() + f * dc; };
  pl.sink_dir.assign(feature(0), feature(0) + dc);
  pl.topic_dir.assign(feature(1), feature(1) + spec.topics * dc);
  // Passages: random unit vectors in the span of the remaining features (orthogonal to the
  // sink and every topic; two passages overlap by ~N(0, 1/pool)).
  pl.passage_dir.assign(static_cast<std::size_t>(pl.segments() * dc), 0.0f);
  const std::vector<float> coords = unit_directions(spec.seed, kTagPassageDir, pl.segments(), pool);
  std::vector<double> acc(static_cast<std::size_t>(dc));
  for (int64_t g = 0; g < pl.segments(); ++g) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t f = 0; f < pool; ++f) {
      const double c = coords[g * pool + f];
      for (int64_t d = 0; d < dc; ++d) acc[d] += c * feature(pool_first + f)[d];
    }
    for (int64_t d = 0; d < dc; ++d) pl.passage_dir[g * dc + d] = static_cast<float>(acc[d]);
  }
}

}  // namespace

StructuredPlan plan_structured(const StructuredSpec& spec) {
  validate(spec);
  StructuredPlan pl;
  pl.T = spec.T;
  pl.S = spec.S;
  pl.H = spec.H;
  pl.D = spec.D;
  pl.pos_pairs = std::min<int64_t>(8, spec.D / 16);
  pl.content_dims = spec.D - 2 * pl.pos_pairs;
  double lambda = 64.0;
  for (int64_t i = 0; i < pl.pos_pairs; ++i, lambda *= 2.5)
    pl.wavelength.push_back(static_cast<int64_t>(lambda + 0.5));
  plan_segments(spec, pl);
  plan_heads(spec, pl);
  plan_needles(spec, pl);
  plan_directions(spec, pl);
  return pl;
}

}  // namespace hisa::eval
