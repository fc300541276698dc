// Text and HTML renderings of a recon.run answer: totals per insurance type
// on both sides, outpatient and inpatient apart, the differences one per row,
// the offline settlements not yet uploaded, and what to do with each kind
// (docs/reconciliation.md).
#include "tools/reconcile/report.hpp"

#include <fmt/format.h>

#include <string_view>
#include <vector>

namespace settle::tools {
namespace {

using json::Json;

std::string str(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "";
  const Json& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

std::string_view advice(std::string_view kind) {
  if (kind == "only_local") return "the hospital has it, the insurer does not: check the message, ask the insurer";
  if (kind == "only_insurer") return "the insurer has it, the hospital does not: a pending reversal, or ask the insurer";
  if (kind == "amount_mismatch") return "amounts differ: compare with the insurer's record, record a correction";
  if (kind == "state_mismatch") return "refund/undo state differs: find the missing refund or undo on one side";
  if (kind == "clearing_type_mismatch")
    return "outpatient on one side, inpatient on the other: check the visit (2201 or 2401) with the insurer";
  return "";
}

// One line of the totals tables: an insurance type ("all" for every type),
// a clearing type ("outpatient", "inpatient", "all"), both sides.
struct TotalsLine {
  std::string insutype;
  std::string clearing;
  Json local;
  Json insurer;
  bool balanced = false;
};

bool empty_side(const Json& t) {
  if (!t.is_object()) return true;
  for (const char* k : {"total", "fund", "account", "cash"})
    if (str(t, k) != "0.00" && !str(t, k).empty()) return false;
  return str(t, "count") == "0" || str(t, "count").empty();
}

// The lines of one level (an insurance type, or the whole day): outpatient
// and inpatient apart (a clearing type empty on both sides is left out), then
// both together unless only one clearing type was shown. An answer without
// clearing types (an older daemon) gives the "all" line only.
void level_lines(std::vector<TotalsLine>& out, const std::string& type, const Json& level, bool balanced) {
  std::size_t shown = 0, present = 0;
  for (const char* clr : {"outpatient", "inpatient"}) {
    if (!level.is_object() || !level.contains(clr) || !level[clr].is_object()) continue;
    ++present;
    const Json& t = level[clr];
    if (empty_side(t.value("local", Json())) && empty_side(t.value("insurer", Json())) && t.value("balanced", false))
      continue;
    out.push_back(TotalsLine{type, clr, t.value("local", Json()), t.value("insurer", Json()), t.value("balanced", false)});
    ++shown;
  }
  if (present == 0 || shown != 1)
    out.push_back(TotalsLine{type, "all", level.value("local", Json()), level.value("insurer", Json()), balanced});
}

std::vector<TotalsLine> totals_lines(const Json& r) {
  std::vector<TotalsLine> out;
  for (const Json& t : r.value("by_insutype", Json::array())) {
    const std::string type = str(t, "insutype").empty() ? "(none)" : str(t, "insutype");
    level_lines(out, type, t, t.value("balanced", false));
  }
  level_lines(out, "all", r, r.value("totals_balanced", false));
  return out;
}

std::string clearing_of(const Json& d) {
  const std::string v = str(d, "visit_type");
  return v.empty() ? "-" : v;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string amounts(const Json& side) {
  if (!side.is_object()) return "-";
  return fmt::format("{} ({}) total {} fund {} account {} cash {}", str(side, "setl_id"), str(side, "state"),
                     str(side, "total"), str(side, "fund"), str(side, "account"), str(side, "cash"));
}

}  // namespace

std::string recon_text(const Json& r) {
  const bool balanced = r.value("balanced", false);
  std::string out = fmt::format("Reconciliation of {}: {}\n\n", str(r, "date"), balanced ? "BALANCED" : "NOT BALANCED");
  out += fmt::format("{:<10} {:<10} {:<8} {:>9} {:>14} {:>14} {:>14} {:>14}  {}\n", "insutype", "clearing", "side",
                     "count", "total", "fund", "account", "cash", "");
  const auto line = [&](const TotalsLine& l, const char* side, const Json& t, const std::string& mark) {
    out += fmt::format("{:<10} {:<10} {:<8} {:>9} {:>14} {:>14} {:>14} {:>14}  {}\n", l.insutype, l.clearing, side,
                       str(t, "count"), str(t, "total"), str(t, "fund"), str(t, "account"), str(t, "cash"), mark);
  };
  for (const TotalsLine& l : totals_lines(r)) {
    line(l, "hospital", l.local, "");
    line(l, "insurer", l.insurer, l.balanced ? "ok" : "DIFFERS");
  }
  const Json diffs = r.value("differences", Json::array());
  if (r.value("detail_compared", false))
    out += fmt::format("\nDetail compared: {} hospital rows, {} insurer rows, {} differences\n", str(r, "local_rows"),
                       str(r, "insurer_rows"), diffs.size());
  if (!diffs.empty()) {
    out += "\nDifferences:\n";
    for (const Json& d : diffs) {
      const std::string kind = str(d, "kind");
      out += fmt::format("  {:<22} {:<10} setl_id {}  msgid {}  local id {}\n", kind, clearing_of(d), str(d, "setl_id"),
                         str(d, "msgid"), str(d, "local_setl_id"));
      out += fmt::format("      hospital: {}\n      insurer:  {}\n      -> {}\n", amounts(d.value("local", Json())),
                         amounts(d.value("insurer", Json())), advice(kind));
    }
  } else if (!balanced) {
    out += "\nThe totals differ but every row matches: check the day's totals rules (docs/reconciliation.md).\n";
  }
  const Json pending = r.value("not_uploaded", Json::array());
  if (!pending.empty()) {
    out += fmt::format("\nOffline settlements of the day the insurer does not hold (not counted): {}\n", pending.size());
    for (const Json& p : pending)
      out += fmt::format("  local id {}  {}  insutype {}  {}  total {}\n", str(p, "local_setl_id"), str(p, "state"),
                         str(p, "insutype"), str(p, "clr_type") == "21" ? "inpatient" : "outpatient", str(p, "total"));
    out += "  Upload them (uploads.flush) and run the reconciliation of this date again.\n";
  }
  return out;
}

std::string recon_html(const Json& r) {
  const bool balanced = r.value("balanced", false);
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += fmt::format("<title>Reconciliation {}</title>\n", html_escape(str(r, "date")));
  h += "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
       "td,th{border:1px solid #999;padding:.3em .6em;text-align:right}th{background:#eee}"
       "td.l{text-align:left}.ok{color:#060}.bad{color:#b00;font-weight:bold}</style>\n</head>\n<body>\n";
  h += fmt::format("<h1>Reconciliation (对账) of {}</h1>\n<p class=\"{}\">{}</p>\n", html_escape(str(r, "date")),
                   balanced ? "ok" : "bad", balanced ? "Balanced" : "Not balanced");
  h += "<h2>Totals per insurance type, outpatient and inpatient apart</h2>\n<table>\n<tr><th>insutype</th>"
       "<th>clearing</th><th>side</th><th>count</th><th>total</th><th>fund</th><th>account</th><th>cash</th>"
       "<th>result</th></tr>\n";
  const auto row = [&](const TotalsLine& l, const char* side, const Json& t, const std::string& mark, bool ok) {
    h += fmt::format(
        "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>\n",
        html_escape(l.insutype), html_escape(l.clearing), side, html_escape(str(t, "count")),
        html_escape(str(t, "total")), html_escape(str(t, "fund")), html_escape(str(t, "account")),
        html_escape(str(t, "cash")), ok ? "ok" : "bad", mark);
  };
  for (const TotalsLine& l : totals_lines(r)) {
    row(l, "hospital", l.local, "", true);
    row(l, "insurer", l.insurer, l.balanced ? "balanced" : "differs", l.balanced);
  }
  h += "</table>\n";
  const Json diffs = r.value("differences", Json::array());
  h += fmt::format("<h2>Differences ({})</h2>\n", diffs.size());
  if (!diffs.empty()) {
    h += "<table>\n<tr><th>kind</th><th>clearing</th><th>insurer setl_id</th><th>msgid</th><th>local id</th>"
         "<th>side</th><th>state</th><th>total</th><th>fund</th><th>account</th><th>cash</th><th>what to do</th></tr>\n";
    for (const Json& d : diffs) {
      const std::string kind = str(d, "kind");
      bool first = true;
      for (const char* side : {"local", "insurer"}) {
        const Json s = d.value(side, Json());
        h += "<tr>";
        if (first)
          h += fmt::format(
              "<td class=\"l bad\" rowspan=\"2\">{}</td><td class=\"l\" rowspan=\"2\">{}</td><td class=\"l\" "
              "rowspan=\"2\">{}</td><td class=\"l\" rowspan=\"2\">{}</td><td class=\"l\" rowspan=\"2\">{}</td>",
              html_escape(kind), html_escape(clearing_of(d)), html_escape(str(d, "setl_id")),
              html_escape(str(d, "msgid")), html_escape(str(d, "local_setl_id")));
        h += fmt::format("<td class=\"l\">{}</td>", std::string_view(side) == "local" ? "hospital" : "insurer");
        if (s.is_object()) {
          const std::string clr = str(s, "clr_type");
          const std::string state = str(s, "state") + (clr == "21" ? ", inpatient" : clr == "11" ? ", outpatient" : "");
          h += fmt::format("<td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
                           html_escape(state), html_escape(str(s, "total")), html_escape(str(s, "fund")),
                           html_escape(str(s, "account")), html_escape(str(s, "cash")));
        } else {
          h += "<td class=\"l\" colspan=\"5\">(no record)</td>";
        }
        if (first) h += fmt::format("<td class=\"l\" rowspan=\"2\">{}</td>", html_escape(advice(kind)));
        h += "</tr>\n";
        first = false;
      }
    }
    h += "</table>\n";
  }
  const Json pending = r.value("not_uploaded", Json::array());
  if (!pending.empty()) {
    h += fmt::format("<h2>Offline settlements not held by the insurer ({})</h2>\n<table>\n"
                     "<tr><th>local id</th><th>state</th><th>insutype</th><th>clearing</th><th>total</th></tr>\n",
                     pending.size());
    for (const Json& p : pending)
      h += fmt::format(
          "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>"
          "<td>{}</td></tr>\n",
          html_escape(str(p, "local_setl_id")), html_escape(str(p, "state")), html_escape(str(p, "insutype")),
          str(p, "clr_type") == "21" ? "inpatient" : "outpatient", html_escape(str(p, "total")));
    h += "</table>\n";
  }
  h += fmt::format("<p>Run at {}.</p>\n</body>\n</html>\n", html_escape(str(r, "run_at")));
  return h;
}

}  // namespace settle::tools
