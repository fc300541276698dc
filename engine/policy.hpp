// Policy parameters per insurance type and visit type (deductible, fund
// ratio, annual cap, class B self-pay ratios). Values only: the policy file
// format and its parser live outside the engine (protocol/policy_file).
#pragma once

#include "engine/money.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace settle {

enum class VisitType : std::uint8_t { outpatient = 1, inpatient = 2 };
std::string_view visit_type_name(VisitType v) noexcept;  // "outpatient", "inpatient"
std::optional<VisitType> visit_type_from_name(std::string_view s) noexcept;

struct PolicyParams {
  Amount deductible;            // 起付线 per year
  Ratio fund_ratio;             // share of (inscp − deductible part) the fund pays
  Amount annual_cap;            // 封顶线: fund payments per year at most
  Ratio classb_selfpay_ratio;   // default 先行自付 ratio of class B lines
  friend bool operator==(const PolicyParams&, const PolicyParams&) = default;
};

class Policy {
 public:
  void set(std::string insutype, VisitType visit, PolicyParams params);
  // Per item code override of the class B self-pay ratio.
  void set_classb_ratio(std::string code, Ratio r);

  const PolicyParams* find(std::string_view insutype, VisitType visit) const;
  // The class B ratio for a line: the line's own, else the item code's, else
  // the policy's default.
  Ratio classb_ratio(const PolicyParams& params, std::string_view code, std::optional<Ratio> line_ratio) const;

  const std::map<std::pair<std::string, VisitType>, PolicyParams>& entries() const { return entries_; }
  const std::map<std::string, Ratio, std::less<>>& classb_by_code() const { return classb_by_code_; }
  std::string name;      // e.g. "Beijing 2026"
  std::string version;   // free text from the file, echoed in reports

 private:
  std::map<std::pair<std::string, VisitType>, PolicyParams> entries_;
  std::map<std::string, Ratio, std::less<>> classb_by_code_;
};

}  // namespace settle
