// settlectl outage ACTION: outage.list (paged to the end), outage.get,
// outage.note, and the export of a period's outages with their figures and
// who was told, one row each (docs/outages.md).
#include "tools/settlectl/outage_cmds.hpp"

#include "tools/common/csv.hpp"
#include "tools/common/table.hpp"
#include "tools/settlectl/format.hpp"
#include "tools/settlectl/session.hpp"

#include <fmt/format.h>

#include <iostream>
#include <vector>

namespace settle::tools {

using json::Json;

namespace {

// Every outage of the filter, following the daemon's cursor.
Answer list_all(Session& s, const OutageCommand& c) {
  Json outages = Json::array();
  Json cursor = nullptr;
  for (;;) {
    Json params = Json::object();
    if (!c.from.empty()) params["from"] = c.from;
    if (!c.to.empty()) params["to"] = c.to;
    if (!c.kind.empty()) params["kind"] = c.kind;
    if (!cursor.is_null()) params["cursor"] = cursor;
    params["limit"] = 500;
    auto a = s.call("outage.list", params);
    if (!a) return a;
    for (const auto& e : a.value()["outages"]) {
      if (c.limit > 0 && static_cast<std::int64_t>(outages.size()) >= c.limit) break;
      outages.push_back(e);
    }
    cursor = a.value().value("cursor", Json(nullptr));
    if (!a.value().value("more", false) || cursor.is_null()) break;
    if (c.limit > 0 && static_cast<std::int64_t>(outages.size()) >= c.limit) break;
  }
  return Answer{Json{{"outages", std::move(outages)}}, std::nullopt};
}

std::string duration_text(const Json& o) {
  const std::int64_t s = o.value("duration_s", std::int64_t{0});
  return fmt::format("{}{}:{:02}:{:02}", o.value("open", false) ? "open " : "", s / 3600, s / 60 % 60, s % 60);
}

// Who was told and what was sent, in one cell.
std::string told_text(const Json& notes) {
  std::string out;
  for (const auto& n : notes) {
    if (!out.empty()) out += "; ";
    out += fmt::format("{} {} {}{}", str(n, "at"), str(n, "kind"), str(n, "target"),
                       str(n, "detail").empty() ? "" : " (" + str(n, "detail") + ")");
  }
  return out;
}

const std::vector<std::string> kExportCols{
    "outage_id",        "kind",           "cause",         "started_at",          "ended_at",
    "duration_s",       "offline_settlements", "offline_total", "offline_fund_estimate", "offline_cash",
    "uploads_done",     "uploads_waiting", "uploads_parked", "reversals",           "reversals_open",
    "adjustments",      "fund_difference", "cash_difference", "told"};

std::vector<std::string> export_row(const Json& o) {
  const Json& f = o["figures"];
  return {str(o, "outage_id"),
          str(o, "kind"),
          str(o, "cause"),
          str(o, "started_at"),
          str_or_dash(o, "ended_at"),
          str(o, "duration_s"),
          str(f, "offline_settlements"),
          str(f, "offline_total"),
          str(f, "offline_fund_estimate"),
          str(f, "offline_cash"),
          str(f["uploads"], "done"),
          str(f["uploads"], "waiting"),
          str(f["uploads"], "parked"),
          str(f["reversals"], "queued"),
          str(f["reversals"], "open"),
          str(f["adjustments"], "count"),
          str(f["adjustments"], "fund_difference"),
          str(f["adjustments"], "cash_difference"),
          told_text(o["notes"])};
}

void print_outage(const Json& o, std::ostream& out) {
  const Json& f = o["figures"];
  out << render_pairs({{"outage", str(o, "outage_id")},
                       {"kind", str(o, "kind")},
                       {"cause", str(o, "cause")},
                       {"started", str(o, "started_at")},
                       {"ended", str_or_dash(o, "ended_at")},
                       {"duration", duration_text(o)},
                       {"end note", str_or_dash(o, "end_note")},
                       {"offline settlements", fmt::format("{} (total {}, fund estimate {}, cash {})",
                                                           str(f, "offline_settlements"), str(f, "offline_total"),
                                                           str(f, "offline_fund_estimate"), str(f, "offline_cash"))},
                       {"uploads", fmt::format("{} done, {} waiting, {} parked", str(f["uploads"], "done"),
                                               str(f["uploads"], "waiting"), str(f["uploads"], "parked"))},
                       {"reversals", fmt::format("{} queued, {} open", str(f["reversals"], "queued"),
                                                 str(f["reversals"], "open"))},
                       {"adjustments", fmt::format("{} (fund {}, cash {})", str(f["adjustments"], "count"),
                                                   str(f["adjustments"], "fund_difference"),
                                                   str(f["adjustments"], "cash_difference"))}});
  Table t({{"time"}, {"kind"}, {"target"}, {"detail"}, {"by"}});
  for (const auto& n : o["notes"])
    t.add_row({str(n, "at"), str(n, "kind"), str(n, "target"), str_or_dash(n, "detail"), str(n, "by")});
  out << "\nwho was told, what was sent:\n" << t.render();
}

}  // namespace

int run_outage(const ClientOptions& o, const OutageCommand& c, std::ostream& out, std::ostream& err) {
  Session s(o);
  if (auto f = s.open(true)) return fail(o, out, err, *f);
  if (c.action == "note") {
    auto a = s.call("outage.note", Json{{"outage_id", c.id}, {"kind", c.note_kind}, {"target", c.target},
                                        {"detail", c.detail}});
    if (!a) return fail(o, out, err, a.error());
    if (o.json)
      out << dump_exact(a.value()) << "\n";
    else
      out << fmt::format("outage {}: note {} recorded\n", c.id, str(a.value(), "note_id"));
    return 0;
  }
  if (c.action == "record") {
    Json params{{"kind", c.kind}, {"cause", c.cause}, {"started_at", c.from}, {"ended_at", c.to}};
    if (!c.detail.empty()) params["note"] = c.detail;
    auto a = s.call("outage.record", params);
    if (!a) return fail(o, out, err, a.error());
    if (o.json)
      out << dump_exact(a.value()) << "\n";
    else
      out << fmt::format("outage {} recorded: {} from {} to {}\n", str(a.value(), "outage_id"), str(a.value(), "kind"),
                         str(a.value(), "started_at"), str(a.value(), "ended_at"));
    return 0;
  }
  if (c.action == "show") {
    auto a = s.call("outage.get", Json{{"outage_id", c.id}});
    if (!a) return fail(o, out, err, a.error());
    if (o.json)
      out << dump_exact(a.value()) << "\n";
    else
      print_outage(a.value(), out);
    return 0;
  }
  auto listed = list_all(s, c);
  if (!listed) return fail(o, out, err, listed.error());
  const Json& outages = listed.value()["outages"];
  if (c.action == "export") {
    // One row per outage with its figures and notes: what the insurance
    // centre asks of the hospital after an outage.
    Json full = Json::array();
    for (const auto& row : outages) {
      auto a = s.call("outage.get", Json{{"outage_id", row["outage_id"]}});
      if (!a) return fail(o, out, err, a.error());
      full.push_back(a.value());
    }
    if (o.json) {
      out << dump_exact(Json{{"outages", full}}) << "\n";
      return 0;
    }
    out << csv_bom << csv_row(kExportCols);
    for (const auto& row : full) out << csv_row(export_row(row));
    return 0;
  }
  if (o.json) {
    out << dump_exact(listed.value()) << "\n";
  } else if (c.csv) {
    static const std::vector<std::string> cols{"outage_id", "kind", "cause", "started_at", "ended_at", "duration_s",
                                               "end_note"};
    out << csv_bom << csv_row(cols);
    for (const auto& row : outages) {
      std::vector<std::string> cells;
      for (const auto& k : cols) cells.push_back(str(row, k));
      out << csv_row(cells);
    }
  } else {
    Table t({{"id", Table::Align::right}, {"kind"}, {"started"}, {"ended"}, {"duration"}, {"cause"}});
    for (const auto& row : outages)
      t.add_row({str(row, "outage_id"), str(row, "kind"), str(row, "started_at"), str_or_dash(row, "ended_at"),
                 duration_text(row), str(row, "cause")});
    out << t.render();
    out << fmt::format("{} outages{}\n", outages.size(),
                       c.limit > 0 && static_cast<std::int64_t>(outages.size()) >= c.limit ? " (cut at --limit)" : "");
  }
  return 0;
}

}  // namespace settle::tools
