// The paper emergency ledger's CSV (docs/reentry.md): RFC 4180 records,
// UTF-8 with or without a byte-order mark, one row per charge line, read
// into reentry.record's rows with each problem named by line and column.
#include "tools/settlectl/reentry_csv.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>

namespace settle::tools {

using json::Json;

namespace {

// The columns, in any order; the first six and cash describe the
// settlement (on its first line; later lines of it leave them empty or repeat them).
const std::vector<std::string> kColumns{"no", "at", "window", "operator", "card_no", "psn_name",
                                        "code", "name", "class", "amount", "cash"};
const std::vector<std::string> kSettlementColumns{"at", "window", "operator", "card_no", "psn_name", "cash"};

// RFC 4180 records: quoted cells with doubled quotes, CRLF or LF. Each record
// with the line it starts on.
Result<std::vector<std::pair<std::int64_t, std::vector<std::string>>>> csv_records(std::string_view text) {
  std::vector<std::pair<std::int64_t, std::vector<std::string>>> out;
  std::int64_t line = 1;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::int64_t start = line;
    std::vector<std::string> cells;
    std::string cell;
    bool quoted = false;
    for (;;) {
      if (i >= text.size()) {
        if (quoted) return make_error(Reason::invalid_request, "", fmt::format("line {}: a quoted cell is not closed", start));
        cells.push_back(std::move(cell));
        break;
      }
      const char ch = text[i++];
      if (quoted) {
        if (ch == '"') {
          if (i < text.size() && text[i] == '"') {
            cell += '"';
            ++i;
          } else {
            quoted = false;
          }
        } else {
          if (ch == '\n') ++line;
          cell += ch;
        }
      } else if (ch == '"' && cell.empty()) {
        quoted = true;
      } else if (ch == ',') {
        cells.push_back(std::move(cell));
        cell.clear();
      } else if (ch == '\r' && i < text.size() && text[i] == '\n') {
        continue;
      } else if (ch == '\n') {
        ++line;
        cells.push_back(std::move(cell));
        break;
      } else {
        cell += ch;
      }
    }
    const bool blank = cells.size() == 1 && cells[0].empty();
    if (!blank) out.emplace_back(start, std::move(cells));
  }
  return out;
}

std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) { return c != ' ' && c != '\t'; };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

bool digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "2026-12-03 10:15", "2026-12-03 10:15:30" (Beijing time, as written on
// paper) or an ISO 8601 time with its offset.
std::optional<std::string> paper_time(const std::string& s) {
  if (s.size() >= 20 && s[10] == 'T') return s;  // the daemon checks it
  if ((s.size() != 16 && s.size() != 19) || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':')
    return std::nullopt;
  if (!digits(s.substr(0, 4)) || !digits(s.substr(5, 2)) || !digits(s.substr(8, 2)) || !digits(s.substr(11, 2)) ||
      !digits(s.substr(14, 2)))
    return std::nullopt;
  std::string secs = "00";
  if (s.size() == 19) {
    if (s[16] != ':' || !digits(s.substr(17, 2))) return std::nullopt;
    secs = s.substr(17, 2);
  }
  if (std::stoi(s.substr(11, 2)) > 23 || std::stoi(s.substr(14, 2)) > 59 || std::stoi(secs) > 59) return std::nullopt;
  return fmt::format("{}T{}:{}+08:00", s.substr(0, 10), s.substr(11, 5), secs);
}

// An amount in yuan: digits with at most two decimals.
bool yuan(std::string_view s) {
  const auto dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  if (!digits(whole)) return false;
  if (dot == std::string_view::npos) return true;
  const std::string_view frac = s.substr(dot + 1);
  return !frac.empty() && frac.size() <= 2 && digits(frac);
}

Error at_line(std::int64_t line, const std::string& column, const std::string& message) {
  return make_error(Reason::invalid_request, column, fmt::format("line {}, column {}: {}", line, column, message));
}

}  // namespace

