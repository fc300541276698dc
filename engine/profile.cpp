// The insurer profiles' names and their capabilities (engine/profile.hpp).
#include "engine/profile.hpp"

namespace settle::flow {

std::string_view profile_name(ProfileName n) noexcept {
  switch (n) {
    case ProfileName::regional: return "regional";
    case ProfileName::national: return "national";
  }
  return "?";
}

std::optional<ProfileName> profile_from_name(std::string_view s) noexcept {
  for (ProfileName n : {ProfileName::regional, ProfileName::national})
    if (profile_name(n) == s) return n;
  return std::nullopt;
}

InsurerProfile regional_profile() { return InsurerProfile{}; }

InsurerProfile national_profile() {
  InsurerProfile p;
  p.name = ProfileName::national;
  p.line_refund = false;
  p.preview = true;
  p.offline = false;
  p.account_cap = true;
  p.account_history = false;
  return p;
}

const InsurerProfile& profile_or_regional(const InsurerProfile* p) noexcept {
  static const InsurerProfile regional{};
  return p != nullptr ? *p : regional;
}

}  // namespace settle::flow
