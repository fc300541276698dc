// settlectl reentry ACTION: the paper emergency ledger's CSV read and checked
// line by line (nothing is sent when a line is bad), sent as one
// reentry.record; reentry.list, reentry.get, reentry.approve, reentry.refuse.
#include "tools/settlectl/reentry_cmds.hpp"

#include "tools/common/exit_codes.hpp"
#include "tools/common/table.hpp"
#include "tools/settlectl/format.hpp"
#include "tools/settlectl/session.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <vector>

namespace settle::tools {

using json::Json;

namespace {

void print_batch(const Json& b, std::ostream& out) {
  out << render_pairs({{"batch", str(b, "batch_id")},
                       {"reference", str(b, "batch_ref")},
                       {"state", str(b, "state")},
                       {"entered", fmt::format("{} by {}", str(b, "entered_at"), str(b, "entered_by"))},
                       {"decided", b["decided_by"].is_null() ? std::string("-")
                                                              : fmt::format("{} by {}", str(b, "decided_at"),
                                                                            str(b, "decided_by"))},
                       {"note", str_or_dash(b, "note")},
                       {"settlements", str(b, "rows")},
                       {"total", str(b, "total")},
                       {"cash taken", str(b, "cash")}});
  if (!b.contains("items")) return;
  Table t({{"row", Table::Align::right}, {"time"}, {"window"}, {"operator"}, {"card"}, {"name"},
           {"total", Table::Align::right}, {"cash", Table::Align::right}, {"fund estimate", Table::Align::right},
           {"settlement"}});
  for (const auto& r : b["items"])
    t.add_row({str(r, "row"), str(r, "at"), str(r, "window"), str(r, "operator"), str(r, "card_no"),
               str_or_dash(r, "psn_name"), str(r, "total"), str(r, "cash"), str_or_dash(r, "fund_estimate"),
               str_or_dash(r, "setl_id")});
  out << "\n" << t.render();
}

}  // namespace

int run_reentry(const ClientOptions& o, const ReentryCommand& c, std::ostream& out, std::ostream& err) {
  Json params;
  ReentryCsv csv;
  if (c.action == "import") {
    std::string text;
    if (c.file == "-") {
      std::ostringstream s;
      s << std::cin.rdbuf();
      text = s.str();
    } else {
      std::ifstream in(c.file, std::ios::binary);
      if (!in) return fail(o, out, err, Failure{exit_code::usage, fmt::format("{}: cannot be read", c.file), "usage", "FILE"});
      std::ostringstream s;
      s << in.rdbuf();
      text = s.str();
    }
    auto parsed = parse_reentry_csv(text);
    if (!parsed)
      return fail(o, out, err,
                  Failure{exit_code::usage, fmt::format("{}: {}; nothing was imported", c.file, parsed.error().message),
                          "usage", parsed.error().field});
    csv = std::move(*parsed);
    params = Json{{"rows", csv.rows}};
    if (!c.batch_ref.empty()) params["batch_ref"] = c.batch_ref;
  }
  Session s(o);
  if (auto f = s.open(true)) return fail(o, out, err, *f);
  Answer a;
  if (c.action == "import") {
    a = s.call("reentry.record", params);
    if (!a) {
      Failure f = a.error();
      // The daemon names the settlement as rows[i]: say which CSV line it starts on.
      if (f.field.rfind("rows[", 0) == 0) {
        const std::size_t i = static_cast<std::size_t>(std::stoll(f.field.substr(5)));
        if (i < csv.first_line.size())
          f.message = fmt::format("{}: the settlement starting on line {}: {}; nothing was imported", c.file,
                                  csv.first_line[i], f.message);
      }
      return fail(o, out, err, f);
    }
  } else if (c.action == "list") {
    Json p{{"limit", c.limit}};
    if (!c.state.empty()) p["state"] = c.state;
    a = s.call("reentry.list", p);
  } else if (c.action == "show") {
    a = s.call("reentry.get", Json{{"batch_id", c.id}});
  } else {
    Json p{{"batch_id", c.id}};
    if (!c.note.empty()) p["note"] = c.note;
    a = s.call(c.action == "approve" ? "reentry.approve" : "reentry.refuse", p);
  }
  if (!a) return fail(o, out, err, a.error());
  if (o.json) {
    out << dump_exact(a.value()) << "\n";
    return 0;
  }
  if (c.action == "list") {
    Table t({{"batch", Table::Align::right}, {"reference"}, {"state"}, {"entered"}, {"by"},
             {"rows", Table::Align::right}, {"total", Table::Align::right}, {"cash", Table::Align::right},
             {"decided by"}});
    for (const auto& b : a.value()["batches"])
      t.add_row({str(b, "batch_id"), str(b, "batch_ref"), str(b, "state"), str(b, "entered_at"), str(b, "entered_by"),
                 str(b, "rows"), str(b, "total"), str(b, "cash"), str_or_dash(b, "decided_by")});
    out << t.render() << fmt::format("{} batches\n", a.value()["batches"].size());
    return 0;
  }
  if (c.action == "import")
    out << fmt::format("batch {} entered ({} settlements); it changes nothing until a second person approves it "
                       "(settlectl reentry approve --id {})\n",
                       str(a.value(), "batch_id"), str(a.value(), "rows"), str(a.value(), "batch_id"));
  print_batch(a.value(), out);
  return 0;
}

}  // namespace settle::tools
