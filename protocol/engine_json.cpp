// Field-by-field conversion between JSON and the engine's values. Amounts go
// through json::to_amount (exact text), names through the engine's own
// name tables, and every error names the field path.
#include "protocol/engine_json.hpp"

#include "engine/limits.hpp"

#include <fmt/format.h>

namespace settle::json {
namespace {

Error bad(std::string path, std::string what) {
  std::string msg = fmt::format("{}: {}", path, what);
  return make_error(Reason::invalid_request, std::move(path), std::move(msg));
}

Status only_object(const Json& v, std::string_view path) {
  if (!v.is_object()) return bad(std::string(path), fmt::format("expected an object, got {}", type_name(v)));
  return Ok{};
}

// An object with no other keys than `allowed` (a misspelt key is an error,
// not a silently ignored field).
Status only_keys(const Json& v, std::string_view path, std::initializer_list<std::string_view> allowed) {
  if (Status s = only_object(v, path); !s) return s;
  for (const auto& [key, value] : v.items()) {
    bool ok = false;
    for (auto a : allowed) ok = ok || key == a;
    if (!ok) return bad(path_join(path, key.substr(0, 64)), "unknown field");
  }
  return Ok{};
}

// Text from clients: no control characters.
Status no_control_chars(const std::string& s, std::string_view path) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return bad(std::string(path), "control characters are not allowed");
  }
  return Ok{};
}

}  // namespace

std::string_view offline_cause_name(OfflineCause c) noexcept {
  switch (c) {
    case OfflineCause::network_down: return "network_down";
    case OfflineCause::in_doubt: return "in_doubt";
    case OfflineCause::insurer_error: return "insurer_error";
    case OfflineCause::reader_failure: return "reader_failure";
    case OfflineCause::clock_skew: return "clock_skew";
  }
  return "network_down";
}

std::optional<OfflineCause> offline_cause_from_name(std::string_view s) noexcept {
  for (auto c : {OfflineCause::network_down, OfflineCause::in_doubt, OfflineCause::insurer_error,
                 OfflineCause::reader_failure, OfflineCause::clock_skew})
    if (offline_cause_name(c) == s) return c;
  return std::nullopt;
}

Result<std::vector<ChargeLine>> lines_from_json(const Json& v, std::string_view path, bool name_required) {
  if (!v.is_array()) return bad(std::string(path), fmt::format("expected an array of charge lines, got {}", type_name(v)));
  if (v.size() > limits::max_lines_per_settlement)
    return make_error(Reason::limit_exceeded, std::string(path),
                      fmt::format("{}: {} charge lines, at most {} per settlement", path, v.size(),
                                  limits::max_lines_per_settlement));
  std::vector<ChargeLine> out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string p = fmt::format("{}[{}]", path, i);
    const Json& o = v[i];
    if (Status s = only_keys(o, p, {"code", "name", "class", "amount", "selfpay_ratio"}); !s) return s.error();
    ChargeLine l;
    auto code = get_string(o, "code", p, limits::max_code_len);
    if (!code) return code.error();
    if (code->empty()) return bad(path_join(p, "code"), "the item code is empty");
    if (Status s = no_control_chars(*code, path_join(p, "code")); !s) return s.error();
    l.code = std::move(*code);
    auto name = get_opt_string(o, "name", p, limits::max_name_len);
    if (!name) return name.error();
    if (name_required && !name->has_value())
      return bad(path_join(p, "name"), "required field is missing");
    l.name = name->value_or("");
    if (Status s = no_control_chars(l.name, path_join(p, "name")); !s) return s.error();
    auto cls = get_string(o, "class", p, 1);
    if (!cls) return cls.error();
    const auto c = line_class_from_name(*cls);
    if (!c) return bad(path_join(p, "class"), fmt::format("class must be \"A\", \"B\" or \"C\", got \"{}\"", *cls));
    l.cls = *c;
    auto amount = get_amount(o, "amount", p);
    if (!amount) return amount.error();
    l.amount = *amount;
    if (const Json* r = find(o, "selfpay_ratio"); r != nullptr && !r->is_null()) {
      if (l.cls != LineClass::b) return bad(path_join(p, "selfpay_ratio"), "only class B lines have a self-pay ratio");
      auto ratio = to_ratio(*r, path_join(p, "selfpay_ratio"));
      if (!ratio) return ratio.error();
      l.selfpay_ratio = *ratio;
    }
    out.push_back(std::move(l));
  }
  return out;
}

