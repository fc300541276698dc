// The cashier's commands (status, card, PIN, person, history, preview, commit,
// refund, re-settle, get, list) as tables for people or JSON for programs.
#include "tools/settlectl/cashier_cmds.hpp"

#include "offline/ledger.hpp"
#include "offline/ledger_ops.hpp"
#include "protocol/cashier/auth.hpp"
#include "protocol/cashier/params.hpp"
#include "tools/common/csv.hpp"
#include "tools/common/exit_codes.hpp"
#include "tools/common/table.hpp"
#include "tools/settled/clock.hpp"
#include "tools/settled/operators.hpp"
#include "tools/settlectl/client.hpp"
#include "tools/settlectl/format.hpp"
#include "tools/settlectl/session.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace settle::tools {

using json::Json;

namespace {

Result<Json> read_json_file(const std::string& path, std::string_view what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return make_error(Reason::invalid_request, std::string(what), fmt::format("cannot read {} from {}", what, path));
  const std::string text{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  return json::parse(text, path);
}

// Progress on stderr (redlist.progress, uploads.progress): a bar redrawn in
// place on a terminal, one line per tenth of the way otherwise (logs, scripts).
class ProgressBar {
 public:
  ProgressBar(std::ostream& err, std::string label, std::string unit)
      : err_(err), tty_(::isatty(STDERR_FILENO) != 0), label_(std::move(label)), unit_(std::move(unit)) {}
  // `total` < 0: not known yet.
  void update(std::int64_t done, std::int64_t total) {
    const int pct = total > 0 ? static_cast<int>(std::min<std::int64_t>(100, done * 100 / total)) : (total == 0 ? 100 : -1);
    if (tty_) {
      const int filled = pct < 0 ? 0 : pct * 30 / 100;
      err_ << "\r" << label_ << "  [" << std::string(static_cast<std::size_t>(filled), '#')
           << std::string(static_cast<std::size_t>(30 - filled), ' ') << "] "
           << (pct < 0 ? fmt::format("{} {}", done, unit_) : fmt::format("{:3}%  {} / {} {}", pct, done, total, unit_))
           << std::flush;
      drawn_ = true;
    } else if (pct / 10 != last_tenth_ || pct < 0) {
      last_tenth_ = pct / 10;
      err_ << (pct < 0 ? fmt::format("{}: {} {}\n", label_, done, unit_)
                       : fmt::format("{}: {}% ({} / {} {})\n", label_, pct, done, total, unit_));
    }
  }
  void finish() {
    if (drawn_) err_ << "\n";
  }

 private:
  std::ostream& err_;
  bool tty_;
  std::string label_, unit_;
  bool drawn_ = false;
  int last_tenth_ = -1;
};

}  // namespace

int run_cashier(const ClientOptions& o, const CashierCommand& c, std::ostream& out, std::ostream& err) {
  Session s(o);
  const auto done = [&](const std::optional<Failure>& f) {
    if (!f) return exit_code::ok;
    return report_failure(*f, o.json, out, err);
  };
  const auto print = [&](const Json& result, auto&& human) {
    if (o.json) out << dump_exact(result) << "\n";
    else human(result);
    return 0;
  };

  if (c.name == "status") {
    if (auto f = s.open(false)) return done(f);
    auto a = s.call("engine.status", Json::object());
    if (!a) return done(a.error());
    return print(a.value(), [&](const Json& r) {
      out << render_pairs({{"insurer line", str(r, "network")},
                           {"since", str(r, "since")},
                           {"in doubt", str(r, "in_doubt")},
                           {"reversals pending", str(r, "pending_reversals")},
                           {"offline uploads pending", str(r, "pending_uploads")},
                           {"reversals parked", str(r, "parked_reversals")},
                           {"offline uploads parked", str(r, "parked_uploads")},
                           {"red list version", str(r, "redlist_version").empty() ? "-" : str(r, "redlist_version")},
                           {"red list age (s)", str(r, "redlist_age_s").empty() ? "-" : str(r, "redlist_age_s")},
                           {"storage encrypted", str(r, "storage_encrypted").empty() ? "-" : str(r, "storage_encrypted")},
                           {"insurer clock", str_or_dash(r, "clock_skew")},
                           {"insurer clock less ours (s)", str_or_dash(r, "clock_skew_s")}});
      Table t({{"window"}, {"reader"}, {"reader present"}, {"card present"}});
      for (const auto& rd : r["readers"])
        t.add_row({str(rd, "window"), str(rd, "reader"), str(rd, "reader_present"), str(rd, "card_present")});
      out << "\n" << t.render();
    });
  }

  if (auto f = s.open(true)) return done(f);

  if (c.name == "get" || c.name == "list") {
    if (c.name == "get") {
      auto a = s.call("settle.get", Json{{"setl_id", c.setl_id}});
      if (!a) return done(a.error());
      return print(a.value(), [&](const Json& r) {
        out << settlement_text(r);
        out << render_pairs({{"window", str(r, "window")}, {"operator", str(r, "operator")}, {"time", str(r, "time")},
                             {"card", str(r, "card_no")}, {"insurer setl_id", str(r["insurer"], "setl_id")},
                             {"msgid", str(r["insurer"], "msgid")}});
        Table lines({{"code"}, {"name"}, {"class"}, {"amount", Table::Align::right}});
        for (const auto& l : r["lines"]) lines.add_row({str(l, "code"), str(l, "name"), str(l, "class"), str(l, "amount")});
        out << "\n" << lines.render();
        if (!r["refunds"].empty()) {
          Table rf({{"refund"}, {"time"}, {"total", Table::Align::right}, {"fund", Table::Align::right},
                    {"account", Table::Align::right}, {"cash", Table::Align::right}});
          for (const auto& x : r["refunds"])
            rf.add_row({str(x, "refund_id"), str(x, "time"), str(x, "refund_total"), str(x, "fund"), str(x, "account"), str(x, "cash")});
          out << "\n" << rf.render();
        }
      });
    }
    // Every page of the period: the totals are the period's, the table shows
    // the first `limit` rows and says how many more there are.
    Json params{{"from", c.from.empty() ? daemon::clearing_date(daemon::now_ms()) : c.from},
                {"to", c.to.empty() ? daemon::clearing_date(daemon::now_ms()) : c.to},
                {"limit", cashier::max_list_limit}};
    if (!c.state.empty()) params["state"] = c.state;
    Json rows = Json::array();
    for (;;) {
      auto a = s.call("settle.list", params);
      if (!a) return done(a.error());
      for (const auto& x : a.value()["settlements"]) rows.push_back(x);
      const Json& cursor = a.value()["cursor"];
      if (cursor.is_null()) break;
      params["cursor"] = cursor;
    }
    Amount total, fund, account, cash;
    for (const auto& x : rows) {
      for (const auto& [key, sum] : {std::pair{"total", &total}, std::pair{"fund", &fund},
                                     std::pair{"account", &account}, std::pair{"cash", &cash}}) {
        auto a = json::to_amount(x[key], key);
        if (!a)
          return done(Failure{exit_code::unreachable,
                              fmt::format("the daemon answered an unreadable amount: {}", a.error().message),
                              "BAD_ANSWER", key});
        *sum += *a;
      }
    }
    static const std::vector<std::string> cols{"setl_id", "time", "window", "operator", "mode", "state",
                                               "total",   "fund", "account", "cash",     "receipt_no"};
    if (c.csv) {
      out << csv_bom << csv_row(cols);
      for (const auto& x : rows) {
        std::vector<std::string> cells;
        for (const auto& k : cols) cells.push_back(str(x, k));
        out << csv_row(cells);
      }
      return 0;
    }
    const Json result{{"settlements", rows},
                      {"count", rows.size()},
                      {"totals", Json{{"total", json::amount_value(total)},
                                      {"fund", json::amount_value(fund)},
                                      {"account", json::amount_value(account)},
                                      {"cash", json::amount_value(cash)}}}};
    return print(result, [&](const Json&) {
      Table t({{"setl_id"}, {"time"}, {"window"}, {"operator"}, {"mode"}, {"state"}, {"total", Table::Align::right},
               {"fund", Table::Align::right}, {"account", Table::Align::right}, {"cash", Table::Align::right}});
      std::int64_t shown = 0;
      for (const auto& x : rows) {
        if (c.limit > 0 && shown == c.limit) break;
        ++shown;
        t.add_row({str(x, "setl_id"), str(x, "time"), str(x, "window"), str(x, "operator"), str(x, "mode"),
                   str(x, "state"), str(x, "total"), str(x, "fund"), str(x, "account"), str(x, "cash")});
      }
      t.add_rule();
      t.add_row({fmt::format("{} in all", rows.size()), "", "", "", "", "", format_amount(total), format_amount(fund),
                 format_amount(account), format_amount(cash)});
      out << t.render();
      out << fmt::format("{} settlements, totals: total {}, fund {}, account {}, cash {}\n", rows.size(),
                         format_amount(total), format_amount(fund), format_amount(account), format_amount(cash));
      const auto more = static_cast<std::int64_t>(rows.size()) - shown;
      if (more > 0)
        out << fmt::format("output cut at --limit {}: {} more settlements not shown (the totals count them; --limit "
                           "0 shows all, --csv exports them)\n",
                           c.limit, more);
    });
  }

  if (c.name == "sheet") {
    Json params{{"setl_id", c.setl_id}, {"paper", c.paper}};
    if (!c.refund_id.empty()) params["refund_id"] = c.refund_id;
    auto a = s.call("settle.sheet", params);
    if (!a) return done(a.error());
    const std::string html = str(a.value(), "html");
    if (c.out_file.empty() || c.out_file == "-") {
      out << html;
      return 0;
    }
    std::ofstream f(c.out_file, std::ios::binary);
    f << html;
    if (!f) return done(Failure{exit_code::local, fmt::format("cannot write {}", c.out_file), "LOCAL_FILE", "--out"});
    out << "settlement sheet written to " << c.out_file << "\n";
    return 0;
  }

  if (c.name == "redlist-sync") {
    ProgressBar bar(err, "red list", "entries");
    auto a = s.call("redlist.sync", Json{{"full", c.full}}, [&bar](const std::string& method, const Json& p) {
      if (method != "redlist.progress") return;
      const bool known = p.contains("total") && p["total"].is_number_integer();
      bar.update(p.value("applied", std::int64_t{0}), known ? p["total"].get<std::int64_t>() : -1);
    });
    bar.finish();
    if (!a) return done(a.error());
    return print(a.value(), [&](const Json& r) {
      out << render_pairs({{"red list version", str(r, "version")},
                           {"entries on the list", str(r, "entries")},
                           {"entries received", str(r, "applied")},
                           {"kind", r.value("full", false) ? "full snapshot" : "delta"},
                           {"took (ms)", str(r, "took_ms")}});
    });
  }

  if (c.name == "parked-list") {
    auto a = s.call("outbox.parked", Json::object());
    if (!a) return done(a.error());
    return print(a.value(), [&](const Json& r) {
      // A stay's item shows its stay (and what it waits behind); retry and
      // resolve it with --stay.
      Table t({{"queue"}, {"item"}, {"kind"}, {"setl_id / msgid / stay"}, {"person"}, {"refusals", Table::Align::right},
               {"since"}, {"reason"}});
      for (const auto& x : r["items"]) {
        const bool stay = x.value("queue", "") == "stay";
        std::string ref = x.contains("setl_id") ? str(x, "setl_id") : str(x, "msgid");
        if (stay) ref = "stay " + str(x, "adm_id") + (x.contains("setl_id") ? ", settlement " + str(x, "setl_id") : "");
        std::string reason = str(x, "reason");
        if (stay && x.contains("behind") && !x["behind"].is_null()) reason = "waits behind item " + str(x, "behind");
        t.add_row({str(x, "queue"), str(x, "item_id"), str(x, "kind"), ref, str(x, "psn_no_masked"), str(x, "refusals"),
                   str(x, "since"), reason});
      }
      out << t.render();
    });
  }
  if (c.name == "parked-retry" || c.name == "parked-resolve") {
    const bool retry = c.name == "parked-retry";
    Json params{{"item_id", c.item_id}};
    if (!retry) params["note"] = c.note;
    if (c.stay_queue) params["queue"] = "stay";
    auto a = s.call(retry ? "outbox.retry" : "outbox.resolve", params);
    if (!a) return done(a.error());
    return print(a.value(), [&](const Json& r) {
      out << render_pairs({{"queue", str(r, "queue")}, {"item", str(r, "item_id")}, {"state", str(r, "state")}});
      if (!retry)
        out << fmt::format("correction {} recorded: the item is resolved when another person approves it "
                           "(settlectl correction approve --id {}); it waits for approval\n",
                           str(r["correction"], "correction_id"), str(r["correction"], "correction_id"));
    });
  }

  if (c.name == "uploads-flush") {
    // Forwarded so far = the queue before the flush (engine.status) less
    // what is left (uploads.progress while it runs, the answer at the end):
    // the bar ends at 100 % when nothing is left.
    const auto left_of = [](const Json& p) {
      return p.value("pending_uploads", std::int64_t{0}) + p.value("pending_reversals", std::int64_t{0});
    };
    std::int64_t first = -1;
    if (auto st = s.call("engine.status", Json::object())) first = left_of(st.value());
    ProgressBar bar(err, "uploads", "forwarded");
    if (first >= 0) bar.update(0, first);
    auto a = s.call("uploads.flush", Json::object(), [&](const std::string& method, const Json& p) {
      if (method != "uploads.progress") return;
      const std::int64_t left = left_of(p);
      first = std::max(first, left);  // new items may have come meanwhile
      bar.update(first - left, first);
    });
    if (a) {
      const std::int64_t left = left_of(a.value());
      first = std::max(first, left);
      bar.update(first - left, first);
    }
    bar.finish();
    if (!a) return done(a.error());
    print(a.value(), [&](const Json& r) {
      out << render_pairs({{"insurer line", str(r, "network")},
                           {"reversals pending", str(r, "pending_reversals")},
                           {"offline uploads pending", str(r, "pending_uploads")},
                           {"in doubt", str(r, "in_doubt")}});
    });
    const Json& r = a.value();
    // Exit 0 only when nothing is left to forward.
    return r.value("pending_uploads", std::int64_t{1}) == 0 && r.value("pending_reversals", std::int64_t{1}) == 0
               ? exit_code::ok
               : exit_code::not_right;
  }

  // Everything else starts at the card.
  if (auto f = s.read_card()) return done(f);
  const bool wants_pin = c.name == "verify-pin" || c.name == "resettle" ||
                         ((c.name == "commit" || c.name == "preview") && !c.no_account && o.pin_stdin);
  if (wants_pin)
    if (auto f = s.verify_pin()) return done(f);

  if (c.name == "read-card" || c.name == "verify-pin") {
    return print(s.card(), [&](const Json& r) {
      out << render_pairs({{"card number", str(r, "card_no")},
                           {"name", str(r, "psn_name")},
                           {"ID number", str(r, "id_no_masked")},
                           {"PIN", c.name == "verify-pin" ? "verified" : "not checked"}});
    });
  }
  if (c.name == "person") {
    auto a = s.call("person.query", Json::object());
    if (!a) return done(a.error());
    return print(a.value(), [&](const Json& r) {
      std::string flags;
      for (const auto& f : r["flags"]) flags += (flags.empty() ? "" : ", ") + f.get<std::string>();
      out << render_pairs({{"person number", str(r, "psn_no")}, {"name", str(r, "psn_name")},
                           {"insurance type", str(r, "insutype")}, {"flags", flags.empty() ? "none" : flags},
                           {"account balance", r.value("balance_known", true) ? str(r, "balance") : std::string("unknown offline (not used)")}, {"source", str(r, "source")}, {"as of", str(r, "as_of")}});
    });
  }
  if (c.name == "history") {
    auto a = s.call("account.history", Json::object());
    if (!a) return done(a.error());
    return print(a.value(), [&](const Json& r) {
      out << "balance " << str(r, "balance") << "\n\n";
      Table t({{"time"}, {"kind"}, {"amount", Table::Align::right}, {"balance after", Table::Align::right}, {"settlement"}});
      for (const auto& x : r["transactions"])
        t.add_row({str(x, "time"), str(x, "kind"), str(x, "amount"), str(x, "balance_after"), str(x, "setl_id")});
      out << t.render();
    });
  }
  if (c.name == "preview" || c.name == "commit") {
    auto doc = read_json_file(c.lines_file, "charge lines");
    if (!doc) return done(Failure{exit_code::usage, doc.error().message, "USAGE", "--lines"});
    Json lines = doc->is_object() && doc->contains("lines") ? (*doc)["lines"] : *doc;
    Json params{{"lines", lines}, {"use_account", !c.no_account}};
    if (c.name == "commit") params["request_id"] = c.request_id;
    auto a = s.call(c.name == "commit" ? "settle.commit" : "settle.preview", params);
    if (!a) return done(a.error());
    if (c.name == "commit") return print(a.value(), [&](const Json& r) { out << settlement_text(r); });
    return print(a.value(), [&](const Json& r) {
      out << render_pairs({{"total", str(r, "total")}, {"fund pays", str(r, "fund")}, {"personal account", str(r, "account")},
                           {"cash", str(r, "cash")}, {"mode", str(r, "mode")}});
      out << "reasons: " << reasons_text(r) << "\n";
    });
  }
  if (c.name == "refund") {
    Json params{{"request_id", c.request_id}, {"setl_id", c.setl_id}};
    if (!c.lines_file.empty()) {
      auto doc = read_json_file(c.lines_file, "refund lines");
      if (!doc) return done(Failure{exit_code::usage, doc.error().message, "USAGE", "--lines"});
      params["lines"] = doc->is_object() && doc->contains("lines") ? (*doc)["lines"] : *doc;
    }
    auto a = s.call("settle.refund", params);
    if (!a) return done(a.error());
    return print(a.value(), [&](const Json& r) { out << refund_text(r); });
  }
  if (c.name == "resettle") {
    auto a = s.call("settle.resettle", Json{{"request_id", c.request_id}, {"setl_id", c.setl_id}});
    if (!a) return done(a.error());
    return print(a.value(), [&](const Json& r) {
      out << "undone:\n";
      out << refund_text(r["undo"]);
      out << "\nsettled again with the personal account:\n";
      out << settlement_text(r["settlement"]);
      out << "\ncash back to the patient: " << str(r, "cash_back") << "\n";
    });
  }
  return done(Failure{exit_code::usage, "unknown command " + c.name, "USAGE", ""});
}

}  // namespace settle::tools
