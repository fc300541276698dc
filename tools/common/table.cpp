// Table rendering with display widths computed from UTF-8 code points.
#include "tools/common/table.hpp"

#include <algorithm>

namespace settle::tools {
namespace {

bool is_wide(char32_t c) {
  return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF) || (c >= 0xAC00 && c <= 0xD7A3) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
         (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x20000 && c <= 0x3FFFD);
}

std::string pad(std::string_view s, std::size_t width, Table::Align a) {
  const std::size_t w = display_width(s);
  const std::string fill(width > w ? width - w : 0, ' ');
  return a == Table::Align::left ? std::string(s) + fill : fill + std::string(s);
}

}  // namespace

std::size_t display_width(std::string_view s) {
  std::size_t w = 0;
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    char32_t c = b;
    std::size_t n = 1;
    if (b >= 0xF0) { c = b & 0x07U; n = 4; }
    else if (b >= 0xE0) { c = b & 0x0FU; n = 3; }
    else if (b >= 0xC0) { c = b & 0x1FU; n = 2; }
    for (std::size_t k = 1; k < n && i + k < s.size(); ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3FU);
    w += is_wide(c) ? 2U : 1U;
    i += n;
  }
  return w;
}

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

void Table::add_rule() { rows_.emplace_back(); }

std::string Table::render() const {
  std::vector<std::size_t> width(columns_.size());
  for (std::size_t c = 0; c < columns_.size(); ++c) width[c] = display_width(columns_[c].title);
  for (const auto& r : rows_)
    for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], display_width(r[c]));
  std::size_t total = 0;
  for (auto w : width) total += w + 2;
  const std::string rule(total > 2 ? total - 2 : 0, '-');
  std::string out;
  const auto line = [&](const std::vector<std::string>& cells, bool title) {
    std::string l;
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      if (c > 0) l += "  ";
      l += pad(cells[c], width[c], title ? Align::left : columns_[c].align);
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  std::vector<std::string> titles;
  for (const auto& col : columns_) titles.push_back(col.title);
  line(titles, true);
  out += rule + "\n";
  for (const auto& r : rows_) {
    if (r.empty()) out += rule + "\n";
    else line(r, false);
  }
  return out;
}

std::string render_pairs(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::size_t lw = 0;
  std::size_t vw = 0;
  for (const auto& [l, v] : pairs) {
    lw = std::max(lw, display_width(l));
    vw = std::max(vw, display_width(v));
  }
  std::string out;
  for (const auto& [l, v] : pairs) out += pad(l, lw, Table::Align::left) + "  " + pad(v, vw, Table::Align::right) + "\n";
  return out;
}

}  // namespace settle::tools
