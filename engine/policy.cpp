// Policy lookup: parameters by (insurance type, visit type) and the class B
// ratio precedence (line, item code, policy default).
#include "engine/policy.hpp"

namespace settle {

std::string_view visit_type_name(VisitType v) noexcept {
  return v == VisitType::inpatient ? "inpatient" : "outpatient";
}

std::optional<VisitType> visit_type_from_name(std::string_view s) noexcept {
  if (s == "outpatient") return VisitType::outpatient;
  if (s == "inpatient") return VisitType::inpatient;
  return std::nullopt;
}

void Policy::set(std::string insutype, VisitType visit, PolicyParams params) {
  entries_[{std::move(insutype), visit}] = params;
}

void Policy::set_classb_ratio(std::string code, Ratio r) { classb_by_code_[std::move(code)] = r; }

const PolicyParams* Policy::find(std::string_view insutype, VisitType visit) const {
  const auto it = entries_.find({std::string(insutype), visit});
  return it == entries_.end() ? nullptr : &it->second;
}

Ratio Policy::classb_ratio(const PolicyParams& params, std::string_view code, std::optional<Ratio> line_ratio) const {
  if (line_ratio) return *line_ratio;
  if (const auto it = classb_by_code_.find(code); it != classb_by_code_.end()) return it->second;
  return params.classb_selfpay_ratio;
}

}  // namespace settle
