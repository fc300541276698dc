// Masking helpers for ID and card numbers: one place decides how much of a
// personal number may be seen, so responses and logs agree.
#include "protocol/cashier/mask.hpp"

#include <algorithm>
#include <array>

namespace settle::cashier {
namespace {

constexpr std::array<std::string_view, 5> kIdKeys{"id_no", "id_no_masked", "certno", "mdtrt_cert_no", "psn_cert_no"};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string mask_id_no(std::string_view id_no) {
  if (id_no.size() <= 10) return std::string(id_no.size(), '*');
  std::string out(id_no);
  std::fill(out.begin() + 6, out.end() - 4, '*');
  return out;
}

std::string mask_card_no(std::string_view card_no) {
  if (card_no.size() <= 4) return std::string(card_no.size(), '*');
  std::string out(card_no);
  std::fill(out.begin() + 2, out.end() - 2, '*');
  return out;
}

bool looks_like_id_no(std::string_view s) noexcept {
  if (s.size() == 15) return std::all_of(s.begin(), s.end(), is_digit);
  if (s.size() != 18) return false;
  const char last = s.back();
  return std::all_of(s.begin(), s.end() - 1, is_digit) && (is_digit(last) || last == 'X' || last == 'x');
}

void mask_id_numbers(json::Json& v) {
  if (v.is_object()) {
    for (auto& [key, member] : v.items()) {
      const bool id_key = std::find(kIdKeys.begin(), kIdKeys.end(), key) != kIdKeys.end();
      if (id_key && member.is_string() && looks_like_id_no(member.get_ref<const std::string&>())) {
        member = mask_id_no(member.get_ref<const std::string&>());
      } else {
        mask_id_numbers(member);
      }
    }
  } else if (v.is_array()) {
    for (auto& member : v) mask_id_numbers(member);
  }
}

}  // namespace settle::cashier
