// Synthetic insured persons for the simulator: valid GB 11643 ID numbers,
// 9-character card numbers, 32-hex card_sn, Chinese names, balances and
// accumulators; seeded and repeatable, bulk-inserted for tens of millions.
#pragma once

#include "engine/result.hpp"
#include "tools/insurer-sim/store.hpp"

#include <array>
#include <span>
#include <cstdint>
#include <string>
#include <string_view>

namespace settle::sim {

// The GB 11643 check character of the first 17 digits ('0'-'9' or 'X').
char id_check_char(std::string_view first17);
// An 18-character ID number with a valid check character and plausible date.
bool valid_id_number(std::string_view id);
bool valid_card_sn(std::string_view sn);   // 32 hex digits
bool valid_card_no(std::string_view no);   // 9 letters/digits
bool valid_area(std::string_view area);    // 6 digits (医保区划)
// The areas a generated person insured elsewhere is insured in.
std::span<const std::string_view> other_areas();

struct GenOptions {
  std::int64_t persons = 0;
  std::uint64_t seed = 1;
  // Share of persons with each of the four fund-stopping flags, per mille.
  std::array<std::int64_t, 4> flag_permille{10, 10, 10, 10};
  std::int64_t frozen = 0;  // exactly this many with account_frozen
  // The area the persons are insured in (参保地医保区划), and the share of
  // persons insured elsewhere (per mille; one of other_areas()): the
  // cross-region patients.
  std::string home_area = std::string(default_area);
  std::int64_t elsewhere_permille = 50;
  std::int64_t batch_rows = 100'000;
};

struct GenStats {
  std::int64_t persons = 0;
  std::int64_t elapsed_ms = 0;
};

// The n-th person (0-based) of a seeded set: the same (seed, n) always
// gives the same person.
PersonRow generated_person(std::uint64_t seed, std::int64_t n, const GenOptions& opt);

// Fills an empty person table at `path` (journal off while loading, WAL after).
Result<GenStats> generate(const std::string& path, const GenOptions& opt);

// Checks a person given by hand (add-person, control endpoint) and inserts it.
Result<std::string> add_person(Store& store, PersonRow p);

// The demo person set matching the demo virtual card.
Status init_demo(Store& store);

}  // namespace settle::sim
