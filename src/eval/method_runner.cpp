// MethodRunner (method_runner.hpp): time select() per method and compare with flat.
#include "eval/method_runner.hpp"

#include <algorithm>
#include <chrono>

#include "eval/attention_mass.hpp"
#include "eval/compare.hpp"
#include "eval/cost.hpp"
#include "eval/device_problem.hpp"
#include "eval/format.hpp"
#include "hisa/error.hpp"
#include "hisa/select.hpp"

namespace hisa::eval {
std::string config_label(const Config& cfg) {
  const std::string B = "B=" + std::to_string(cfg.block_size);
  const std::string summary = cfg.block_summary == BlockSummary::mean
                                  ? std::string()
                                  : std::string(" ") + to_string(cfg.block_summary);
  switch (cfg.method) {
    case Method::flat:
      return "-";
    case Method::hisa:
      return B + " m=" + std::to_string(cfg.blocks) + summary +
             (cfg.shared_candidates > 1 ? " Q=" + std::to_string(cfg.shared_candidates) : "");
    case Method::block:
      return B + " (m=" + std::to_string(cfg.block_size > 0 ? cfg.topk / cfg.block_size : 0) + ")" +
             summary;
    case Method::proj:
      return "d=" + std::to_string(cfg.proj_dim) + " c=" + std::to_string(cfg.candidates) +
             (cfg.block_size != 64 ? " " + B : "");
    case Method::hisa_misa:
      return B + " m=" + std::to_string(cfg.blocks) + " a=" + std::to_string(cfg.heads) +
             " c=" + std::to_string(cfg.candidates) + summary;
    case Method::misa:
      return "a=" + std::to_string(cfg.heads) +
             (cfg.candidates > 1 ? " c=" + std::to_string(cfg.candidates) : std::string()) + " " +
             B;
  }
  return "?";
}

MethodRunner::MethodRunner(const Workload& wl, int64_t topk, const RunOptions& opts,
                           std::function<void(const std::string&)> progress)
    : wl_(wl), host_(wl.problem()), topk_(topk), opts_(opts), progress_(std::move(progress)) {
  Config flat_cfg;
  flat_cfg.method = Method::flat;
  flat_cfg.topk = topk;
  validate_shapes(host_, flat_cfg);
  // Value scan once on the host; device runs then skip it (their inputs are this copy).
  Options check;
  validate_host_values(host_, check);
  if (opts_.device == Device::cuda) device_ = std::make_unique<DeviceProblem>(host_);

  flat_idx_.resize(static_cast<std::size_t>(host_.T * topk));
  flat_.cfg = flat_cfg;
  flat_.seconds = time_once(flat_cfg, flat_idx_.data());
  if (opts_.mass_rows >= 0) {
    const std::vector<int64_t> rows = spread_rows(host_.T, opts_.mass_rows);
    flat_mass_ = std::make_unique<FlatMass>(host_, IndexList{flat_idx_.data(), topk}, rows,
                                            opts_.threads);
    if (opts_.attention)
      attention_ = std::make_unique<AttentionMass>(wl_, opts_.attn_scale, rows, opts_.threads);
  }
  measure(flat_, flat_idx_);
  if (progress_) progress_("flat: " + fmt_seconds(flat_.seconds));
}

MethodRunner::~MethodRunner() = default;

double MethodRunner::time_once(const Config& cfg, int32_t* out) {
  if (device_) return device_->time_select(cfg, opts_.reps, out);
  Options o;
  o.device = Device::cpu;
  o.threads = opts_.threads;
  o.check_values = false;  // checked once in the constructor
  std::vector<double> times;
  for (int r = 0; r < std::max(opts_.reps, 1); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    select(host_, cfg, out, o);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

void MethodRunner::measure(MethodResult& r, const std::vector<int32_t>& idx) const {
  const int64_t T = host_.T;
  r.rows.iou = row_iou(idx.data(), topk_, flat_idx_.data(), topk_, T);
  r.rows.recall = row_recall(idx.data(), topk_, flat_idx_.data(), topk_, T);
  r.iou = summarize(r.rows.iou);
  r.recall = summarize(r.rows.recall);
  if (flat_mass_) {
    r.rows.mass = flat_mass_->recall({idx.data(), topk_}, opts_.threads);
    r.mass = summarize(r.rows.mass);
  }
  if (attention_) {
    r.rows.attn = attention_->share({idx.data(), topk_}, opts_.threads);
    r.attn = summarize(r.rows.attn);
  }
  Config flat_cfg;
  flat_cfg.topk = topk_;
  double triples = 0, flat_triples = 0;
  for (int64_t t = 0; t < T; ++t) {
    triples += scored_triples(host_, r.cfg, t);
    flat_triples += scored_triples(host_, flat_cfg, t);
  }
  r.triples = T > 0 ? triples / static_cast<double>(T) : 0;
  r.flat_triples = T > 0 ? flat_triples / static_cast<double>(T) : 0;
  r.needle_recall = needle_recall({idx.data(), topk_}, T, wl_.needles);
  r.needles_found =
      r.needle_recall < 0 ? 0 : static_cast<int64_t>(r.needle_recall * wl_.needles.size() + 0.5);
}

MethodResult MethodRunner::run(Config cfg) {
  cfg.topk = topk_;
  MethodResult r;
  r.cfg = cfg;
  validate_shapes(host_, cfg);  // bad configs are the caller's error: throw
  std::vector<int32_t> idx(static_cast<std::size_t>(host_.T * topk_));
  try {
    r.seconds = time_once(cfg, idx.data());
  } catch (const BackendError& e) {
    r.error = e.what();
    if (progress_)
      progress_(std::string(to_string(cfg.method)) + " " + config_label(cfg) +
                ": not run: " + r.error);
    return r;
  }
  measure(r, idx);
  if (progress_)
    progress_(std::string(to_string(cfg.method)) + " " + config_label(cfg) + ": " +
              fmt_seconds(r.seconds));
  return r;
}

}  // namespace hisa::eval
