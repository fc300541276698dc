// settlectl inpatient without a daemon: options and lines files checked and
// turned into each method's params (the cashier API's rules, so bad input
// stops before anything is sent), results as text, and the cursor pager.
#include "tools/settlectl/inpatient.hpp"

#include "engine/limits.hpp"
#include "tools/common/exit_codes.hpp"
#include "protocol/cashier/params.hpp"
#include "protocol/engine_json.hpp"
#include "tools/common/table.hpp"
#include "tools/settlectl/format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <istream>
#include <iterator>
#include <map>
#include <set>
#include <utility>

namespace settle::tools {

using json::Json;

namespace {

// The insurer keeps a line's number in 30 characters (feedetail.feedetl_sn).
constexpr std::size_t max_feedetl_sn_len = 30;
constexpr std::array<std::string_view, 4> stay_states{"admitted", "discharged", "undone", "admission_rejected"};

Error bad(std::string field, std::string message) {
  return make_error(Reason::invalid_request, std::move(field), std::move(message));
}

bool has_control_chars(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return u < 0x20 || u == 0x7F;
  });
}

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) { return ch > 0x20 && ch < 0x7F; });
}

std::size_t code_points(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char ch) { return (static_cast<unsigned char>(ch) & 0xC0) != 0x80; }));
}

// Option checks: each names the option as typed.
Status check_text(std::string_view option, std::string_view s, std::size_t max_len) {
  if (s.empty()) return bad(std::string(option), fmt::format("{}: must not be empty", option));
  if (s.size() > max_len) return bad(std::string(option), fmt::format("{}: at most {} bytes", option, max_len));
  if (has_control_chars(s)) return bad(std::string(option), fmt::format("{}: must not contain control characters", option));
  return Ok{};
}

Status check_ident(std::string_view option, std::string_view s) {
  if (Status st = check_text(option, s, cashier::max_ident_len); !st) return st;
  if (!printable_ascii(s))
    return bad(std::string(option), fmt::format("{}: must be printable ASCII without spaces", option));
  return Ok{};
}

Status check_request_id(std::string_view s) {
  const std::size_t n = code_points(s);
  if (n < limits::request_id_min_len || n > limits::request_id_max_len)
    return bad("--request-id", fmt::format("--request-id: must be {} to {} characters, got {}",
                                           limits::request_id_min_len, limits::request_id_max_len, n));
  if (has_control_chars(s)) return bad("--request-id", "--request-id: must not contain control characters");
  return Ok{};
}

Status check_feedetl_sn(std::string_view where, std::string_view s) {
  if (s.empty() || s.size() > max_feedetl_sn_len || !printable_ascii(s))
    return bad(std::string(where), fmt::format("{}: a line number is 1 to {} printable ASCII characters without spaces, "
                                               "got \"{}\"",
                                               where, max_feedetl_sn_len, s.substr(0, 40)));
  return Ok{};
}

Status check_datetime(std::string_view option, std::string_view s) {
  if (!cashier::is_iso_datetime_offset(s))
    return bad(std::string(option), fmt::format("{}: expected an ISO 8601 date-time with offset, e.g. "
                                                "2026-03-01T08:30:00+08:00, got \"{}\"",
                                                option, s.substr(0, 40)));
  return Ok{};
}

Status check_date_or_datetime(std::string_view option, std::string_view s) {
  if (!cashier::is_date_or_datetime(s))
    return bad(std::string(option), fmt::format("{}: expected a date 2026-03-01 or a date-time with offset "
                                                "2026-03-01T08:30:00+08:00, got \"{}\"",
                                                option, s.substr(0, 40)));
  return Ok{};
}

// "lines file x.json: lines[2].class: class must be ..." from an error of the
// line reader (whose message may or may not start with its field).
Error in_source(std::string_view source, const Error& e) {
  std::string msg = e.message;
  if (!e.field.empty() && msg.rfind(e.field, 0) != 0) msg = fmt::format("{}: {}", e.field, msg);
  return make_error(e.reason, e.field, fmt::format("{}: {}", source, msg));
}

const Json* member(const Json& j, std::string_view key) {
  const Json* v = json::find(j, key);
  return v == nullptr || v->is_null() ? nullptr : v;
}

std::string yes_no(const Json& j, std::string_view key) {
  const Json* v = member(j, key);
  if (v == nullptr) return "";
  return v->is_boolean() ? (v->get<bool>() ? "yes" : "no") : value_text(*v);
}