Json lines_to_json(const std::vector<ChargeLine>& lines) {
  Json arr = Json::array();
  for (const ChargeLine& l : lines) {
    Json o{{"code", l.code}, {"name", l.name}, {"class", line_class_name(l.cls)}, {"amount", amount_value(l.amount)}};
    if (l.selfpay_ratio) o["selfpay_ratio"] = format_ratio(*l.selfpay_ratio);
    arr.push_back(std::move(o));
  }
  return arr;
}

Result<std::vector<LineRefund>> line_refunds_from_json(const Json& v, std::string_view path) {
  if (!v.is_array()) return bad(std::string(path), fmt::format("expected an array of {{code, amount}}, got {}", type_name(v)));
  if (v.size() > limits::max_lines_per_settlement)
    return make_error(Reason::limit_exceeded, std::string(path),
                      fmt::format("{}: at most {} lines", path, limits::max_lines_per_settlement));
  std::vector<LineRefund> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string p = fmt::format("{}[{}]", path, i);
    if (Status s = only_keys(v[i], p, {"code", "amount"}); !s) return s.error();
    auto code = get_string(v[i], "code", p, limits::max_code_len);
    if (!code) return code.error();
    if (Status s = no_control_chars(*code, path_join(p, "code")); !s) return s.error();
    auto amount = get_amount(v[i], "amount", p);
    if (!amount) return amount.error();
    if (amount->is_zero()) {
      const std::string ap = path_join(p, "amount");
      return make_error(Reason::invalid_amount, ap, fmt::format("{}: a refund line must be above 0.00", ap));
    }
    out.push_back(LineRefund{std::move(*code), *amount});
  }
  return out;
}

Json line_refunds_to_json(const std::vector<LineRefund>& v) {
  Json arr = Json::array();
  for (const LineRefund& r : v) arr.push_back(Json{{"code", r.code}, {"amount", amount_value(r.amount)}});
  return arr;
}

Result<Person> person_from_json(const Json& v, std::string_view path) {
  if (Status s = only_object(v, path); !s) return s.error();
  Person p;
  auto it = get_string(v, "insutype", path, 8);
  if (!it) return it.error();
  p.insutype = std::move(*it);
  if (const Json* flags = find(v, "flags"); flags != nullptr && !flags->is_null()) {
    const std::string fp = path_join(path, "flags");
    if (!flags->is_array()) return bad(fp, "expected an array of flag names");
    for (std::size_t i = 0; i < flags->size(); ++i) {
      const Json& f = (*flags)[i];
      const auto flag = f.is_string() ? person_flag_from_name(f.get_ref<const std::string&>()) : std::nullopt;
      if (!flag)
        return bad(fmt::format("{}[{}]", fp, i),
                   "unknown flag (use unit_arrears, not_designated, supervised, temp_settle_change, account_frozen)");
      p.flags.set(*flag);
    }
  }
  auto balance = get_opt_amount(v, "balance", path);
  if (!balance) return balance.error();
  p.balance = balance->value_or(Amount::zero());
  auto ded = get_opt_amount(v, "deductible_used", path);
  if (!ded) return ded.error();
  p.deductible_used = ded->value_or(Amount::zero());
  auto ytd = get_opt_amount(v, "fund_paid_ytd", path);
  if (!ytd) return ytd.error();
  p.fund_paid_ytd = ytd->value_or(Amount::zero());
  return p;
}

Json person_to_json(const Person& p) {
  Json flags = Json::array();
  for (auto n : p.flags.names()) flags.push_back(n);
  return Json{{"insutype", p.insutype}, {"flags", flags}, {"balance", amount_value(p.balance)},
              {"deductible_used", amount_value(p.deductible_used)}, {"fund_paid_ytd", amount_value(p.fund_paid_ytd)}};
}

