// Text of the daemon's answers for settlectl: fields, settlements, refunds,
// and the exact JSON writer behind --json. Amounts are printed as the daemon
// wrote them; nothing here converts money to a floating-point number.
#include "tools/settlectl/format.hpp"

#include "tools/common/table.hpp"

namespace settle::tools {

using json::Json;

std::string value_text(const Json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (json::is_raw_number(v)) return std::string(json::raw_number_text(v));
  return dump_exact(v, -1);
}

std::string str(const Json& j, std::string_view key) {
  const Json* v = json::find(j, key);
  return v == nullptr ? std::string() : value_text(*v);
}

std::string str_or_dash(const Json& j, std::string_view key) {
  std::string s = str(j, key);
  return s.empty() ? std::string("-") : s;
}

std::string reasons_text(const Json& j) {
  const Json* r = json::find(j, "reasons");
  if (r == nullptr || !r->is_array() || r->empty()) return "none (the normal split)";
  std::string out;
  for (const auto& x : *r) out += (out.empty() ? "" : ", ") + value_text(x);
  return out;
}

std::string settlement_text(const Json& r) {
  std::string out = render_pairs({
      {"settlement (结算号)", str(r, "setl_id")},
      {"receipt", str(r, "receipt_no")},
      {"mode", str(r, "mode")},
      {"state", str(r, "state")},
      {"total (医疗费总额)", str(r, "total")},
      {"fund pays (统筹基金)", str(r, "fund")},
      {"personal account (个人账户)", str(r, "account")},
      {"cash (现金)", str(r, "cash")},
      {"account balance after", str_or_dash(r, "balance_after")},
  });
  out += "reasons: " + reasons_text(r) + "\n";
  return out;
}

std::string refund_text(const Json& r) {
  return render_pairs({
      {"refund", str(r, "refund_id")},
      {"of settlement", str(r, "setl_id")},
      {"refund total", str(r, "refund_total")},
      {"fund takes back (统筹基金)", str(r, "fund")},
      {"back to the account (个人账户)", str(r, "account")},
      {"cash back (现金)", str(r, "cash")},
  });
}


std::string dump_exact(const Json& j, int indent) { return json::dump_exact(j, indent); }

}  // namespace settle::tools