Result<ReentryCsv> parse_reentry_csv(const std::string& raw) {
  std::string_view text = raw;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  auto records = csv_records(text);
  if (!records) return records.error();
  if (records->empty()) return make_error(Reason::invalid_request, "", "line 1: the file is empty (a header row is needed)");
  std::map<std::string, std::size_t> col;
  const auto& header = records->front().second;
  for (std::size_t i = 0; i < header.size(); ++i) {
    const std::string name = trim(header[i]);
    if (std::find(kColumns.begin(), kColumns.end(), name) == kColumns.end())
      return at_line(1, name, fmt::format("unknown column (the columns: {})", fmt::join(kColumns, ", ")));
    if (col.count(name) != 0) return at_line(1, name, "the column is given twice");
    col[name] = i;
  }
  for (const std::string& name : kColumns)
    if (name != "psn_name" && col.count(name) == 0) return at_line(1, name, "the column is missing");
  ReentryCsv out;
  std::map<std::string, std::size_t> by_no;  // "no" -> settlement index
  for (std::size_t r = 1; r < records->size(); ++r) {
    const auto& [line, cells] = (*records)[r];
    const auto cell = [&, &cells = cells](const std::string& name) -> std::string {
      auto it = col.find(name);
      if (it == col.end() || it->second >= cells.size()) return "";
      return trim(cells[it->second]);
    };
    if (cells.size() > header.size())
      return at_line(line, "-", fmt::format("{} cells, the header has {} columns", cells.size(), header.size()));
    const std::string no = cell("no");
    if (!digits(no)) return at_line(line, "no", fmt::format("\"{}\" is not a settlement number", no));
    auto found = by_no.find(no);
    if (found == by_no.end()) {
      if (out.rows.size() >= 500)
        return at_line(line, "no", "more than 500 settlements in one file: split it into batches");
      Json row{{"lines", Json::array()}};
      const std::string at = cell("at");
      if (at.empty()) return at_line(line, "at", "the first line of a settlement needs its time");
      const auto iso = paper_time(at);
      if (!iso) return at_line(line, "at", fmt::format("\"{}\" is not a time like 2026-12-03 10:15", at));
      row["at"] = *iso;
      for (const char* k : {"window", "operator", "card_no", "cash"}) {
        const std::string v = cell(k);
        if (v.empty()) return at_line(line, k, "the first line of a settlement needs it");
        row[k] = v;
      }
      if (!cell("psn_name").empty()) row["psn_name"] = cell("psn_name");
      found = by_no.emplace(no, out.rows.size()).first;
      out.rows.push_back(std::move(row));
      out.first_line.push_back(line);
    } else {
      // A later line of the settlement: its fields empty or the same.
      const Json& row = out.rows[found->second];
      for (const std::string& k : kSettlementColumns) {
        const std::string v = cell(k);
        if (v.empty()) continue;
        const std::string first = k == "at" ? row.value("at", "") : row.value(k, "");
        const std::string mine = k == "at" ? paper_time(v).value_or(v) : v;
        if (mine != first)
          return at_line(line, k, fmt::format("\"{}\" differs from the settlement's first line (line {})", v,
                                              out.first_line[found->second]));
      }
    }
    Json l = Json::object();
    for (const char* k : {"code", "name", "class", "amount"}) {
      const std::string v = cell(k);
      if (v.empty()) return at_line(line, k, "is empty");
      l[k] = v;
    }
    if (const std::string cls = cell("class"); cls != "A" && cls != "B" && cls != "C")
      return at_line(line, "class", fmt::format("\"{}\" is not A, B or C", cls));
    for (const char* k : {"amount", "cash"}) {
      const std::string v = cell(k);
      if (v.empty() && std::string_view(k) == "cash") continue;
      if (!yuan(v)) return at_line(line, k, fmt::format("\"{}\" is not an amount in yuan like 25.00", v));
    }
    out.rows[found->second]["lines"].push_back(std::move(l));
  }
  if (out.rows.empty()) return make_error(Reason::invalid_request, "", "the file has a header and no settlements");
  return out;
}

}  // namespace settle::tools
