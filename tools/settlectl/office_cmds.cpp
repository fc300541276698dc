// Operators, the own password and the audit trail for settlectl: socket calls
// as the daemon's API words them, the ledger file directly only when the
// daemon is stopped (its lock keeps a running daemon's file out of reach).
#include "tools/settlectl/office_cmds.hpp"

#include "offline/ledger.hpp"
#include "offline/storage_key.hpp"
#include "protocol/cashier/auth.hpp"
#include "protocol/cashier/params.hpp"
#include "tools/common/csv.hpp"
#include "tools/common/exit_codes.hpp"
#include "tools/common/table.hpp"
#include "tools/settled/operators.hpp"
#include "tools/settlectl/client.hpp"
#include "tools/settlectl/file_owner.hpp"
#include "tools/settlectl/format.hpp"
#include "tools/settlectl/session.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>

namespace settle::tools {

using json::Json;

namespace {

const Failure bad_role{exit_code::usage, "--role is cashier, supervisor, auditor or admin", "USAGE", "--role"};
const Failure no_login{exit_code::usage,
                       "--operator and --window are needed (and --password-file, or the password on stdin)", "USAGE",
                       ""};

std::string locks_text(const Json& sources) {
  std::string out;
  for (const auto& l : sources) {
    if (!out.empty()) out += "; ";
    if (l.value("locked", false)) {
      out += fmt::format("locked from {}{}", str(l, "source"),
                         str(l, "until").empty() ? " until unlocked" : " until " + str(l, "until"));
    } else {
      out += fmt::format("{} failed from {}", str(l, "failed_attempts"), str(l, "source"));
    }
  }
  return out.empty() ? "-" : out;
}

void print_operators(const Json& ops, std::ostream& out) {
  Table t({{"operator"}, {"role"}, {"state"}, {"password"}, {"logins"}});
  for (const auto& o : ops)
    t.add_row({str(o, "operator"), str(o, "role"), o.value("disabled", false) ? "disabled" : "enabled",
               o.value("password_change_required", false) ? "initial (to change)" : "set", locks_text(o["sources"])});
  out << t.render();
}

// The same JSON operator.list gives, read from the ledger file.
Json operators_of(const std::vector<cashier::OperatorSummary>& all) {
  Json ops = Json::array();
  for (const auto& o : all) ops.push_back(cashier::operator_json(o));
  return ops;
}

int operator_on_ledger(const ClientOptions& o, const OperatorCommand& c, std::ostream& out, std::ostream& err) {
  ledger::LedgerOptions lo;
  lo.create_if_missing = c.action == "add";  // the first operator may come before the first start
  if (auto source = sql::key_source(c.key_file)) {
    auto key = sql::StorageKey::load(*source);
    if (!key) return fail(o, out, err, Failure{exit_code::usage, key.error().message, "USAGE", "--key-file"});
    lo.key = *key;
  }
  auto led = ledger::Ledger::open(c.ledger, lo);
  if (!led) {
    std::string msg = led.error().message;
    if (led.error().problem == ledger::OpenProblem::in_use)
      msg += " (settled is running: leave out --ledger to manage operators over its socket as an administrator)";
    return fail(o, out, err, Failure{exit_code::local, msg, "LOCAL_FILE", "--ledger"});
  }
  daemon::LedgerOperatorStore store(**led);
  cashier::Authenticator auth(store, cashier::AuthConfig{});
  const cashier::Actor by{"settlectl", "", fmt::format("local:uid:{}", ::getuid())};
  if (c.action == "list") {
    auto all = auth.list();
    if (!all) return fail(o, out, err, Failure{exit_code::local, all.error().message, "LOCAL_FILE", "--ledger"});
    if (o.json) {
      out << dump_exact(Json{{"operators", operators_of(*all)}}) << "\n";
    } else {
      print_operators(operators_of(*all), out);
    }
    return 0;
  }
  Status st = settle::Ok{};
  if (c.action == "add" || c.action == "reset") {
    auto pw = read_secret_line(c.initial_password_file.empty() ? "-" : c.initial_password_file, "password");
    if (!pw) return fail(o, out, err, Failure{exit_code::usage, pw.error().message, "USAGE", "--initial-password-file"});
    if (c.action == "add") {
      const auto role = cashier::role_from_name(c.role);
      if (!role) return fail(o, out, err, bad_role);
      st = auth.add_operator(c.name, *role, *pw, by);
    } else {
      st = auth.reset_password(c.name, *pw, by);
    }
    std::fill(pw->begin(), pw->end(), '\0');
  } else if (c.action == "unlock") {
    st = auth.unlock(c.name, by);
  } else if (c.action == "disable" || c.action == "enable") {
    st = auth.set_disabled(c.name, c.action == "disable", by);
  } else if (c.action == "role") {
    const auto role = cashier::role_from_name(c.role);
    if (!role) return fail(o, out, err, bad_role);
    st = auth.set_role(c.name, *role, by);
  }
  if (!st)
    return fail(o, out, err, Failure{st.error().reason == Reason::storage_failed ? exit_code::local : exit_code::refused,
                             fmt::format("{}: {}", reason_name(st.error().reason), st.error().message),
                             std::string(reason_name(st.error().reason)), st.error().field});
  out << "operator " << c.name << ": " << c.action << " done (on the ledger file)\n";
  return 0;
}

}  // namespace

int run_operator(const ClientOptions& o, const OperatorCommand& c, std::ostream& out, std::ostream& err) {
  if (c.action != "list" && c.name.empty())
    return fail(o, out, err, Failure{exit_code::usage, "--name is needed", "USAGE", "--name"});
  if (!c.ledger.empty()) {
    // Run as root on a ledger that settled's user owns: the files written
    // (the ledger, -wal, -shm, .lock) are given back to that user.
    const auto owner = owner_of(c.ledger);
    const int rc = operator_on_ledger(o, c, out, err);  // the ledger is closed when it returns
    if (owner)
      if (auto problem = keep_owner(c.ledger, *owner))
        return fail(o, out, err, Failure{exit_code::local, *problem, "LOCAL_FILE", "--ledger"});
    return rc;
  }

  Session s(o);
  if (auto f = s.open(true)) return fail(o, out, err, *f);
  Json params = Json::object();
  std::string method;
  if (c.action == "list") {
    method = "operator.list";
  } else if (c.action == "add" || c.action == "reset") {
    auto pw = read_secret_line(c.initial_password_file.empty() ? "-" : c.initial_password_file, "initial password");
    if (!pw) return fail(o, out, err, Failure{exit_code::usage, pw.error().message, "USAGE", "--initial-password-file"});
    method = c.action == "add" ? "operator.add" : "operator.reset_password";
    params = Json{{"operator", c.name}, {"password", *pw}};
    if (c.action == "add") params["role"] = c.role;
    std::fill(pw->begin(), pw->end(), '\0');
  } else if (c.action == "role") {
    method = "operator.set_role";
    params = Json{{"operator", c.name}, {"role", c.role}};
  } else {
    method = "operator." + c.action;  // unlock, disable, enable
    params = Json{{"operator", c.name}};
  }
  auto a = s.call(method, params);
  if (!a) return fail(o, out, err, a.error());
  if (o.json) {
    out << dump_exact(a.value()) << "\n";
  } else if (c.action == "list") {
    print_operators(a.value()["operators"], out);
  } else {
    print_operators(Json::array({a.value()}), out);
  }
  return 0;
}

int run_password(const ClientOptions& o, const PasswordCommand& c, std::ostream& out, std::ostream& err) {
  if (o.operator_name.empty() || o.window.empty())
    return fail(o, out, err, no_login);
  auto current = read_secret_line(o.password_file.empty() ? "-" : o.password_file, "password");
  if (!current) return fail(o, out, err, Failure{exit_code::usage, current.error().message, "USAGE", "--password-file"});
  auto next = read_secret_line(c.new_password_file.empty() ? "-" : c.new_password_file, "new password");
  if (!next) return fail(o, out, err, Failure{exit_code::usage, next.error().message, "USAGE", "--new-password-file"});
  // The current password is needed twice (login, then the change): read
  // once here, since stdin cannot be read again.
  auto client = CashierClient::connect(o.socket);
  if (!client) return fail(o, out, err, Failure{exit_code::unreachable, client.error().message, "UNREACHABLE", "--socket"});
  const auto call = [&](std::string_view method, const Json& params) -> Answer {
    auto r = client->call(method, params);
    if (!r) return Answer{std::nullopt, Failure{exit_code::unreachable, r.error().message, "UNREACHABLE", ""}};
    if (!r->ok)
      return Answer{std::nullopt, Failure{exit_code::refused, fmt::format("{}: {}", r->reason, r->message), r->reason,
                                          r->data.is_object() ? r->data.value("field", std::string()) : std::string()}};
    return Answer{r->result, std::nullopt};
  };
  auto login = call("session.login", Json{{"operator", o.operator_name}, {"password", *current}, {"window", o.window}});
  if (!login) {
    std::fill(current->begin(), current->end(), '\0');
    std::fill(next->begin(), next->end(), '\0');
    return fail(o, out, err, login.error());
  }
  auto changed = call("session.change_password", Json{{"password", *current}, {"new_password", *next}});
  std::fill(current->begin(), current->end(), '\0');
  std::fill(next->begin(), next->end(), '\0');
  if (!changed) return fail(o, out, err, changed.error());
  if (o.json) {
    out << dump_exact(changed.value()) << "\n";
  } else {
    out << "operator " << o.operator_name << ": password changed\n";
  }
  return 0;
}

int run_audit(const ClientOptions& o, const AuditCommand& c, std::ostream& out, std::ostream& err) {
  Session s(o);
  if (auto f = s.open(true)) return fail(o, out, err, *f);
  Json entries = Json::array();
  Json cursor = nullptr;
  bool cut = false;  // stopped at --limit with more entries at the daemon
  for (;;) {
    Json params = Json::object();
    if (!c.from.empty()) params["from"] = c.from;
    if (!c.to.empty()) params["to"] = c.to;
    if (!c.by.empty()) params["operator"] = c.by;
    if (!c.action.empty()) params["action"] = c.action;
    if (!cursor.is_null()) params["cursor"] = cursor;
    params["limit"] = cashier::max_list_limit;
    auto a = s.call("audit.list", params);
    if (!a) return fail(o, out, err, a.error());
    for (const auto& e : a.value()["entries"]) {
      if (c.limit > 0 && static_cast<std::int64_t>(entries.size()) >= c.limit) {
        cut = true;
        break;
      }
      entries.push_back(e);
    }
    cursor = a.value().value("cursor", Json(nullptr));
    if (!a.value().value("more", false) || cursor.is_null()) break;
    if (c.limit > 0 && static_cast<std::int64_t>(entries.size()) >= c.limit) {
      cut = true;
      break;
    }
  }
  const std::string cut_note =
      cut ? fmt::format("output cut at --limit {}: older entries exist (--limit 0 shows all)\n", c.limit) : "";
  static const std::vector<std::string> cols{"audit_id", "time",   "operator", "window", "source",
                                             "action",   "object", "outcome",  "detail"};
  if (o.json) {
    out << dump_exact(Json{{"entries", entries}, {"count", entries.size()}, {"cut_by_limit", cut}}) << "\n";
  } else if (c.csv) {
    out << csv_bom << csv_row(cols);
    for (const auto& e : entries) {
      std::vector<std::string> cells;
      for (const auto& k : cols) cells.push_back(str(e, k));
      out << csv_row(cells);
    }
    err << cut_note;
  } else {
    Table t({{"id", Table::Align::right}, {"time"}, {"operator"}, {"window"}, {"action"}, {"object"}, {"outcome"},
             {"detail"}});
    for (const auto& e : entries)
      t.add_row({str(e, "audit_id"), str(e, "time"), str(e, "operator"), str(e, "window"), str(e, "action"),
                 str_or_dash(e, "object"), str(e, "outcome"), str_or_dash(e, "detail")});
    out << t.render();
    out << fmt::format("{} entries\n", entries.size()) << cut_note;
  }
  return 0;
}

// ---- close-outs ---------------------------------------------------------------------

namespace {

void print_closeout(const Json& r, std::ostream& out) {
  const bool recorded = !r["closeout_id"].is_null();
  out << render_pairs({{"close-out", recorded ? str(r, "closeout_id") : std::string("preview (not recorded)")},
                       {"operator", str(r, "operator")},
                       {"window", str(r, "window")},
                       {"from", str_or_dash(r, "from")},
                       {"to", str(r, "to")},
                       {"digest", str_or_dash(r, "digest")}});
  Table t({{""}, {"count", Table::Align::right}, {"total", Table::Align::right}, {"fund", Table::Align::right},
           {"account", Table::Align::right}, {"cash", Table::Align::right}});
  for (const auto& [label, key] : {std::pair{"online", "online"}, std::pair{"offline", "offline"},
                                   std::pair{"settlements", "settlements"}, std::pair{"refunds", "refunds"}}) {
    const Json& g = r[key];
    t.add_row({label, str(g, "count"), str(g, "total"), str(g, "fund"), str(g, "account"), str(g, "cash")});
  }
  out << "\n" << t.render();
  out << "\n"
      << render_pairs({{"cash taken", str(r, "cash_taken")},
                       {"cash paid back", str(r, "cash_paid_back")},
                       {"cash to hand over", str(r, "cash_to_hand_over")}});
  if (!r["corrections"].empty()) {
    Table ct({{"correction"}, {"setl_id"}, {"action"}, {"fund", Table::Align::right}, {"account", Table::Align::right},
              {"cash", Table::Align::right}, {"approved by"}, {"reason"}});
    for (const auto& x : r["corrections"])
      ct.add_row({str(x, "correction_id"), str(x, "setl_id"), str(x, "action"), str(x, "fund_delta"),
                  str(x, "account_delta"), str(x, "cash_delta"), str(x, "approved_by"), str(x, "reason")});
    out << "\ncorrections (they change the ledger's figures, not the cash handed over):\n" << ct.render();
  }
}

void closeout_csv(const Json& r, std::ostream& out) {
  static const std::vector<std::string> cols{"kind", "id", "setl_id", "time", "mode", "state", "receipt_no",
                                             "total", "fund", "account", "cash"};
  out << csv_bom << csv_row(cols);
  for (const auto& x : r["items"]) {
    std::vector<std::string> cells;
    for (const auto& k : cols) cells.push_back(str(x, k));
    out << csv_row(cells);
  }
}

}  // namespace

int run_closeout(const ClientOptions& o, const CloseoutCommand& c, std::ostream& out, std::ostream& err) {
  Session s(o);
  if (auto f = s.open(true)) return fail(o, out, err, *f);
  const auto show = [&](const Json& r) {
    if (o.json) {
      out << dump_exact(r) << "\n";
    } else if (c.csv) {
      closeout_csv(r, out);
    } else {
      print_closeout(r, out);
    }
    return 0;
  };
  if (c.action == "preview" || c.action == "record" || c.action == "get") {
    Json params = Json::object();
    std::string method = "closeout." + c.action;
    if (c.action == "preview" && !c.date.empty()) params["date"] = c.date;
    if (c.action == "record") params["request_id"] = c.request_id;
    if (c.action == "get") params["closeout_id"] = c.id;
    auto a = s.call(method, params);
    if (!a) return fail(o, out, err, a.error());
    return show(a.value());
  }
  if (c.action == "sheet") {
    Json params{{"paper", c.paper}};
    if (!c.id.empty()) params["closeout_id"] = c.id;
    auto a = s.call("closeout.sheet", params);
    if (!a) return fail(o, out, err, a.error());
    const std::string html = str(a.value(), "html");
    if (c.out_file.empty() || c.out_file == "-") {
      out << html;
    } else {
      std::ofstream f(c.out_file, std::ios::binary);
      f << html;
      if (!f) return fail(o, out, err, Failure{exit_code::local, fmt::format("cannot write {}", c.out_file), "LOCAL_FILE", "--out"});
      out << "close-out sheet written to " << c.out_file << " (print it, sign it, hand it over with the cash)\n";
    }
    return 0;
  }
  // list: every page.
  Json params{{"limit", cashier::max_list_limit}};
  if (!c.from.empty()) params["from"] = c.from;
  if (!c.to.empty()) params["to"] = c.to;
  if (!c.by.empty()) params["operator"] = c.by;
  if (!c.window.empty()) params["window"] = c.window;
  Json rows = Json::array();
  for (;;) {
    auto a = s.call("closeout.list", params);
    if (!a) return fail(o, out, err, a.error());
    for (const auto& x : a.value()["closeouts"]) rows.push_back(x);
    if (!a.value().value("more", false)) break;
    params["cursor"] = a.value()["cursor"];
  }
  static const std::vector<std::string> cols{"closeout_id", "operator", "window", "from", "to", "recorded_at",
                                             "cash_to_hand_over", "digest"};
  if (o.json) {
    out << dump_exact(Json{{"closeouts", rows}}) << "\n";
  } else if (c.csv) {
    out << csv_bom << csv_row(cols);
    for (const auto& x : rows) {
      std::vector<std::string> cells;
      for (const auto& k : cols) cells.push_back(str(x, k));
      out << csv_row(cells);
    }
  } else {
    Table t({{"close-out"}, {"operator"}, {"window"}, {"from"}, {"to"}, {"settlements", Table::Align::right},
             {"refunds", Table::Align::right}, {"cash to hand over", Table::Align::right}});
    for (const auto& x : rows)
      t.add_row({str(x, "closeout_id"), str(x, "operator"), str(x, "window"), str_or_dash(x, "from"), str(x, "to"),
                 str(x["settlements"], "count"), str(x["refunds"], "count"), str(x, "cash_to_hand_over")});
    out << t.render() << fmt::format("{} close-outs\n", rows.size());
  }
  return 0;
}

// ---- corrections and the work list -------------------------------------------------

namespace {

void print_corrections(const Json& list, std::ostream& out) {
  Table t({{"correction"}, {"target"}, {"action"}, {"fund", Table::Align::right}, {"account", Table::Align::right},
           {"cash", Table::Align::right}, {"state"}, {"recorded by"}, {"decided by"}, {"reason"}});
  for (const auto& c : list) {
    const std::string target = str(c, "target") == "settlement" ? "settlement " + str(c, "setl_id")
                                                                 : str(c, "target") + " item " + str(c, "item_id");
    t.add_row({str(c, "correction_id"), target, str(c, "action"), str_or_dash(c, "fund"), str_or_dash(c, "account"),
               str_or_dash(c, "cash"), str(c, "state"), str(c, "recorded_by"), str_or_dash(c, "decided_by"),
               str(c, "reason")});
  }
  out << t.render();
}

}  // namespace

int run_correction(const ClientOptions& o, const CorrectionCommand& c, std::ostream& out, std::ostream& err) {
  Session s(o);
  if (auto f = s.open(true)) return fail(o, out, err, *f);
  std::string method;
  Json params = Json::object();
  if (c.action == "record") {
    method = "correction.record";
    params = Json{{"target", c.target}, {"action", c.kind}, {"reason", c.reason}};
    if (c.target == "settlement") {
      params["setl_id"] = c.setl_id;
    } else {
      params["item_id"] = c.item_id;
    }
    if (c.kind == "amounts") {
      params["fund"] = c.fund;
      params["account"] = c.account;
      params["cash"] = c.cash;
    }
  } else if (c.action == "approve" || c.action == "refuse") {
    method = "correction." + c.action;
    params = Json{{"correction_id", c.id}};
    if (!c.note.empty()) params["note"] = c.note;
  } else {
    method = "correction.list";
    if (!c.state.empty()) params["state"] = c.state;
    params["limit"] = cashier::max_list_limit;
  }
  auto a = s.call(method, params);
  if (!a) return fail(o, out, err, a.error());
  if (o.json) {
    out << dump_exact(a.value()) << "\n";
  } else if (c.action == "list") {
    const Json& list = a.value()["corrections"];
    print_corrections(list, out);
    out << fmt::format("{} corrections\n", list.size());
    // correction.list has no cursor: it answers the newest max_list_limit.
    if (static_cast<std::int64_t>(list.size()) >= cashier::max_list_limit)
      out << fmt::format("only the newest {} are shown (the daemon lists no more at once): narrow with --state\n",
                         cashier::max_list_limit);
  } else {
    print_corrections(Json::array({a.value()}), out);
    if (c.action == "record") out << "recorded: it changes nothing until another person approves it\n";
  }
  return 0;
}

int run_work(const ClientOptions& o, std::ostream& out, std::ostream& err) {
  Session s(o);
  if (auto f = s.open(true)) return fail(o, out, err, *f);
  auto a = s.call("work.list", Json::object());
  if (!a) return fail(o, out, err, a.error());
  if (o.json) {
    out << dump_exact(a.value()) << "\n";
    return 0;
  }
  for (const auto& w : a.value()["items"]) {
    std::string what = str(w, "kind");
    if (w.contains("item_id") && !w["item_id"].is_null()) what += " item " + str(w, "item_id");
    if (w.contains("setl_id") && !w["setl_id"].is_null()) what += " settlement " + str(w, "setl_id");
    if (w.contains("correction_id") && !w["correction_id"].is_null() && str(w, "kind") == "correction_waiting")
      what += " " + str(w, "correction_id");
    out << what << "  (since " << str(w, "since") << ")\n";
    if (!str(w, "reason").empty()) out << "  reason: " << str(w, "reason") << "\n";
    if (w.contains("correction") && !w["correction"].is_null())
      out << "  correction " << str(w, "correction") << " waits for approval\n";
    out << "  what to do: " << str(w, "what_to_do") << "\n";
  }
  out << fmt::format("{} items\n", a.value()["items"].size());
  return 0;
}

}  // namespace settle::tools
