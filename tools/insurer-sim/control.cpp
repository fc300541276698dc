// Routing of control-endpoint requests to the fault set, the counters and
// the insurer's report, person/visit queries, e-voucher codes and injections. Errors answer
// 4xx with {"error": "..."}; nothing is changed by a refused request.
#include "tools/insurer-sim/control.hpp"

#include "protocol/insurer/fields.hpp"
#include "tools/insurer-sim/generator.hpp"

#include <fmt/format.h>

#include <optional>

namespace settle::sim {
namespace {

using json::Json;

ControlAnswer fail(unsigned status, std::string message) { return {status, Json{{"error", std::move(message)}}}; }

ControlAnswer from_error(const Error& e) {
  const unsigned status = e.reason == Reason::not_found ? 404U : e.reason == Reason::storage_failed ? 500U : 400U;
  return fail(status, e.message);
}

Result<Json> parse_body(std::string_view body) {
  if (body.empty()) return Json::object();
  return json::parse(body, "control request");
}

ControlAnswer counters(ControlContext& c) {
  const Counters& k = c.insurer.counters();
  Json by = Json::object();
  for (const auto& [infno, n] : k.by_infno) by[infno] = n;
  Json processing = Json::object();
  for (const auto& [infno, us] : c.net.processing_us)
    processing[infno] = Json{{"answers", c.net.processed[infno]}, {"us", us}};
  Json fired = Json::object();
  for (const auto& [kind, n] : c.faults.fired()) fired[kind] = n;
  return {200, Json{{"requests", k.requests},
                    {"answered_ok", k.answered_ok},
                    {"answered_error", k.answered_error},
                    {"idempotent_replays", k.idempotent_replays},
                    {"refused_sign_no", k.refused_sign_no},
                    {"refused_signature", c.net.refused_signature},
                    {"bad_requests", c.net.bad_requests},
                    {"connections", c.net.connections},
                    {"refused_connections", c.net.refused_connections},
                    {"by_infno", by},
                    {"processing", processing},
                    {"faults", fired}}};
}

ControlAnswer set_faults(ControlContext& c, const Json& body, bool append) {
  std::vector<Fault> parsed;
  if (append) {
    const Json* spec = json::find(body, "fault");
    if (spec == nullptr || !spec->is_string()) return fail(400, "body must be {\"fault\": \"kind:p=..,count=..\"}");
    auto f = parse_fault(spec->get<std::string>());
    if (!f) return from_error(f.error());
    c.faults.add(*f);
  } else {
    const Json* list = json::find(body, "faults");
    if (list == nullptr || !list->is_array()) return fail(400, "body must be {\"faults\": [\"kind:...\", ...]}");
    for (const Json& s : *list) {
      if (!s.is_string()) return fail(400, "faults: every element must be a string like \"lost_reply:p=0.5\"");
      auto f = parse_fault(s.get<std::string>());
      if (!f) return from_error(f.error());
      parsed.push_back(*f);
    }
    c.faults.replace(std::move(parsed));
  }
  return {200, c.faults.to_json()};
}

ControlAnswer add_person_route(ControlContext& c, const Json& body) {
  insurer::Fields f(body, "");
  PersonRow p;
  p.psn_no = f.opt_str("psn_no", 64).value_or("");
  p.card_no = f.nonempty("card_no", 9);
  p.card_sn = f.nonempty("card_sn", 32);
  p.certno = f.nonempty("id_no", 18);
  p.name = f.nonempty("name", 100);
  p.insutype = f.opt_str("insutype", 6).value_or("310");
  p.balance = f.opt_amount("balance").value_or(Amount::zero());
  p.deductible_used = f.opt_amount("deductible_used").value_or(Amount::zero());
  p.fund_paid_ytd = f.opt_amount("fund_paid_ytd").value_or(Amount::zero());
  p.insuplc_admdvs = f.opt_str("insuplc_admdvs", 6).value_or(std::string(default_area));
  for (const std::string& n : f.ok() && json::find(body, "flags") ? f.string_array("flags", 8) : std::vector<std::string>{}) {
    const auto flag = person_flag_from_name(n);
    if (!flag) return fail(400, fmt::format("flags: unknown flag \"{}\"", n));
    p.flags.set(*flag);
  }
  if (Status s = f.status(); !s) return from_error(s.error());
  auto id = add_person(c.insurer.store(), std::move(p));
  if (!id) return from_error(id.error());
  return {200, Json{{"psn_no", *id}}};
}

// POST /ec-qr {psn_no, acct_auth}: the e-voucher code the person's phone shows.
ControlAnswer mint_ec_qr_route(ControlContext& c, const Json& body) {
  insurer::Fields f(body, "");
  const std::string psn_no = f.nonempty("psn_no", 64);
  const bool acct_auth = f.boolean("acct_auth");
  if (Status s = f.status(); !s) return from_error(s.error());
  auto r = c.insurer.mint_ec_qr(psn_no, acct_auth);
  if (!r) return from_error(r.error());
  return {200, *r};
}

// The value of `key` in the target's query ("/report?msgid=X&psn_no=Y"), no decoding.
std::optional<std::string> query_value(std::string_view target, std::string_view key) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view item = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    const auto eq = item.find('=');
    if (eq != std::string_view::npos && item.substr(0, eq) == key) return std::string(item.substr(eq + 1));
  }
  return std::nullopt;
}

