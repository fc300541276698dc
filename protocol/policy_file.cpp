// TOML policy file reader: every value is checked for its type and range,
// and every unknown key is an error, because a typo in a policy would
// otherwise silently change what patients pay.
#include "protocol/policy_file.hpp"

#include "protocol/toml_reader.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace settle {

Result<Policy> parse_policy(std::string_view text, std::string_view source) {
  const TomlReader rd(source);
  auto parsed = rd.parse(text);
  if (!parsed) return parsed.error();
  const toml::table& root = *parsed;
  if (Status s = rd.only_keys(root, "", {"name", "version", "classb_ratios", "insutype"}); !s) return s.error();

  Policy policy;
  auto name = rd.opt_string(root, "name", "name");
  if (!name) return name.error();
  policy.name = name->value_or("");
  auto version = rd.opt_string(root, "version", "version");
  if (!version) return version.error();
  policy.version = version->value_or("");

  auto classb = rd.opt_table(root, "classb_ratios", "classb_ratios");
  if (!classb) return classb.error();
  if (*classb != nullptr) {
    for (const auto& [code, v] : **classb) {
      auto r = rd.ratio(&v, toml_key("classb_ratios", code.str()));
      if (!r) return r.error();
      policy.set_classb_ratio(std::string(code.str()), *r);
    }
  }

  const toml::node* it = root.get("insutype");
  if (it == nullptr || !it->is_table() || it->as_table()->empty())
    return rd.error_at(it, "insutype", "at least one [insutype.<code>.<outpatient|inpatient>] table is required");
  for (const auto& [code, visits] : *it->as_table()) {
    const std::string where = toml_key("insutype", code.str());
    const toml::table* vt = visits.as_table();
    if (vt == nullptr) return rd.error_at(&visits, where, "expected a table with outpatient/inpatient tables");
    if (Status s = rd.only_keys(*vt, where, {"outpatient", "inpatient"}); !s) return s.error();
    if (vt->empty())
      return rd.error_at(&visits, where,
                         fmt::format("at least one [{}.<outpatient|inpatient>] table is required", where));
    for (const auto& [visit_name, params] : *vt) {
      const std::string key = toml_key(where, visit_name.str());
      const toml::table* pt = params.as_table();
      if (pt == nullptr) return rd.error_at(&params, key, "expected a table");
      if (Status s = rd.only_keys(*pt, key, {"deductible", "fund_ratio", "annual_cap", "classb_selfpay_ratio"}); !s)
        return s.error();
      auto ded = rd.amount(*pt, "deductible", key + ".deductible");
      if (!ded) return ded.error();
      auto cap = rd.amount(*pt, "annual_cap", key + ".annual_cap");
      if (!cap) return cap.error();
      auto fr = rd.ratio(pt->get("fund_ratio"), key + ".fund_ratio");
      if (!fr) return fr.error();
      auto cb = rd.ratio(pt->get("classb_selfpay_ratio"), key + ".classb_selfpay_ratio");
      if (!cb) return cb.error();
      policy.set(std::string(code.str()), *visit_type_from_name(visit_name.str()), PolicyParams{*ded, *fr, *cap, *cb});
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
