// Masking of personal numbers on the cashier wire and in logs: ID numbers
// keep their first 6 and last 4 characters unless the caller is an auditor;
// card numbers are partly masked wherever they are logged; error replies and
// foreign text (the insurer's words) are masked and cleaned for everyone.
#pragma once

#include "protocol/cashier/rpc.hpp"
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

// Masks the personal numbers inside free text: every run of letters and
// digits that looks like an ID number as mask_id_no, and every other run of
// 8 to 24 letters and digits holding at least 6 digits (a card number, a
// person number) as mask_card_no. Longer runs (a msgid) are kept.
std::string mask_text(std::string_view text);

// Text from outside (the insurer's err_msg) made fit for a cashier's screen
// and the audit trail: control characters dropped (tabs and newlines become
// a space), invalid UTF-8 replaced, personal numbers masked (mask_text), and
// at most `max_bytes` kept (cut at a character, "…" added).
std::string clean_foreign_text(std::string_view text, std::size_t max_bytes = 200);

// Most bytes of an error's message on the wire; the insurer's err_msg in
// error.data is at most 200.
inline constexpr std::size_t max_error_message_bytes = 600;

// Every error reply, for every role: the message cleaned (clean_foreign_text,
// up to max_error_message_bytes), `err_msg` in the data cleaned to 200 bytes,
// ID numbers under their keys masked (mask_id_numbers), and card and person
// numbers under card_no / psn_no masked (mask_card_no).
void mask_error(RpcError& e);

}  // namespace settle::cashier
