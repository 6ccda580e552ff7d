// results_json (results_json.hpp).
#include "eval/results_json.hpp"

#include "eval/json_writer.hpp"

namespace hisa::eval {
namespace {

void summary(JsonWriter& j, const char* name, const Summary& s) {
  j.key(name);
  if (s.rows == 0) {
    j.null();
    return;
  }
  j.begin_object();
  j.key("mean").value(s.mean).key("p1").value(s.p1).key("p5").value(s.p5);
  j.key("min").value(s.min).key("rows").value(s.rows);
  j.end_object();
}

void config(JsonWriter& j, const Config& c) {
  j.key("config").begin_object();
  switch (c.method) {
    case Method::flat:
      break;
    case Method::hisa:
      j.key("B").value(c.block_size).key("m").value(c.blocks);
      j.key("summary").value(to_string(c.block_summary)).key("Q").value(c.shared_candidates);
      break;
    case Method::block:
      j.key("B").value(c.block_size).key("m").value(c.topk / c.block_size);
      j.key("summary").value(to_string(c.block_summary));
      break;
    case Method::misa:
      j.key("a").value(c.heads).key("c").value(c.candidates).key("B").value(c.block_size);
      break;
    case Method::proj:
      j.key("d").value(c.proj_dim).key("c").value(c.candidates).key("B").value(c.block_size);
      break;
    case Method::hisa_misa:
      j.key("B").value(c.block_size).key("m").value(c.blocks).key("a").value(c.heads);
      j.key("c").value(c.candidates).key("summary").value(to_string(c.block_summary));
      break;
  }
  j.end_object();
}

}  // namespace

std::string results_json(const RunInfo& info, const std::vector<Record>& records,
                         const std::vector<CaseDiagnostics>& diagnostics) {
  JsonWriter j;
  j.begin_object();
  j.key("tool").value(info.tool);
  j.key("date").value(utc_timestamp());
  j.key("commit");
  if (info.commit.empty())
    j.null();
  else
    j.value(info.commit);
  j.key("device").value(info.device);
  j.key("threads").value(info.threads);
  j.key("reps").value(info.reps);
  if (info.inputs.empty()) {
    j.key("workload").begin_object();
    j.key("kind").value(info.workload).key("dtype").value(info.dtype);
    j.key("seed")
        .value(static_cast<int64_t>(info.seed))
        .key("H")
        .value(info.H)
        .key("D")
        .value(info.D);
    j.end_object();
  } else {
    j.key("inputs").value(info.inputs);
    j.key("attn_scale");
    if (info.attn_scale > 0)
      j.value(info.attn_scale);
    else
      j.value("1/sqrt(D)");
  }
  j.key("topk").value(info.topk);
  j.key("query_rows");
  if (info.query_rows > 0)
    j.value(info.query_rows);
  else
    j.value("all");
  j.key("mass_rows").value(info.mass_rows);
  j.key("records").begin_array();
  for (const Record& r : records) {
    const MethodResult& m = r.result;
    j.begin_object();
    if (!r.case_name.empty()) j.key("case").value(r.case_name);
    j.key("L").value(r.L);
    j.key("method").value(to_string(m.cfg.method));
    config(j, m.cfg);
    j.key("label").value(config_label(m.cfg));
    j.key("workload").value(r.description);
    if (!m.error.empty()) {
      j.key("error").value(m.error);
      j.end_object();
      continue;
    }
    j.key("time_s").value(m.seconds);
    j.key("speedup_vs_flat").value(m.seconds > 0 ? r.flat_seconds / m.seconds : 0.0);
    summary(j, "iou", m.iou);
    summary(j, "recall", m.recall);
    summary(j, "mass_recall", m.mass);
    summary(j, "attn_mass", m.attn);
    j.key("cost").begin_object();
    j.key("triples_per_query").value(m.triples);
    j.key("vs_flat").value(m.flat_triples > 0 ? m.triples / m.flat_triples : 0.0);
    j.end_object();
    j.key("needle_recall");
    if (m.needle_recall < 0)
      j.null();
    else
      j.value(m.needle_recall);
    j.end_object();
  }
  j.end_array();
  if (!diagnostics.empty()) {
    j.key("block_diagnostics").begin_array();
    for (const CaseDiagnostics& c : diagnostics) {
      const BlockDiagnostics& d = c.diag;
      j.begin_object();
      j.key("case").value(c.case_name).key("B").value(d.B);
      summary(j, "blocks_visible", summarize(d.visible));
      summary(j, "blocks_touched", summarize(d.touched));
      j.key("oracle_coverage").begin_array();
      for (std::size_t i = 0; i < d.m.size(); ++i) {
        j.begin_object();
        j.key("m").value(d.m[i]);
        summary(j, "coverage", summarize(d.oracle[i]));
        j.end_object();
      }
      j.end_array();
      j.end_object();
    }
    j.end_array();
  }
  j.end_object();
  return j.str() + "\n";
}

}  // namespace hisa::eval
