// Plain-text table with aligned columns (first column left-aligned text, `left` more columns
// left-aligned, the rest right-aligned numbers) for the CLI's human-readable output.
#pragma once

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

namespace hisa::eval {

class TextTable {
 public:
  TextTable(std::vector<std::string> header, std::size_t left_columns) : left_(left_columns) {
    rows_.push_back(std::move(header));
  }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

  void print(std::ostream& os) const {
    std::vector<std::size_t> width;
    for (const auto& r : rows_)
      for (std::size_t c = 0; c < r.size(); ++c) {
        if (width.size() <= c) width.push_back(0);
        width[c] = std::max(width[c], r[c].size());
      }
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      const auto& r = rows_[i];
      std::string line;
      for (std::size_t c = 0; c < r.size(); ++c) {
        const std::string pad(width[c] - r[c].size(), ' ');
        if (c > 0) line += "  ";
        line += c < left_ ? r[c] + pad : pad + r[c];
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      os << line << "\n";
      if (i == 0) {
        std::size_t total = 0;
        for (std::size_t c = 0; c < width.size(); ++c) total += width[c] + (c > 0 ? 2 : 0);
        os << std::string(total, '-') << "\n";
      }
    }
  }

 private:
  std::size_t left_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace hisa::eval
