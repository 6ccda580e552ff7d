// run_inputs_sweep (sweep.hpp): `hisa eval --inputs DIR`, the method sweep on case directories
// (real model captures or engine dumps) with per-case and pooled results.
#include <algorithm>
#include <map>

#include "eval/block_diagnostics.hpp"
#include "eval/case_inputs.hpp"
#include "eval/format.hpp"
#include "eval/json_writer.hpp"
#include "eval/method_runner.hpp"
#include "eval/results_json.hpp"
#include "eval/sample_queries.hpp"
#include "eval/sweep.hpp"
#include "eval/text_table.hpp"

namespace hisa::eval {
namespace {

// Results of one configuration pooled over cases: per-row values concatenated, times and
// triples summed (weighted by rows).
struct Pooled {
  MethodResult sum;
  double rows = 0;
  void add(const MethodResult& r, int64_t T) {
    if (!r.error.empty()) return;
    if (rows == 0) sum.cfg = r.cfg;
    sum.seconds += r.seconds;
    auto cat = [](std::vector<double>& a, const std::vector<double>& b) {
      a.insert(a.end(), b.begin(), b.end());
    };
    cat(sum.rows.iou, r.rows.iou);
    cat(sum.rows.recall, r.rows.recall);
    cat(sum.rows.mass, r.rows.mass);
    cat(sum.rows.attn, r.rows.attn);
    sum.triples += r.triples * static_cast<double>(T);
    sum.flat_triples += r.flat_triples * static_cast<double>(T);
    rows += static_cast<double>(T);
  }
  MethodResult result() const {
    MethodResult r = sum;
    r.iou = summarize(r.rows.iou);
    r.recall = summarize(r.rows.recall);
    r.mass = summarize(r.rows.mass);
    r.attn = summarize(r.rows.attn);
    r.triples = rows > 0 ? sum.triples / rows : 0;
    r.flat_triples = rows > 0 ? sum.flat_triples / rows : 0;
    return r;
  }
};

void print_pooled(std::ostream& os, const std::vector<MethodResult>& results, int64_t cases) {
  os << "pooled over " << cases << " case(s); attention mass = share of the softmax attention "
     << "probability inside the selection (mean over rows and heads)\n";
  TextTable t({"method", "config", "IoU", "IoU p1", "recall", "mass rec", "attn mass",
               "vs flat", "attn p1", "cost/flat"},
              2);
  const double flat_attn = results.empty() ? 0 : results.front().attn.mean;
  auto num = [](const Summary& s, double v) { return s.rows ? fmt("%.4f", v) : std::string("-"); };
  // results.front() is flat (the first configuration of every case).
  for (const MethodResult& r : results)
    t.add({to_string(r.cfg.method), config_label(r.cfg), num(r.iou, r.iou.mean),
           num(r.iou, r.iou.p1), num(r.recall, r.recall.mean), num(r.mass, r.mass.mean),
           num(r.attn, r.attn.mean), num(r.attn, r.attn.mean - flat_attn), num(r.attn, r.attn.p1),
           r.flat_triples > 0 ? fmt("%.3f", r.triples / r.flat_triples) : std::string("-")});
  t.print(os);
}

}  // namespace

void run_inputs_sweep(const SweepOptions& o, std::ostream& log, std::ostream& table) {
  SweepSetup setup = sweep_setup(o);
  const std::vector<std::string> dirs = find_case_dirs(o.inputs, "--inputs");
  RunOptions& ro = setup.run;
  ro.attention = true;
  ro.attn_scale = o.attn_scale;
  RunInfo& info = setup.info;
  info.inputs = o.inputs;
  info.attn_scale = o.attn_scale;

  const std::vector<Config> configs = sweep_configs(o, log);
  std::vector<Record> records;
  std::vector<CaseDiagnostics> diagnostics;
  std::vector<std::string> order;  // pooled configurations, first-seen order
  std::map<std::string, Pooled> pooled;
  std::map<int64_t, BlockDiagnostics> pooled_diag;
  auto pool = [&](const MethodResult& r, int64_t T) {
    const std::string key = std::string(to_string(r.cfg.method)) + " " + config_label(r.cfg);
    if (!pooled.count(key)) order.push_back(key);
    pooled[key].add(r, T);
  };

  for (const std::string& dir : dirs) {
    const Workload full = load_case(dir);
    const std::string name = full.description;
    const Workload wl = sample_queries(full, o.rows);
    log << "hisa eval: case " << name << ": T=" << wl.T << " S=" << wl.S << " H=" << wl.H
        << " D=" << wl.D << " " << to_string(wl.dtype) << std::endl;
    auto progress = [&log, &name](const std::string& line) {
      log << "  " << name << " " << line << std::endl;
    };
    MethodRunner runner(wl, o.topk, ro, progress);
    const double flat_s = runner.flat().seconds;
    records.push_back({wl.S, wl.description, flat_s, runner.flat(), name});
    pool(runner.flat(), wl.T);
    for (const Config& cfg : configs) {
      if (cfg.method == Method::misa && cfg.heads >= wl.H) {
        log << "  " << name << " misa a=" << cfg.heads << " skipped: a >= H=" << wl.H
            << " is flat" << std::endl;
        continue;
      }
      records.push_back({wl.S, wl.description, flat_s, runner.run(cfg), name});
      pool(records.back().result, wl.T);
    }
    const Problem p = wl.problem();
    for (int64_t B : o.B) {
      BlockDiagnostics d =
          block_diagnostics(p, {runner.flat_indices().data(), o.topk}, B, o.m, o.threads);
      if (pooled_diag.count(B))
        pooled_diag[B].append(d);
      else
        pooled_diag[B] = d;
      diagnostics.push_back({name, std::move(d)});
    }
    write_file_atomic(o.out, results_json(info, records, diagnostics), "--out");
  }

  std::vector<MethodResult> all;
  for (const std::string& key : order) {
    all.push_back(pooled[key].result());
    Record r;
    r.case_name = "all";
    r.description = std::to_string(dirs.size()) + " case(s) under " + o.inputs;
    r.result = all.back();
    r.flat_seconds = all.front().seconds;
    records.push_back(std::move(r));
  }
  for (auto& [B, d] : pooled_diag) diagnostics.push_back({"all", d});
  write_file_atomic(o.out, results_json(info, records, diagnostics), "--out");
  print_pooled(table, all, static_cast<int64_t>(dirs.size()));
  for (const auto& [B, d] : pooled_diag) {
    table << "block diagnostics B=" << B << ": flat's picks touch "
          << fmt("%.1f", summarize(d.touched).mean) << " of " << fmt("%.1f", summarize(d.visible).mean)
          << " visible blocks (mean); oracle coverage";
    for (std::size_t i = 0; i < d.m.size(); ++i)
      table << " m=" << d.m[i] << ": " << fmt("%.3f", summarize(d.oracle[i]).mean);
    table << "\n";
  }
  log << "hisa eval: " << dirs.size() << " case(s) done; " << records.size() << " records in "
      << o.out << std::endl;
}

}  // namespace hisa::eval
