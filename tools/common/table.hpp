// Plain-text tables for people at a terminal: columns line up with Chinese
// names (East Asian wide characters take two columns), numbers right-aligned.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace settle::tools {

// Display width of UTF-8 text in terminal columns.
std::size_t display_width(std::string_view utf8);

class Table {
 public:
  enum class Align { left, right };
  struct Column {
    std::string title;
    Align align = Align::left;
  };
  explicit Table(std::vector<Column> columns);
  void add_row(std::vector<std::string> cells);
  void add_rule();  // a separator line
  std::string render() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;  // an empty row is a rule
};

// "label ........ value" lines, labels left, values right-aligned.
std::string render_pairs(const std::vector<std::pair<std::string, std::string>>& pairs);

}  // namespace settle::tools
