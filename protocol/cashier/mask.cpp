// Masking helpers for ID and card numbers: one place decides how much of a
// personal number may be seen, so responses and logs agree.
#include "protocol/cashier/mask.hpp"

#include <algorithm>
#include <array>

namespace settle::cashier {
namespace {

constexpr std::array<std::string_view, 5> kIdKeys{"id_no", "id_no_masked", "certno", "mdtrt_cert_no", "psn_cert_no"};

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// The length of the UTF-8 character at s[i] (0: not a valid one).
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) n = 2;
  else if (b >= 0xE0 && b <= 0xEF) n = 3;
  else if (b >= 0xF0 && b <= 0xF4) n = 4;
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  const auto b1 = static_cast<unsigned char>(s[i + 1]);
  if (b == 0xE0 && b1 < 0xA0) return 0;  // overlong
  if (b == 0xED && b1 >= 0xA0) return 0;  // surrogates
  if (b == 0xF0 && b1 < 0x90) return 0;
  if (b == 0xF4 && b1 >= 0x90) return 0;
  // C1 control characters (U+0080..U+009F) are control characters too.
  if (b == 0xC2 && b1 < 0xA0) return 0;
  return n;
}

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

std::string mask_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_alnum(text[i])) {
      out += text[i++];
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && is_alnum(text[j])) ++j;
    const std::string_view run = text.substr(i, j - i);
    const auto digits = std::count_if(run.begin(), run.end(), is_digit);
    if (looks_like_id_no(run)) {
      out += mask_id_no(run);
    } else if (run.size() >= 8 && run.size() <= 24 && digits >= 6) {
      out += mask_card_no(run);
    } else {
      out += run;
    }
    i = j;
  }
  return out;
}

std::string clean_foreign_text(std::string_view text, std::size_t max_bytes) {
  std::string clean;
  clean.reserve(std::min(text.size(), max_bytes * 2));
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b == '\t' || b == '\n' || b == '\r') {
      if (!clean.empty() && clean.back() != ' ') clean += ' ';
      ++i;
      continue;
    }
    if (b < 0x20 || b == 0x7F) {
      ++i;
      continue;
    }
    const std::size_t n = utf8_length(text, i);
    if (n == 0) {
      // Not a character (or a C1 control): U+FFFD for a stray byte, nothing for a control.
      const bool c1 = b == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                      static_cast<unsigned char>(text[i + 1]) < 0xA0;
      if (c1) {
        i += 2;
      } else {
        clean += "\xEF\xBF\xBD";
        ++i;
      }
      continue;
    }
    clean.append(text.substr(i, n));
    i += n;
    if (clean.size() > max_bytes * 4 + 64) break;  // enough to fill max_bytes after masking
  }
  std::string masked = mask_text(clean);
  while (!masked.empty() && masked.back() == ' ') masked.pop_back();
  if (masked.size() <= max_bytes) return masked;
  const std::string_view ellipsis = "\xE2\x80\xA6";
  std::size_t cut = max_bytes > ellipsis.size() ? max_bytes - ellipsis.size() : 0;
  while (cut > 0 && (static_cast<unsigned char>(masked[cut]) & 0xC0) == 0x80) --cut;  // at a character
  masked.resize(cut);
  masked += ellipsis;
  return masked;
}

void mask_error(RpcError& e) {
  e.error.message = clean_foreign_text(e.error.message, max_error_message_bytes);
  if (!e.data.is_object()) return;
  mask_id_numbers(e.data);
  for (auto& [key, member] : e.data.items()) {
    if (!member.is_string()) continue;
    const std::string& text = member.get_ref<const std::string&>();
    if (key == "err_msg") {
      member = clean_foreign_text(text, 200);
    } else if (key == "card_no" || key == "psn_no") {
      member = mask_card_no(text);
    }
  }
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
