// CSV for spreadsheets (the office's exports): RFC 4180 quoting, UTF-8 with a
// byte-order mark so spreadsheet programs read Chinese text right, and cells
// that a spreadsheet would run as a formula made inert.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace settle::tools {

// One cell: quoted when it holds a comma, quote, CR or LF; a cell starting
// with = + - @ (a formula to a spreadsheet) gets a leading apostrophe, unless
// it is a plain number such as -12.50.
std::string csv_cell(std::string_view text);
// One line: the cells joined with commas, ended with CRLF.
std::string csv_row(const std::vector<std::string>& cells);
// The UTF-8 byte-order mark that starts an export file.
inline constexpr std::string_view csv_bom = "\xEF\xBB\xBF";

}  // namespace settle::tools
