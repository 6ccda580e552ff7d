// The latent structure of the structured workload (docs/workloads.md): topic segments,
// multi-scale salience, per-segment recall sets, head roles, needles and the unit directions
// they use. Built sequentially in O(S + T + (topics + segments + needles) * D); the dense
// q/k/w arrays are then filled in parallel from it (structured.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "hisa/workload.hpp"

namespace hisa::eval {

// Knobs of the generator. Fixed constants (docs/workloads.md explains each), gathered here so
// the model reads in one place.
struct StructuredParams {
  // Segments: lengths uniform in [0.5, 1.5] * segment; the next topic repeats an earlier
  // segment's topic with probability `recurrence`, else is a fresh random topic.
  double recurrence = 0.35;
  double segment_salience_sigma = 0.7;  // log-normal salience per segment
  int64_t phrase_min = 16, phrase_max = 64;
  double phrase_salience_sigma = 0.2;  // log-normal salience per phrase (sub-run)
  // Keys.
  double passage_weight = 1.0;  // weight of the segment's own passage direction
  double key_noise = 0.05;      // per-element N(0, sigma) on the content dims
  double key_position = 1.0;    // norm of the positional features
  int64_t sinks = 4;            // first tokens carry the attention-sink direction
  double sink_strength = 3.0;
  // Heads: role fractions (local, topic; the rest recall), signed base weights
  // 0.5 + 0.5 |N(0,1)|, negative with probability negative_heads, jittered per query by
  // exp(N(0, weight_jitter)).
  double local_heads = 0.125, topic_heads = 0.375;
  double negative_heads = 0.1, weight_jitter = 0.25;
  // Queries. Coefficients drawn per (t, h) uniformly from [lo, hi].
  int64_t recall_set = 10;                          // passages a segment's queries may recall
  int64_t recalls_per_head = 2;                     // passages one recall head looks for
  double recall_lo = 1.0, recall_hi = 2.0;          // weight of each recalled passage
  double topic_now_lo = 0.6, topic_now_hi = 1.2;    // topic heads: the current topic
  double topic_prev_lo = 0.2, topic_prev_hi = 0.6;  // ... the previous segment's topic
  double topic_fav_lo = 0.1, topic_fav_hi = 0.3;    // ... the head's favourite topic
  double recall_topic = 0.3, local_topic = 0.5;     // current topic in recall / local heads
  double query_noise = 0.03;
  double local_position = 2.0;  // positional weight of local heads (others: other_position)
  double other_position = 0.25;
  double sink_affinity = 0.3;
  // Needles: a span of `needle_span` tokens carries the needle direction (the peak token s
  // at strength needle_peak, the rest needle_body); the needle query's heads look for it.
  int64_t needle_span = 16;
  double needle_peak = 1.5, needle_body = 1.0, needle_query = 4.0;
};

enum class HeadRole : uint8_t { local, topic, recall };

struct StructuredPlan {
  StructuredParams prm;
  int64_t T = 0, S = 0, H = 0, D = 0;
  int64_t pos_pairs = 0;            // F: positional (cos, sin) pairs in dims [0, 2F)
  int64_t content_dims = 0;         // Dc = D - 2F: dims [2F, D)
  std::vector<int64_t> wavelength;  // [F] tokens per turn of positional pair i

  // Segments: segment g covers [seg_begin[g], seg_begin[g+1]).
  std::vector<int64_t> seg_begin;            // [G + 1]
  std::vector<int32_t> seg_topic;            // [G]
  std::vector<int32_t> segment_of;           // [S] segment of each key position
  std::vector<float> salience;               // [S] segment x phrase salience
  std::vector<std::vector<int32_t>> recall;  // [G] earlier segments g's queries may recall

  std::vector<HeadRole> role;       // [H]
  std::vector<int32_t> head_topic;  // [H] each head's favourite topic
  std::vector<float> head_weight;   // [H] signed base weight (before per-query jitter)

  // Unit directions on the content dims, row-major [count, Dc].
  std::vector<float> topic_dir, passage_dir, needle_dir, sink_dir;

  std::vector<Needle> needles;           // (t, s) pairs, s the peak token
  std::vector<int32_t> needle_of_key;    // [S] needle id whose span holds key s, or -1
  std::vector<int32_t> needle_of_query;  // [T] needle id queried by row t, or -1

  int64_t segments() const { return static_cast<int64_t>(seg_topic.size()); }
  const float* topic(int64_t j) const { return topic_dir.data() + j * content_dims; }
  const float* passage(int64_t g) const { return passage_dir.data() + g * content_dims; }
  const float* needle(int64_t i) const { return needle_dir.data() + i * content_dims; }
};

// Validates `spec` (ArgumentError naming the field) and draws the plan.
StructuredPlan plan_structured(const StructuredSpec& spec);

}  // namespace hisa::eval
