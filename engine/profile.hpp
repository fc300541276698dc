// The insurer's interface profile, as the flows see it: which transactions
// the insurer offers (9301 refund of lines, 2206 / 2303 previews, offline
// settlement with 9302 / 9303, 9304 account history). Pure data, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace settle::flow {

enum class ProfileName : std::uint8_t { regional, national };
std::string_view profile_name(ProfileName) noexcept;  // "regional", "national"
std::optional<ProfileName> profile_from_name(std::string_view) noexcept;

struct InsurerProfile {
  ProfileName name = ProfileName::regional;
  bool line_refund = true;      // 9301 exists
  bool preview = false;         // 2206 / 2303 called before the settle call
  bool offline = true;          // offline settlement, 9302, 9303
  bool account_cap = false;     // settle calls may carry exp_content.acct_pay_max
  bool account_history = true;  // 9304
};
InsurerProfile regional_profile();
InsurerProfile national_profile();

// The profile a flow input points at; nullptr is the regional one.
const InsurerProfile& profile_or_regional(const InsurerProfile* p) noexcept;

}  // namespace settle::flow