// Keeps the report's rows that match ?msgid=, ?medins_setl_id=, ?psn_no= or
// ?setl_id= (totals stay over everything).
Json filter_report(Json report, std::string_view target) {
  const auto msgid = query_value(target, "msgid");
  const auto local = query_value(target, "medins_setl_id");
  const auto psn = query_value(target, "psn_no");
  const auto setl = query_value(target, "setl_id");
  if (!msgid && !local && !psn && !setl) return report;
  const auto keep = [&](const Json& row, std::initializer_list<std::pair<const std::optional<std::string>*, const char*>> keys) {
    for (const auto& [want, field] : keys) {
      if (!*want) continue;
      const Json* v = json::find(row, field);
      if (v == nullptr || !v->is_string() || v->get<std::string>() != **want) return false;
    }
    return true;
  };
  for (const char* table : {"settlements", "refunds", "reversals"}) {
    Json kept = Json::array();
    for (const Json& row : report[table]) {
      const bool match = std::string_view(table) == "settlements"
                             ? keep(row, {{&msgid, "msgid"}, {&local, "medins_setl_id"}, {&psn, "psn_no"}, {&setl, "setl_id"}})
                         : std::string_view(table) == "refunds"
                             ? keep(row, {{&msgid, "msgid"}, {&local, "medins_refd_id"}, {&setl, "setl_id"}}) && !psn
                             : keep(row, {{&msgid, "omsgid"}}) && !local && !psn && !setl;
      if (match) kept.push_back(row);
    }
    report[table] = std::move(kept);
  }
  return report;
}

}  // namespace

ControlAnswer control_handle(ControlContext& c, std::string_view method, std::string_view target, std::string_view body) {
  auto doc = parse_body(body);
  if (!doc) return fail(400, doc.error().message);
  const std::string_view path = target.substr(0, target.find('?'));
  if (method == "GET" && path == "/health")
    return {200, Json{{"ok", true}, {"profile", std::string(sim_profile_name(c.insurer.profile()))}}};
  if (path == "/faults") {
    if (method == "GET") return {200, c.faults.to_json()};
    if (method == "POST") return set_faults(c, *doc, false);
    if (method == "DELETE") {
      c.faults.clear();
      return {200, c.faults.to_json()};
    }
  }
  if (path == "/faults/add" && method == "POST") return set_faults(c, *doc, true);
  if (path == "/clock") {
    if (method == "POST") {
      const Json* off = json::find(*doc, "offset_s");
      if (off == nullptr || !off->is_number_integer() || off->get<std::int64_t>() < -86'400'000 ||
          off->get<std::int64_t>() > 86'400'000)
        return fail(400, "body must be {\"offset_s\": N}, N whole seconds within ±1000 days");
      c.faults.set_clock_offset_s(off->get<std::int64_t>());
    }
    if (method == "GET" || method == "POST") return {200, Json{{"offset_s", c.faults.clock_offset_s()}}};
  }
  if (path == "/counters" && method == "GET") return counters(c);
  if (path == "/report" && method == "GET") {
    auto r = c.insurer.report();
    if (!r) return from_error(r.error());
    return {200, filter_report(std::move(*r), target)};
  }
  if (path == "/persons" && method == "POST") return add_person_route(c, *doc);
  if (path == "/ec-qr" && method == "POST") return mint_ec_qr_route(c, *doc);
  if (path.starts_with("/persons/") && method == "GET") {
    auto r = c.insurer.person_json(path.substr(9));
    if (!r) return from_error(r.error());
    return {200, *r};
  }
  if (path.starts_with("/visits/") && method == "GET") {
    auto r = c.insurer.visit_json(path.substr(8));
    if (!r) return from_error(r.error());
    return {200, *r};
  }
  if (path == "/inject" && method == "POST") {
    auto r = c.insurer.inject(*doc);
    if (!r) return from_error(r.error());
    return {200, *r};
  }
  return fail(404, fmt::format("no route {} {}", method, path));
}

}  // namespace settle::sim
