// Masking of personal numbers on the cashier wire and in logs: ID numbers
// keep their first 6 and last 4 characters unless the caller is an auditor;
// card numbers are partly masked wherever they are logged.
#pragma once

#include "protocol/json.hpp"

#include <string>
#include <string_view>

namespace settle::cashier {

// "110101199003071234" -> "110101********1234". Anything of 10 characters
// or fewer is masked whole (same length, all '*').
std::string mask_id_no(std::string_view id_no);

// For logs: "100123456" -> "10*****56" (first 2 and last 2 kept; 4 or
// fewer characters are masked whole).
std::string mask_card_no(std::string_view card_no);

// True for what looks like a mainland ID number: 15 digits, or 17 digits and
// a digit or 'X'/'x'.
bool looks_like_id_no(std::string_view s) noexcept;

// Masks, in place, every string that looks like an ID number under a key that
// carries one (id_no, id_no_masked, certno, mdtrt_cert_no, psn_cert_no), at
// any depth. The server applies it to every response for non-auditors, as a
// net under the daemon's own masking.
void mask_id_numbers(json::Json& v);

}  // namespace settle::cashier