Result<SplitOptions> options_from_json(const Json& v, std::string_view path) {
  SplitOptions o;
  if (v.is_null()) return o;
  if (Status s = only_object(v, path); !s) return s.error();
  auto visit = get_opt_string(v, "visit", path, 16);
  if (!visit) return visit.error();
  if (visit->has_value()) {
    const auto vt = visit_type_from_name(**visit);
    if (!vt) return bad(path_join(path, "visit"), "visit must be \"outpatient\" or \"inpatient\"");
    o.visit = *vt;
  }
  auto use = get_opt_bool(v, "use_account", path);
  if (!use) return use.error();
  o.use_account = use->value_or(true);
  auto pin = get_opt_bool(v, "pin_verified", path);
  if (!pin) return pin.error();
  o.pin_verified = pin->value_or(false);
  if (const Json* off = find(v, "offline"); off != nullptr && !off->is_null()) {
    const std::string op = path_join(path, "offline");
    if (Status s = only_object(*off, op); !s) return s.error();
    OfflineContext c;
    auto cause = get_opt_string(*off, "cause", op, 32);
    if (!cause) return cause.error();
    if (cause->has_value()) {
      const auto cc = offline_cause_from_name(**cause);
      if (!cc) return bad(path_join(op, "cause"), "cause must be network_down, in_doubt, insurer_error, reader_failure or clock_skew");
      c.cause = *cc;
    }
    auto listed = get_opt_bool(*off, "on_redlist", op);
    if (!listed) return listed.error();
    c.on_redlist = listed->value_or(false);
    auto fund = get_opt_amount(*off, "outstanding_fund", op);
    if (!fund) return fund.error();
    c.outstanding_fund = fund->value_or(Amount::zero());
    auto count = get_opt_int(*off, "outstanding_count", op);
    if (!count) return count.error();
    c.outstanding_count = count->value_or(0);
    auto age = get_opt_int(*off, "oldest_age_s", op);
    if (!age) return age.error();
    c.oldest_age_s = age->value_or(0);
    if (const Json* lim = find(*off, "limits"); lim != nullptr && !lim->is_null()) {
      const std::string lp = path_join(op, "limits");
      if (Status s = only_object(*lim, lp); !s) return s.error();
      auto per = get_opt_amount(*lim, "per_settlement_fund_max", lp);
      if (!per) return per.error();
      if (per->has_value()) c.limits.per_settlement_fund_max = **per;
      auto tot = get_opt_amount(*lim, "outstanding_fund_max", lp);
      if (!tot) return tot.error();
      if (tot->has_value()) c.limits.outstanding_fund_max = **tot;
      auto cnt = get_opt_int(*lim, "outstanding_count_max", lp);
      if (!cnt) return cnt.error();
      if (cnt->has_value()) c.limits.outstanding_count_max = **cnt;
      auto ma = get_opt_int(*lim, "max_age_s", lp);
      if (!ma) return ma.error();
      if (ma->has_value()) c.limits.max_age_s = **ma;
    }
    o.offline = c;
  }
  return o;
}

Json split_to_json(const Split& s) {
  Json reasons = Json::array();
  for (SplitReason r : s.reasons) reasons.push_back(split_reason_name(r));
  return Json{{"total", amount_value(s.total)},
              {"fund", amount_value(s.fund)},
              {"account", amount_value(s.account)},
              {"cash", amount_value(s.cash)},
              {"fulamt_ownpay", amount_value(s.fulamt_ownpay)},
              {"preselfpay", amount_value(s.preselfpay)},
              {"inscp", amount_value(s.inscp)},
              {"deductible_part", amount_value(s.deductible_part)},
              {"mode", mode_name(s.mode)},
              {"reasons", reasons}};
}

Result<Parts> parts_from_json(const Json& v, std::string_view path) {
  if (Status s = only_object(v, path); !s) return s.error();
  Parts p;
  for (auto [key, slot] : {std::pair{"total", &p.total}, std::pair{"fund", &p.fund},
                           std::pair{"account", &p.account}, std::pair{"cash", &p.cash}}) {
    auto a = get_amount(v, key, path);
    if (!a) return a.error();
    *slot = *a;
  }
  if (!p.consistent())
    return make_error(Reason::invalid_amount, std::string(path),
                      fmt::format("{}: fund {} + account {} + cash {} is not the total {}", path, format_amount(p.fund),
                                  format_amount(p.account), format_amount(p.cash), format_amount(p.total)));
  return p;
}

Json parts_to_json(const Parts& p) {
  return Json{{"total", amount_value(p.total)}, {"fund", amount_value(p.fund)},
              {"account", amount_value(p.account)}, {"cash", amount_value(p.cash)}};
}

}  // namespace settle::json
