// Method specs (spec.hpp).
#include "hisa/spec.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "hisa/error.hpp"

namespace hisa {
namespace {

struct MethodKnobs {
  const char* name;
  Method method;
  const char* knobs;  // the knob names it takes, space separated
};

constexpr MethodKnobs kMethods[] = {
    {"flat", Method::flat, ""},
    {"hisa", Method::hisa, "B m summary Q"},
    {"block", Method::block, "B summary"},
    {"misa", Method::misa, "B a c"},
    {"proj", Method::proj, "d B c"},
    {"hisa-misa", Method::hisa_misa, "B m a c summary"},
};

const MethodKnobs& find_method(Method m) {
  for (const MethodKnobs& k : kMethods)
    if (k.method == m) return k;
  throw ArgumentError("method", "unknown method");
}

bool takes(const MethodKnobs& m, const std::string& knob) {
  const std::string list = std::string(" ") + m.knobs + " ";
  return list.find(" " + knob + " ") != std::string::npos;
}

int64_t parse_int(const std::string& v, const std::string& knob, const std::string& argument) {
  std::size_t pos = 0;
  int64_t x = 0;
  try {
    x = std::stoll(v, &pos);
  } catch (...) {
    pos = 0;
  }
  if (pos == 0 || pos != v.size())
    throw ArgumentError(argument, "knob " + knob + " expects an integer, got '" + v + "'");
  return x;
}

}  // namespace

BlockSummary parse_block_summary(const std::string& name, const std::string& argument) {
  if (name == "mean") return BlockSummary::mean;
  if (name == "bound") return BlockSummary::bound;
  if (name == "emax") return BlockSummary::emax;
  throw ArgumentError(argument, "block summary must be mean, bound or emax, got '" + name + "'");
}

Order parse_order(const std::string& name, const std::string& argument) {
  if (name == "score") return Order::score;
  if (name == "index") return Order::index;
  throw ArgumentError(argument, "row order must be score or index, got '" + name + "'");
}

Config parse_method_spec(const std::string& spec, const std::string& argument) {
  const std::size_t colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  const MethodKnobs* method = nullptr;
  for (const MethodKnobs& k : kMethods)
    if (name == k.name) method = &k;
  if (method == nullptr)
    throw ArgumentError(argument, "unknown method '" + name + "' in '" + spec +
                                      "' (flat, hisa, block, misa, proj, hisa-misa)");
  Config cfg;
  cfg.method = method->method;
  if (cfg.method == Method::misa) cfg.block_size = kMisaBlockSize;
  if (colon == std::string::npos) return cfg;
  const std::string rest = spec.substr(colon + 1);
  std::size_t at = 0;
  while (at <= rest.size()) {
    const std::size_t comma = std::min(rest.find(',', at), rest.size());
    const std::string item = rest.substr(at, comma - at);
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      throw ArgumentError(argument, "expected knob=value in '" + spec + "', got '" + item + "'");
    const std::string knob = item.substr(0, eq), value = item.substr(eq + 1);
    if (!takes(*method, knob))
      throw ArgumentError(argument, "method " + name + " takes no knob '" + knob + "' (its knobs: " +
                                        (*method->knobs ? method->knobs : "none") + ")");
    if (knob == "summary")
      cfg.block_summary = parse_block_summary(value, argument);
    else if (knob == "B")
      cfg.block_size = parse_int(value, knob, argument);
    else if (knob == "m")
      cfg.blocks = parse_int(value, knob, argument);
    else if (knob == "a")
      cfg.heads = parse_int(value, knob, argument);
    else if (knob == "c")
      cfg.candidates = parse_int(value, knob, argument);
    else if (knob == "d")
      cfg.proj_dim = parse_int(value, knob, argument);
    else if (knob == "Q")
      cfg.shared_candidates = parse_int(value, knob, argument);
    at = comma + 1;
  }
  return cfg;
}

std::string to_spec(const Config& cfg) {
  const MethodKnobs& m = find_method(cfg.method);
  std::string out = m.name;
  const std::vector<std::pair<const char*, std::string>> values = {
      {"d", std::to_string(cfg.proj_dim)}, {"B", std::to_string(cfg.block_size)},
      {"m", std::to_string(cfg.blocks)},   {"a", std::to_string(cfg.heads)},
      {"c", std::to_string(cfg.candidates)}, {"summary", to_string(cfg.block_summary)},
      {"Q", std::to_string(cfg.shared_candidates)}};
  char sep = ':';
  for (const auto& [knob, value] : values)
    if (takes(m, knob)) {
      out += sep + std::string(knob) + "=" + value;
      sep = ',';
    }
  return out;
}

}  // namespace hisa
