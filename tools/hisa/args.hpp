// Tiny `--flag value` / `--switch` parser shared by the sub-commands.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "hisa/error.hpp"

namespace hisa::cli {

class Args {
 public:
  // `valued`: flags that take a value; `switches`: flags without one. Anything else is an
  // ArgumentError naming the flag.
  Args(const std::vector<std::string>& argv, const std::set<std::string>& valued,
       const std::set<std::string>& switches) {
    for (std::size_t i = 0; i < argv.size(); ++i) {
      const std::string& a = argv[i];
      if (switches.count(a)) {
        values_[a] = "1";
      } else if (valued.count(a)) {
        if (i + 1 >= argv.size()) throw ArgumentError(a, "expects a value");
        values_[a] = argv[++i];
      } else {
        throw ArgumentError(a, "unknown option");
      }
    }
  }
  bool has(const std::string& f) const { return values_.count(f) != 0; }
  std::string str(const std::string& f, const std::string& def = "") const {
    auto it = values_.find(f);
    return it == values_.end() ? def : it->second;
  }
  std::string required(const std::string& f) const {
    if (!has(f)) throw ArgumentError(f, "is required");
    return str(f);
  }
  int64_t integer(const std::string& f, int64_t def) const {
    if (!has(f)) return def;
    const std::string& s = values_.at(f);
    std::size_t pos = 0;
    int64_t v = 0;
    try {
      v = std::stoll(s, &pos);
    } catch (...) {
      pos = 0;
    }
    if (pos == 0 || pos != s.size()) throw ArgumentError(f, "expects an integer, got '" + s + "'");
    return v;
  }
  double real(const std::string& f, double def) const {
    if (!has(f)) return def;
    const std::string& s = values_.at(f);
    std::size_t pos = 0;
    double v = 0;
    try {
      v = std::stod(s, &pos);
    } catch (...) {
      pos = 0;
    }
    if (pos == 0 || pos != s.size()) throw ArgumentError(f, "expects a number, got '" + s + "'");
    return v;
  }
  // Comma-separated integers, e.g. "--L 8192,32768".
  std::vector<int64_t> integers(const std::string& f, const std::vector<int64_t>& def) const {
    if (!has(f)) return def;
    std::vector<int64_t> out;
    std::string s = values_.at(f), item;
    for (std::size_t i = 0; i <= s.size(); ++i) {
      if (i == s.size() || s[i] == ',') {
        std::size_t pos = 0;
        int64_t v = 0;
        try {
          v = std::stoll(item, &pos);
        } catch (...) {
          pos = 0;
        }
        if (pos == 0 || pos != item.size())
          throw ArgumentError(f, "expects comma-separated integers, got '" + s + "'");
        out.push_back(v);
        item.clear();
      } else {
        item += s[i];
      }
    }
    return out;
  }

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace hisa::cli
