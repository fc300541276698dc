// RFC 4180 cells and rows, and the formula guard of csv_cell.
#include "tools/common/csv.hpp"

namespace settle::tools {
namespace {

bool plain_number(std::string_view s) {
  if (s.size() < 2 || (s[0] != '-' && s[0] != '+')) return false;
  bool digit = false, dot = false;
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (s[i] >= '0' && s[i] <= '9') {
      digit = true;
    } else if (s[i] == '.' && !dot) {
      dot = true;
    } else {
      return false;
    }
  }
  return digit;
}

}  // namespace

std::string csv_cell(std::string_view text) {
  std::string cell;
  if (!text.empty() && (text[0] == '=' || text[0] == '+' || text[0] == '-' || text[0] == '@') && !plain_number(text))
    cell += '\'';
  cell += text;
  if (cell.find_first_of(",\"\r\n") == std::string::npos) return cell;
  std::string quoted = "\"";
  for (char c : cell) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

std::string csv_row(const std::vector<std::string>& cells) {
  std::string line;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) line += ',';
    line += csv_cell(cells[i]);
  }
  line += "\r\n";
  return line;
}

}  // namespace settle::tools
