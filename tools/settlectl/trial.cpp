// settlectl split / refund: read the trial input, run the engine's rules with
// the policy file, and print what the patient, the account and the fund pay.
#include "tools/settlectl/trial.hpp"

#include "engine/refund.hpp"
#include "engine/split.hpp"
#include "protocol/engine_json.hpp"
#include "protocol/policy_file.hpp"
#include "tools/common/exit_codes.hpp"
#include "tools/common/table.hpp"
#include "tools/settlectl/session.hpp"

#include <fmt/format.h>

#include <iostream>
#include <iterator>
#include <sstream>

namespace settle::tools {
namespace {

using json::Json;

// Bad input (exit 2): the reason and the field at fault, as JSON with --json.
int fail(const TrialOptions& o, std::ostream& out, std::ostream& err, const Error& e) {
  return report_failure(Failure{exit_code::usage, fmt::format("{}: {}", reason_name(e.reason), e.message),
                                std::string(reason_name(e.reason)), e.field},
                        o.json, out, err);
}

Result<Json> read_input(std::istream& in) {
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return json::parse(text, "standard input");
}

struct Charge {
  Person person;
  std::vector<ChargeLine> lines;
  SplitOptions options;
};

Result<Charge> charge_from_json(const Json& v, std::string_view path) {
  if (!v.is_object())
    return make_error(Reason::invalid_request, std::string(path),
                      fmt::format("{}: expected an object {{person, lines, options}}", path.empty() ? "input" : path));
  Charge c;
  const Json* p = json::find(v, "person");
  if (p == nullptr) return make_error(Reason::invalid_request, json::path_join(path, "person"),
                                      fmt::format("{}: required field is missing", json::path_join(path, "person")));
  auto person = json::person_from_json(*p, json::path_join(path, "person"));
  if (!person) return person.error();
  c.person = *person;
  const Json* l = json::find(v, "lines");
  if (l == nullptr) return make_error(Reason::invalid_request, json::path_join(path, "lines"),
                                      fmt::format("{}: required field is missing", json::path_join(path, "lines")));
  auto lines = json::lines_from_json(*l, json::path_join(path, "lines"));
  if (!lines) return lines.error();
  c.lines = std::move(*lines);
  const Json* o = json::find(v, "options");
  auto options = json::options_from_json(o != nullptr ? *o : Json(nullptr), json::path_join(path, "options"));
  if (!options) return options.error();
  c.options = *options;
  return c;
}

std::string describe_options(const Policy& policy, const Charge& c) {
  std::string s = fmt::format("policy \"{}\" {}, insurance type {}, {}", policy.name, policy.version, c.person.insutype,
                              visit_type_name(c.options.visit));
  if (c.options.offline) s += fmt::format(", OFFLINE ({})", json::offline_cause_name(c.options.offline->cause));
  else s += fmt::format(", online, account {}, PIN {}", c.options.use_account ? "requested" : "not used",
                        c.options.pin_verified ? "verified" : "not verified");
  return s;
}

void print_split(std::ostream& out, const Policy& policy, const Charge& c, const Split& s) {
  out << "Trial settlement — " << describe_options(policy, c) << "\n\n";
  Table lines({{"#", Table::Align::right}, {"code"}, {"name"}, {"class"}, {"amount", Table::Align::right},
               {"self-pay ratio", Table::Align::right}});
  const PolicyParams* params = policy.find(c.person.insutype, c.options.visit);
  for (std::size_t i = 0; i < c.lines.size(); ++i) {
    const ChargeLine& l = c.lines[i];
    std::string ratio;
    if (l.cls == LineClass::b && params != nullptr) ratio = format_ratio(policy.classb_ratio(*params, l.code, l.selfpay_ratio));
    lines.add_row({std::to_string(i + 1), l.code, l.name, std::string(line_class_name(l.cls)), format_amount(l.amount), ratio});
  }
  out << lines.render() << "\n";
  out << render_pairs({
      {"total (医疗费总额)", format_amount(s.total)},
      {"class C, own pay (全自费)", format_amount(s.fulamt_ownpay)},
      {"class B self-pay (先行自付)", format_amount(s.preselfpay)},
      {"policy range (政策范围内)", format_amount(s.inscp)},
      {"deductible part (起付线)", format_amount(s.deductible_part)},
      {"fund pays (统筹基金)", format_amount(s.fund)},
      {"personal account (个人账户)", format_amount(s.account)},
      {"cash (现金)", format_amount(s.cash)},
      {"mode", std::string(mode_name(s.mode))},
  });
  out << "\n";
  if (s.reasons.empty()) {
    out << "reasons: none (the normal split)\n";
  } else {
    out << "reasons:\n";
    for (SplitReason r : s.reasons) out << fmt::format("  - {}: {}\n", split_reason_name(r), split_reason_description(r));
  }
}

Result<Policy> load(const TrialOptions& o) {
  if (o.policy_path.empty())
    return make_error(Reason::invalid_config, "policy", "--policy FILE is required (see docs/examples/policy.toml)");
  return load_policy_file(o.policy_path);
}

}  // namespace

int run_split(const TrialOptions& o, std::istream& in, std::ostream& out, std::ostream& err) {
  auto policy = load(o);
  if (!policy) return fail(o, out, err, policy.error());
  auto input = read_input(in);
  if (!input) return fail(o, out, err, input.error());
  auto charge = charge_from_json(*input, "");
  if (!charge) return fail(o, out, err, charge.error());
  auto s = split(*policy, charge->person, charge->lines, charge->options);
  if (!s) return fail(o, out, err, s.error());
  if (o.json) out << json::split_to_json(*s).dump(2) << "\n";
  else print_split(out, *policy, *charge, *s);
  return 0;
}

// Input: {"original": {person, lines, options} | {"parts": {total, fund, account, cash}},
//         "refunds": [ {"lines": [{code, amount}]} | {"parts": {...}} ],
//         "request": {"lines": [{code, amount}]} (none or empty = everything left)
//                  | {"refund_total": x, "fund": y} (the insurer's fund share)}
int run_refund(const TrialOptions& o, std::istream& in, std::ostream& out, std::ostream& err) {
  auto policy = load(o);
  if (!policy) return fail(o, out, err, policy.error());
  auto input = read_input(in);
  if (!input) return fail(o, out, err, input.error());
  const Json* orig = json::find(*input, "original");
  if (orig == nullptr) return fail(o, out, err, make_error(Reason::invalid_request, "original", "original: required field is missing"));

  std::optional<Charge> charge;
  Parts original;
  if (const Json* parts = json::find(*orig, "parts")) {
    auto p = json::parts_from_json(*parts, "original.parts");
    if (!p) return fail(o, out, err, p.error());
    original = *p;
  } else {
    auto c = charge_from_json(*orig, "original");
    if (!c) return fail(o, out, err, c.error());
    auto s = split(*policy, c->person, c->lines, c->options);
    if (!s) return fail(o, out, err, s.error());
    original = parts_of(*s);
    charge = std::move(*c);
  }

  // Earlier refunds, replayed in order through the same arithmetic.
  std::vector<Parts> done;
  std::vector<LineRefund> done_lines;
  const auto line_refund = [&](const std::vector<LineRefund>& req, std::string_view path) -> Result<Parts> {
    if (!charge)
      return make_error(Reason::invalid_request, std::string(path),
                        fmt::format("{}: a refund by lines needs the original's lines (give original as {{person, lines, options}})", path));
    auto plan = plan_line_refund(charge->lines, done_lines, req);
    if (!plan) return plan.error();
    const Parts left = remaining(original, done);
    auto fund_r = fund_share_of_line_refund(*policy, charge->person, charge->options, *plan, left.fund);
    if (!fund_r) return fund_r.error();
    return split_refund(original, done, plan->refund_total, *fund_r);
  };
  if (const Json* refunds = json::find(*input, "refunds"); refunds != nullptr && !refunds->is_null()) {
    if (!refunds->is_array()) return fail(o, out, err, make_error(Reason::invalid_request, "refunds", "refunds: expected an array"));
    for (std::size_t i = 0; i < refunds->size(); ++i) {
      const std::string path = fmt::format("refunds[{}]", i);
      const Json& r = (*refunds)[i];
      Result<Parts> parts = make_error(Reason::invalid_request, path, path + ": expected {lines} or {parts}");
      if (const Json* p = json::find(r, "parts")) {
        parts = json::parts_from_json(*p, path + ".parts");
        if (parts) parts = split_refund(original, done, parts->total, parts->fund);
      } else if (const Json* l = json::find(r, "lines")) {
        auto req = json::line_refunds_from_json(*l, path + ".lines");
        if (!req) return fail(o, out, err, req.error());
        parts = line_refund(*req, path);
        if (parts) done_lines.insert(done_lines.end(), req->begin(), req->end());
      }
      if (!parts)
        return report_failure(Failure{exit_code::usage,
                                      fmt::format("earlier refund {} is not possible: {}", path, parts.error().message),
                                      std::string(reason_name(parts.error().reason)), path},
                              o.json, out, err);
      done.push_back(*parts);
    }
  }

  const Json* request = json::find(*input, "request");
  Result<Parts> refund = make_error(Reason::internal, "", "");
  if (request != nullptr && json::find(*request, "refund_total") != nullptr) {
    auto total = json::get_amount(*request, "refund_total", "request");
    if (!total) return fail(o, out, err, total.error());
    auto fund = json::get_amount(*request, "fund", "request");
    if (!fund) return fail(o, out, err, fund.error());
    refund = split_refund(original, done, *total, *fund);
  } else {
    std::vector<LineRefund> req;
    if (request != nullptr) {
      if (const Json* l = json::find(*request, "lines"); l != nullptr && !l->is_null()) {
        auto r = json::line_refunds_from_json(*l, "request.lines");
        if (!r) return fail(o, out, err, r.error());
        req = std::move(*r);
      }
    }
    refund = line_refund(req, "request");
  }

  const Parts left = remaining(original, done);
  if (!refund) {
    const Error& e = refund.error();
    if (e.reason != Reason::refund_exceeds_original && e.reason != Reason::not_found) return fail(o, out, err, e);
    if (o.json) {
      out << Json{{"refused", true}, {"reason", reason_name(e.reason)}, {"message", e.message},
                  {"left", json::parts_to_json(left)}}.dump(2) << "\n";
    } else {
      out << "Refund REFUSED: " << reason_name(e.reason) << "\n  " << e.message << "\n\n";
      out << "Left of the original (nothing was changed):\n" << render_pairs({
          {"total", format_amount(left.total)}, {"fund", format_amount(left.fund)},
          {"personal account", format_amount(left.account)}, {"cash", format_amount(left.cash)}});
    }
    return exit_code::refused;
  }
  Parts after = left;
  after.total -= refund->total;
  after.fund -= refund->fund;
  after.account -= refund->account;
  after.cash -= refund->cash;
  if (o.json) {
    out << Json{{"refused", false}, {"refund", json::parts_to_json(*refund)}, {"original", json::parts_to_json(original)},
                {"left_before", json::parts_to_json(left)}, {"left_after", json::parts_to_json(after)}}.dump(2) << "\n";
    return 0;
  }
  out << fmt::format("Trial refund — policy \"{}\" {}; {} earlier refund(s)\n\n", policy->name, policy->version, done.size());
  Table t({{""}, {"original", Table::Align::right}, {"left before", Table::Align::right},
           {"this refund", Table::Align::right}, {"left after", Table::Align::right}});
  const auto row = [&](const char* name, Amount Parts::*m) {
    t.add_row({name, format_amount(original.*m), format_amount(left.*m), format_amount((*refund).*m), format_amount(after.*m)});
  };
  row("total", &Parts::total);
  row("fund (统筹基金)", &Parts::fund);
  row("personal account (个人账户)", &Parts::account);
  row("cash (现金)", &Parts::cash);
  out << t.render();
  out << "\nPaid back to the patient: cash " << format_amount(refund->cash) << " first, then personal account "
      << format_amount(refund->account) << " (先退现金再退个人帐户).\n";
  return 0;
}

}  // namespace settle::tools