// "code name" when the name is given.
std::string code_and_name(const Json& j, std::string_view code, std::string_view name) {
  std::string c = str(j, code);
  const std::string n = str(j, name);
  if (!n.empty()) c += (c.empty() ? "" : " ") + n;
  return c.empty() ? std::string("-") : c;
}

std::string next_cursor_hint(const Json& r) {
  const std::string next = str(r, "next_cursor");
  return next.empty() ? std::string() : fmt::format("more: --cursor {} (or --all for everything)\n", next);
}

}  // namespace

std::string_view inpatient_method(std::string_view action) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 9> methods{{
      {"admit", "inpatient.admit"},
      {"add-lines", "inpatient.add_lines"},
      {"cancel-lines", "inpatient.cancel_lines"},
      {"preview", "inpatient.preview"},
      {"discharge", "inpatient.discharge"},
      {"undo-discharge", "inpatient.undo_discharge"},
      {"undo-admit", "inpatient.undo_admit"},
      {"get", "inpatient.get"},
      {"list", "inpatient.list"},
  }};
  for (const auto& [a, m] : methods)
    if (a == action) return m;
  return {};
}

bool inpatient_needs_card(std::string_view action) {
  return action == "admit" || action == "discharge" || action == "undo-discharge" || action == "undo-admit";
}

bool inpatient_wants_pin(const InpatientCommand& c, bool pin_stdin) {
  return c.action == "discharge" && !c.no_account && pin_stdin;
}

Result<Json> parse_inpatient_lines(std::string_view text, std::string_view source) {
  auto doc = json::parse(text, source);
  if (!doc) return doc.error();
  const Json* arr = &*doc;
  if (doc->is_object()) {
    for (const auto& [key, value] : doc->items())
      if (key != "lines")
        return bad(key, fmt::format("{}: unknown member \"{}\" (expected [...] or {{\"lines\": [...]}})", source,
                                    key.substr(0, 64)));
    arr = json::find(*doc, "lines");
    if (arr == nullptr) return bad("lines", fmt::format("{}: no \"lines\" member (expected [...] or {{\"lines\": [...]}})", source));
  }
  if (!arr->is_array())
    return bad("lines", fmt::format("{}: expected [...] or {{\"lines\": [...]}} of charge lines, got {}", source,
                                    json::type_name(*arr)));
  if (arr->empty()) return bad("lines", fmt::format("{}: no charge lines (1 to {} in one batch)", source,
                                                    limits::max_lines_per_settlement));
  if (arr->size() > limits::max_lines_per_settlement)
    return make_error(Reason::limit_exceeded, "lines",
                      fmt::format("{}: {} charge lines, at most {} in one batch", source, arr->size(),
                                  limits::max_lines_per_settlement));

  // feedetl_sn here; the charge line itself by the engine's own reader.
  std::vector<std::string> sns;
  std::map<std::string, std::size_t, std::less<>> first_at;
  Json plain = Json::array();
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const Json& l = (*arr)[i];
    const std::string p = fmt::format("lines[{}]", i);
    if (!l.is_object())
      return bad(p, fmt::format("{}: {}: expected an object {{feedetl_sn, code, name, class, amount}}, got {}", source, p,
                                json::type_name(l)));
    const std::string f = p + ".feedetl_sn";
    const Json* sn = member(l, "feedetl_sn");
    std::string text_sn;
    if (sn == nullptr) return bad(f, fmt::format("{}: {}: required field is missing (the line's number in the stay)", source, f));
    if (sn->is_string()) text_sn = sn->get<std::string>();
    else if (sn->is_number_unsigned() || (sn->is_number_integer() && sn->get<std::int64_t>() >= 0))
      text_sn = sn->dump();
    else
      return bad(f, fmt::format("{}: {}: expected a line number (text or a whole number), got {}", source, f,
                                json::type_name(*sn)));
    if (Status st = check_feedetl_sn(f, text_sn); !st) return in_source(source, st.error());
    if (auto [it, fresh] = first_at.emplace(text_sn, i); !fresh)
      return bad(f, fmt::format("{}: {}: \"{}\" is given twice (also lines[{}])", source, f, text_sn, it->second));
    sns.push_back(std::move(text_sn));
    Json rest = l;
    rest.erase("feedetl_sn");
    plain.push_back(std::move(rest));
  }
  auto lines = json::lines_from_json(plain, "lines", /*name_required=*/true);
  if (!lines) return in_source(source, lines.error());
  std::int64_t total_fen = 0;
  for (const ChargeLine& l : *lines) total_fen += l.amount.fen();  // at most 500 of amount_max_fen: fits
  if (total_fen > limits::amount_max_fen)
    return make_error(Reason::invalid_amount, "lines",
                      fmt::format("{}: the total {} is above the largest amount accepted", source,
                                  format_amount(Amount::fen(total_fen))));

  Json out = Json::array();
  for (std::size_t i = 0; i < lines->size(); ++i) {
    const ChargeLine& l = (*lines)[i];
    Json o{{"feedetl_sn", sns[i]}, {"code", l.code}, {"name", l.name}, {"class", line_class_name(l.cls)},
           {"amount", json::amount_value(l.amount)}};
    if (l.selfpay_ratio) o["selfpay_ratio"] = format_ratio(*l.selfpay_ratio);
    out.push_back(std::move(o));
  }
  return out;
}

