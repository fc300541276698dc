// TOML policy file reader on toml++: every value is checked for its type and
// range, and every unknown key is an error, because a typo in a policy would
// otherwise silently change what patients pay.
#include "protocol/policy_file.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>

namespace settle {
namespace {

class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  Error error_at(const toml::node* n, std::string_view key, std::string_view what) const {
    const auto line = n != nullptr ? n->source().begin.line : 0;
    return make_error(Reason::invalid_config, std::string(key),
                      line > 0 ? fmt::format("{}:{}: {}: {}", source_, line, key, what)
                               : fmt::format("{}: {}: {}", source_, key, what));
  }

  Result<Amount> amount(const toml::table& t, std::string_view k, std::string_view key) const {
    const toml::node* n = t.get(k);
    if (n == nullptr) return error_at(&t, key, "required amount is missing");
    if (n->is_floating_point())
      return error_at(n, key, "write amounts as a quoted decimal, e.g. \"1800.00\" (floating point is not exact)");
    std::string text;
    if (const auto* s = n->as_string()) text = s->get();
    else if (const auto* i = n->as_integer()) text = std::to_string(i->get());
    else return error_at(n, key, "expected an amount (quoted decimal)");
    auto a = parse_amount(text, key);
    if (!a) return error_at(n, key, a.error().message.substr(a.error().message.find(": ") + 2));
    return a;
  }

  Result<Ratio> ratio(const toml::node* n, std::string_view key) const {
    if (n == nullptr) return error_at(nullptr, key, "required ratio is missing");
    if (n->is_floating_point())
      return error_at(n, key, "write ratios as a quoted decimal, e.g. \"0.70\" (floating point is not exact)");
    std::string text;
    if (const auto* s = n->as_string()) text = s->get();
    else if (const auto* i = n->as_integer()) text = std::to_string(i->get());
    else return error_at(n, key, "expected a ratio (quoted decimal from 0 to 1)");
    auto r = parse_ratio(text, key, true);
    if (!r) return error_at(n, key, r.error().message.substr(r.error().message.find(": ") + 2));
    return r;
  }

  Status only_keys(const toml::table& t, std::string_view where, std::initializer_list<std::string_view> allowed) const {
    for (const auto& [k, v] : t) {
      bool ok = false;
      for (auto a : allowed) ok = ok || k.str() == a;
      if (!ok) {
        const std::string key = where.empty() ? std::string(k.str()) : fmt::format("{}.{}", where, k.str());
        return error_at(&v, key, fmt::format("unknown key (allowed: {})", fmt::join(allowed, ", ")));
      }
    }
    return Ok{};
  }

 private:
  std::string source_;
};

}  // namespace

Result<Policy> parse_policy(std::string_view text, std::string_view source) {
  Reader rd(source);
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return make_error(Reason::invalid_config, "",
                      fmt::format("{}:{}: {}", source, e.source().begin.line, e.description()));
  }
  if (Status s = rd.only_keys(root, "", {"name", "version", "classb_ratios", "insutype"}); !s) return s.error();

  Policy policy;
  if (const auto* n = root.get_as<std::string>("name")) policy.name = n->get();
  if (const auto* v = root.get_as<std::string>("version")) policy.version = v->get();

  if (const toml::node* cb = root.get("classb_ratios")) {
    const toml::table* t = cb->as_table();
    if (t == nullptr) return rd.error_at(cb, "classb_ratios", "expected a table of item code = \"ratio\"");
    for (const auto& [code, v] : *t) {
      auto r = rd.ratio(&v, fmt::format("classb_ratios.{}", code.str()));
      if (!r) return r.error();
      policy.set_classb_ratio(std::string(code.str()), *r);
    }
  }

  const toml::node* it = root.get("insutype");
  if (it == nullptr || !it->is_table() || it->as_table()->empty())
    return rd.error_at(it, "insutype", "at least one [insutype.<code>.<outpatient|inpatient>] table is required");
  for (const auto& [code, visits] : *it->as_table()) {
    const std::string where = fmt::format("insutype.{}", code.str());
    const toml::table* vt = visits.as_table();
    if (vt == nullptr) return rd.error_at(&visits, where, "expected a table with outpatient/inpatient tables");
    if (Status s = rd.only_keys(*vt, where, {"outpatient", "inpatient"}); !s) return s.error();
    for (const auto& [visit_name, params] : *vt) {
      const std::string key = fmt::format("{}.{}", where, visit_name.str());
      const toml::table* pt = params.as_table();
      if (pt == nullptr) return rd.error_at(&params, key, "expected a table");
      if (Status s = rd.only_keys(*pt, key, {"deductible", "fund_ratio", "annual_cap", "classb_selfpay_ratio"}); !s)
        return s.error();
      PolicyParams p;
      auto ded = rd.amount(*pt, "deductible", key + ".deductible");
      if (!ded) return ded.error();
      auto cap = rd.amount(*pt, "annual_cap", key + ".annual_cap");
      if (!cap) return cap.error();
      auto fr = rd.ratio(pt->get("fund_ratio"), key + ".fund_ratio");
      if (!fr) return fr.error();
      auto cb = rd.ratio(pt->get("classb_selfpay_ratio"), key + ".classb_selfpay_ratio");
      if (!cb) return cb.error();
      p.deductible = *ded;
      p.annual_cap = *cap;
      p.fund_ratio = *fr;
      p.classb_selfpay_ratio = *cb;
      policy.set(std::string(code.str()), *visit_type_from_name(visit_name.str()), p);
    }
  }
  return policy;
}

Result<Policy> load_policy_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Reason::invalid_config, "policy", fmt::format("{}: cannot open the policy file", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_policy(ss.str(), path);
}

}  // namespace settle
