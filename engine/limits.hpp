// Every numeric limit of the engine in one place, each with its reason, and
// static_asserts for how they relate. Config may lower the operational ones;
// none of them may be raised without reading the reason first.
#pragma once

#include <cstddef>
#include <cstdint>

namespace settle::limits {

// Largest amount accepted on any wire: 10^12 fen (10 billion yuan). Keeps
// every sum of up to max_lines_per_settlement amounts, and every amount times
// a ratio in parts per million, inside int64 without overflow.
inline constexpr std::int64_t amount_max_fen = 1'000'000'000'000;

// Charge lines in one outpatient settlement or one inpatient add_lines call
// (cashier-api.md: "At most 500 lines").
inline constexpr std::size_t max_lines_per_settlement = 500;

// Charge lines over a whole inpatient stay.
inline constexpr std::size_t max_lines_per_admission = 20'000;

// A stay's line number (feedetl_sn): the insurer's field holds 30 characters;
// a longer one could never be forwarded.
inline constexpr std::size_t max_feedetl_sn_len = 30;

// Ratios are exact fractions with this denominator (parts per million):
// enough for any published ratio ("0.125", "0.0835").
inline constexpr std::int64_t ratio_denominator = 1'000'000;

// Decimals allowed in an amount on the wire (fen).
inline constexpr int amount_decimals = 2;
// Decimals allowed in a ratio string.
inline constexpr int ratio_decimals = 6;

// One cashier request line (cashier-api.md: 64 KiB).
inline constexpr std::size_t max_request_line_bytes = 64 * 1024;
// Bad lines in a row before a cashier connection is closed.
inline constexpr int max_bad_lines_in_a_row = 10;

// request_id length (cashier-api.md: 1-64 chars).
inline constexpr std::size_t request_id_min_len = 1;
inline constexpr std::size_t request_id_max_len = 64;

// Failed logins before an operator is locked out.
inline constexpr int max_failed_logins = 3;

// Length of text fields taken from clients (codes, names) and stored.
inline constexpr std::size_t max_code_len = 64;
inline constexpr std::size_t max_name_len = 200;

// A sum of max_lines_per_settlement amounts of amount_max_fen fits in int64.
static_assert(amount_max_fen <= INT64_MAX / static_cast<std::int64_t>(max_lines_per_admission));
// Any amount times any ratio numerator fits in int64 (ratios are at most 1).
static_assert(amount_max_fen <= INT64_MAX / ratio_denominator);
static_assert(max_lines_per_settlement <= max_lines_per_admission);
static_assert(request_id_min_len >= 1 && request_id_min_len <= request_id_max_len);

}  // namespace settle::limits