Result<Json> read_inpatient_lines(const std::string& path, std::istream& in) {
  if (path.empty()) return bad("--lines", "--lines: give the lines file (or - for standard input)");
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else {
    std::ifstream f(path, std::ios::binary);
    if (!f) return bad("--lines", fmt::format("--lines: cannot read the lines file {}", path));
    text.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  return parse_inpatient_lines(text, path == "-" ? std::string("lines on standard input")
                                                 : fmt::format("lines file {}", path));
}

Result<Json> inpatient_params(const InpatientCommand& c, const Json& lines) {
  if (inpatient_method(c.action).empty()) return bad("action", fmt::format("unknown inpatient command \"{}\"", c.action));
  Json p = Json::object();
  const bool mutating = c.action != "preview" && c.action != "get" && c.action != "list";
  if (mutating) {
    if (Status st = check_request_id(c.request_id); !st) return st.error();
    p["request_id"] = c.request_id;
  }
  if (c.action != "admit" && c.action != "list") {
    if (Status st = check_ident("--adm-id", c.adm_id); !st) return st.error();
    p["adm_id"] = c.adm_id;
  }
  if (c.action == "admit") {
    if (Status st = check_text("--dept", c.dept, cashier::max_ident_len); !st) return st.error();
    p["dept"] = c.dept;
    if (!c.dept_name.empty()) {
      if (Status st = check_text("--dept-name", c.dept_name, limits::max_name_len); !st) return st.error();
      p["dept_name"] = c.dept_name;
    }
    if (Status st = check_text("--diagnosis", c.diagnosis, cashier::max_ident_len); !st) return st.error();
    p["diagnosis"] = c.diagnosis;
    if (!c.diagnosis_name.empty()) {
      if (Status st = check_text("--diagnosis-name", c.diagnosis_name, limits::max_name_len); !st) return st.error();
      p["diagnosis_name"] = c.diagnosis_name;
    }
    if (!c.admit_time.empty()) {
      if (Status st = check_datetime("--admit-time", c.admit_time); !st) return st.error();
      p["admit_time"] = c.admit_time;
    }
  } else if (c.action == "add-lines") {
    if (!lines.is_array() || lines.empty()) return bad("--lines", "--lines: no charge lines were read");
    p["lines"] = lines;
  } else if (c.action == "cancel-lines") {
    if (c.feedetl_sn.empty()) return bad("--feedetl-sn", "--feedetl-sn: give the number of each line to cancel");
    if (c.feedetl_sn.size() > limits::max_lines_per_settlement)
      return make_error(Reason::limit_exceeded, "--feedetl-sn",
                        fmt::format("--feedetl-sn: {} lines, at most {} at once", c.feedetl_sn.size(),
                                    limits::max_lines_per_settlement));
    std::set<std::string, std::less<>> seen;
    for (const std::string& sn : c.feedetl_sn) {
      if (Status st = check_feedetl_sn("--feedetl-sn", sn); !st) return st.error();
      if (!seen.insert(sn).second) return bad("--feedetl-sn", fmt::format("--feedetl-sn: \"{}\" is given twice", sn));
    }
    p["feedetl_sn"] = c.feedetl_sn;
  } else if (c.action == "preview") {
    p["use_account"] = !c.no_account;
  } else if (c.action == "discharge") {
    p["use_account"] = !c.no_account;
    if (!c.discharge_time.empty()) {
      if (Status st = check_datetime("--discharge-time", c.discharge_time); !st) return st.error();
      p["discharge_time"] = c.discharge_time;
    }
  } else if (c.action == "get") {
    if (!c.cursor.empty()) {
      if (Status st = check_ident("--cursor", c.cursor); !st) return st.error();
      p["cursor"] = c.cursor;
    }
    if (c.limit) {
      if (*c.limit < 1 || *c.limit > cashier::max_list_limit)
        return bad("--limit", fmt::format("--limit: lines per page, 1 to {}, got {}", cashier::max_list_limit, *c.limit));
      p["limit"] = *c.limit;
    }
  } else if (c.action == "list") {
    if (!c.state.empty()) {
      if (std::find(stay_states.begin(), stay_states.end(), c.state) == stay_states.end())
        return bad("--state", fmt::format("--state: one of admitted, discharged, undone, admission_rejected; got \"{}\"",
                                          c.state.substr(0, 40)));
      p["state"] = c.state;
    }
    if (!c.dept.empty()) {
      if (Status st = check_text("--dept", c.dept, cashier::max_ident_len); !st) return st.error();
      p["dept"] = c.dept;
    }
    if (!c.from.empty()) {
      if (Status st = check_date_or_datetime("--from", c.from); !st) return st.error();
      p["from"] = c.from;
    }
    if (!c.to.empty()) {
      if (Status st = check_date_or_datetime("--to", c.to); !st) return st.error();
      p["to"] = c.to;
    }
  }
  return p;
}

std::string page_items_key(const Json& page, std::string_view items_key) {
  if (!items_key.empty()) return std::string(items_key);
  if (!page.is_object()) return "";
  for (const char* k : {"lines", "stays"})
    if (const Json* v = json::find(page, k); v != nullptr && v->is_array()) return k;
  std::string found;
  for (const auto& [k, v] : page.items()) {
    if (!v.is_array() || k == "settlements") continue;
    if (!found.empty()) return "";  // more than one: ambiguous
    found = k;
  }
  return found;
}

Answer follow_pages(Json params, const PageFetch& fetch, std::string_view items_key, std::size_t max_pages) {
  // A page the pager cannot follow is an answer the daemon did not give properly.
  const auto fail = [](std::string msg) {
    return Answer{std::nullopt, Failure{exit_code::unreachable, std::move(msg), "BAD_ANSWER", ""}};
  };
  Answer first = fetch(params);
  if (!first) return first;
  Json merged = first.value();
  const std::string key = page_items_key(merged, items_key);
  if (key.empty() || !merged.is_object() || !merged[key].is_array())
    return fail(fmt::format("page 1 of the answer has no {} array", key.empty() ? std::string("items") : key));
  std::set<std::string, std::less<>> sent;
  if (const Json* c = member(params, "cursor"); c != nullptr && c->is_string()) sent.insert(c->get<std::string>());
  Json page = merged;
  for (std::size_t n = 1;; ++n) {
    const Json* next = member(page, "next_cursor");
    if (next == nullptr || (next->is_string() && next->get_ref<const std::string&>().empty())) break;
    if (!next->is_string()) return fail(fmt::format("page {}: next_cursor is not text: {}", n, dump_exact(*next, -1)));
    const std::string cursor = next->get<std::string>();
    if (!sent.insert(cursor).second)
      return fail(fmt::format("page {} gave the cursor \"{}\" again: stopped instead of going round forever", n, cursor));
    if (n >= max_pages) return fail(fmt::format("more than {} pages: stopped", max_pages));
    params["cursor"] = cursor;
    Answer a = fetch(params);
    if (!a) return a;
    page = a.value();
    const Json* items = page.is_object() ? json::find(page, key) : nullptr;
    if (items == nullptr || !items->is_array())
      return fail(fmt::format("page {} of the answer has no {} array", n + 1, key));
    for (const Json& item : *items) merged[key].push_back(item);
  }
  merged["next_cursor"] = nullptr;
  return Answer{std::move(merged), std::nullopt};
}

std::string stay_text(const Json& stay) {
  std::vector<std::pair<std::string, std::string>> pairs{
      {"stay (住院号)", str(stay, "adm_id")},
      {"state", str(stay, "state")},
      {"mode", str_or_dash(stay, "mode")},
      {"insurer visit (mdtrt_id)", str_or_dash(stay, "mdtrt_id")},
      {"card", str_or_dash(stay, "card_no")},
      {"person number", str_or_dash(stay, "psn_no")},
      {"insurance type", str_or_dash(stay, "insutype")},
      {"department (科室)", code_and_name(stay, "dept", "dept_name")},
      {"diagnosis (诊断)", code_and_name(stay, "diagnosis", "diagnosis_name")},
      {"admitted", str_or_dash(stay, "admit_time")},
      {"discharged", str_or_dash(stay, "discharge_time")},
      {"lines", str_or_dash(stay, "lines_count")},
      {"cancelled lines", str_or_dash(stay, "cancelled_count")},
      {"total so far (医疗费总额)", str_or_dash(stay, "total_so_far")},
      {"uploads pending", str_or_dash(stay, "pending_uploads")},
  };
  if (!str(stay, "flag").empty()) pairs.emplace_back("flag", str(stay, "flag"));
  std::string out = render_pairs(pairs);
  const Json* setl = member(stay, "settlements");
  if (setl != nullptr && setl->is_array() && !setl->empty()) {
    Table t({{"settlement"}, {"state"}, {"mode"}, {"total", Table::Align::right}, {"fund", Table::Align::right},
             {"account", Table::Align::right}, {"cash", Table::Align::right}});
    for (const Json& s : *setl)
      t.add_row({str(s, "setl_id"), str(s, "state"), str(s, "mode"), str(s, "total"), str(s, "fund"), str(s, "account"),
                 str(s, "cash")});
    out += "\n" + t.render();
  }
  return out;
}

std::string stay_lines_table(const Json& lines) {
  Table t({{"feedetl_sn"}, {"code"}, {"name"}, {"class"}, {"amount", Table::Align::right},
           {"self-pay", Table::Align::right}, {"batch"}, {"uploaded"}, {"cancelled"}});
  if (lines.is_array())
    for (const Json& l : lines)
      t.add_row({str(l, "feedetl_sn"), str(l, "code"), str(l, "name"), str(l, "class"), str(l, "amount"),
                 str(l, "selfpay_ratio"), str(l, "batch_request_id"), yes_no(l, "uploaded"), yes_no(l, "cancelled")});
  return t.render();
}

std::string stays_table(const Json& stays) {
  Table t({{"adm_id"}, {"state"}, {"mode"}, {"mdtrt_id"}, {"card"}, {"dept"}, {"admitted"}, {"discharged"},
           {"lines", Table::Align::right}, {"total so far", Table::Align::right}});
  if (stays.is_array())
    for (const Json& s : stays)
      t.add_row({str(s, "adm_id"), str(s, "state"), str(s, "mode"), str_or_dash(s, "mdtrt_id"), str(s, "card_no"),
                 str(s, "dept"), str(s, "admit_time"), str_or_dash(s, "discharge_time"), str(s, "lines_count"),
                 str(s, "total_so_far")});
  return t.render();
}

std::string inpatient_text(std::string_view action, const Json& r) {
  if (action == "admit") {
    std::string visit = str_or_dash(r, "mdtrt_id");
    if (visit == "-" && str(r, "mode") == "offline") visit = "- (comes when the admission is forwarded)";
    return render_pairs({{"stay (住院号)", str(r, "adm_id")},
                         {"mode", str(r, "mode")},
                         {"insurer visit (mdtrt_id)", visit},
                         {"state", str(r, "state")}});
  }
  if (action == "add-lines" || action == "cancel-lines") {
    const bool add = action == "add-lines";
    return render_pairs({{"stay (住院号)", str(r, "adm_id")},
                         {add ? "lines added" : "lines cancelled", str(r, add ? "added" : "cancelled")},
                         {"lines on the stay", str(r, "lines_count")},
                         {"total so far (医疗费总额)", str(r, "total_so_far")},
                         {"upload", str(r, "upload")}});
  }
  if (action == "preview") {
    return render_pairs({{"total", str(r, "total")},
                         {"fund pays", str(r, "fund")},
                         {"personal account", str(r, "account")},
                         {"cash", str(r, "cash")},
                         {"mode", str(r, "mode")},
                         {"lines", str(r, "lines_count")}}) +
           "reasons: " + reasons_text(r) + "\n";
  }
  if (action == "discharge") return settlement_text(r) + "stay (住院号): " + str(r, "adm_id") + "\n";
  if (action == "undo-discharge" || action == "undo-admit") {
    std::string out = render_pairs({{"stay (住院号)", str(r, "adm_id")}, {"state", str(r, "state")}});
    if (const Json* undo = member(r, "undo"); undo != nullptr) out += "\nundone:\n" + refund_text(*undo);
    return out;
  }
  if (action == "get") {
    const Json* lines = member(r, "lines");
    return stay_text(r) + "\n" + stay_lines_table(lines != nullptr ? *lines : Json::array()) + next_cursor_hint(r);
  }
  if (action == "list") {
    const std::string key = page_items_key(r);
    const Json* stays = key.empty() ? nullptr : member(r, key);
    return stays_table(stays != nullptr ? *stays : Json::array()) + next_cursor_hint(r);
  }
  return dump_exact(r) + "\n";
}

}  // namespace settle::tools
