// The split of one settlement into fund, personal account and cash, exactly
// as settlement-rules.md ("The split of one settlement"): a pure function
// over values, with a reason for every deviation from the normal split.
#pragma once

#include "engine/limits.hpp"
#include "engine/money.hpp"
#include "engine/policy.hpp"
#include "engine/result.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace settle {

enum class LineClass : std::uint8_t { a = 1, b = 2, c = 3 };  // 甲类 / 乙类 / 丙类(自费)

std::string_view line_class_name(LineClass c) noexcept;  // "A", "B", "C"
std::optional<LineClass> line_class_from_name(std::string_view s) noexcept;

struct ChargeLine {
  std::string code;
  std::string name;
  LineClass cls = LineClass::a;
  Amount amount;                       // the line total
  std::optional<Ratio> selfpay_ratio;  // class B only; default from the policy
  friend bool operator==(const ChargeLine&, const ChargeLine&) = default;
};

// Status flags of an insured person (cashier-api.md `flags`).
enum class PersonFlag : std::uint8_t {
  unit_arrears = 0,        // 单位欠费: fund does not record
  not_designated = 1,      // 非本人定点医院: fund does not record
  supervised = 2,          // 重点监督检查人员: fund does not record
  temp_settle_change = 3,  // 临时变化结算方式: fund does not record
  account_frozen = 4,      // personal account may not be used
};
inline constexpr int person_flag_count = 5;

std::string_view person_flag_name(PersonFlag f) noexcept;
std::optional<PersonFlag> person_flag_from_name(std::string_view s) noexcept;

// A set of PersonFlag.
class PersonFlags {
 public:
  constexpr PersonFlags() = default;
  constexpr bool has(PersonFlag f) const { return (bits_ >> static_cast<unsigned>(f)) & 1U; }
  constexpr PersonFlags& set(PersonFlag f) { bits_ |= static_cast<std::uint8_t>(1U << static_cast<unsigned>(f)); return *this; }
  constexpr std::uint8_t bits() const { return bits_; }
  static constexpr PersonFlags from_bits(std::uint8_t b) { PersonFlags p; p.bits_ = b; return p; }
  // True when any of the four flags that stop the fund is set.
  constexpr bool fund_stopped() const {
    return has(PersonFlag::unit_arrears) || has(PersonFlag::not_designated) ||
           has(PersonFlag::supervised) || has(PersonFlag::temp_settle_change);
  }
  std::vector<std::string_view> names() const;
  friend constexpr bool operator==(PersonFlags, PersonFlags) = default;

 private:
  std::uint8_t bits_ = 0;
};

// What the split needs to know about the insured person.
struct Person {
  std::string insutype;     // "310" employees, "390" residents, ... (keys of the policy)
  PersonFlags flags;
  Amount balance;           // personal account balance
  Amount deductible_used;   // this year's deductible already paid (起付线累计)
  Amount fund_paid_ytd;     // this year's fund payments (封顶线累计)
};

// Why a settlement is offline (a reason code on every offline record).
enum class OfflineCause : std::uint8_t {
  network_down = 1,    // offline_network_down: the insurer was unreachable
  in_doubt = 2,        // offline_in_doubt: sent, no reply; a reversal is queued
  insurer_error = 3,   // offline_insurer_error: the insurer answered with a system error
  reader_failure = 4,  // offline_reader_failure: the card could not be checked online
  clock_skew = 5,      // offline_clock_skew: the insurer refuses this host's request timestamps
};

// Limits on what may be settled against the red list (all configurable).
struct OfflineLimits {
  Amount per_settlement_fund_max = Amount::fen(200'000);      // 2,000.00 yuan
  Amount outstanding_fund_max = Amount::fen(5'000'000);       // 50,000.00 yuan
  std::int64_t outstanding_count_max = 2'000;
  std::int64_t max_age_s = 24 * 3600;                         // oldest pending offline settlement
};

struct OfflineContext {
  OfflineCause cause = OfflineCause::network_down;
  bool on_redlist = false;              // the person's card is on the local red list
  Amount outstanding_fund;              // estimated fund of stored offline settlements not yet accepted
  std::int64_t outstanding_count = 0;   // stored offline settlements not yet accepted
  std::int64_t oldest_age_s = 0;        // age of the oldest of them
  OfflineLimits limits;
};

enum class SplitReason : std::uint16_t;

struct SplitOptions {
  VisitType visit = VisitType::outpatient;
  bool use_account = true;    // the cashier asked to use the personal account
  bool pin_verified = false;  // the card's PIN was verified on this connection
  std::optional<OfflineContext> offline;  // set when settling offline
  // The account may not be used for this reason (the credential: an ID
  // number, an e-voucher the patient did not authorise for the account).
  std::optional<SplitReason> no_account = std::nullopt;
  // The account pays at most this (a national refund of part: what the
  // original took from it); the rest of the patient's part is cash.
  std::optional<Amount> account_cap = std::nullopt;
};

// Every deviation from the normal split, with fixed numbers (stored in the ledger).
enum class SplitReason : std::uint16_t {
  status_unit_arrears = 1,
  status_not_designated = 2,
  status_supervised = 3,
  status_temp_settle_change = 4,
  account_frozen = 5,
  account_zero = 6,
  account_insufficient = 7,
  pin_not_verified = 8,
  account_skipped = 9,
  offline_network_down = 10,
  offline_in_doubt = 11,
  offline_insurer_error = 12,
  offline_reader_failure = 13,
  not_on_redlist = 14,
  offline_limit = 15,
  offline_limit_per_settlement = 16,
  offline_limit_total = 17,
  offline_limit_count = 18,
  offline_limit_age = 19,
  annual_cap_reached = 20,
  annual_cap_partly = 21,
  offline_clock_skew = 22,
  account_not_by_id = 23,       // identified by ID number: the account is never used
  account_not_authorised = 24,  // e-voucher without the account authorised on the phone
  account_capped = 25,          // the account capped at what the original took
};

std::string_view split_reason_name(SplitReason r) noexcept;
// The reason code an offline settlement carries for its cause.
SplitReason offline_cause_reason(OfflineCause c) noexcept;  // "status_unit_arrears", ...
std::optional<SplitReason> split_reason_from_name(std::string_view s) noexcept;
// One sentence for people (receipts, trial calculations, reports).
std::string_view split_reason_description(SplitReason r) noexcept;

enum class Mode : std::uint8_t { online = 1, offline = 2 };
std::string_view mode_name(Mode m) noexcept;

struct Split {
  Amount total;
  Amount fund;
  Amount account;
  Amount cash;
  Amount fulamt_ownpay;    // class C
  Amount preselfpay;       // class B self-paid part
  Amount inscp;            // policy range
  Amount deductible_part;  // deductible paid by this settlement
  Mode mode = Mode::online;
  std::vector<SplitReason> reasons;

  bool has_reason(SplitReason r) const;
  friend bool operator==(const Split&, const Split&) = default;
};

// Checks the lines themselves: at least one, at most `max_lines` (one
// outpatient settlement's, or a whole stay's for an inpatient discharge),
// codes and names present and bounded, class B ratios within 0..1, the total
// within limits::amount_max_fen.
Status validate_lines(std::span<const ChargeLine> lines, std::size_t max_lines = limits::max_lines_per_settlement);

// The split. Errors: INVALID_REQUEST / LIMIT_EXCEEDED for bad lines,
// INVALID_CONFIG when the policy has no entry for the person's insurance type
// and visit type.
Result<Split> split(const Policy& policy, const Person& person, std::span<const ChargeLine> lines,
                    const SplitOptions& options);

// Rules 1-3 of lines: their total, the class C part (自费) and the class B
// self-paid part (先行自付, each line's rounded on its own). They add up line
// by line, so whoever keeps a stay's lines can keep their figures as the
// lines come and go and split the sum (split_figures) without reading them.
struct LineFigures {
  Amount total, fulamt_ownpay, preselfpay;
  LineFigures& operator+=(const LineFigures& o);
  LineFigures& operator-=(const LineFigures& o);
  friend bool operator==(const LineFigures&, const LineFigures&) = default;
};
// One line's figures under the policy's entry `params` (its class B ratio:
// the line's own, else its code's, else the entry's).
LineFigures line_figures(const Policy& policy, const PolicyParams& params, const ChargeLine& line);
// The split of lines given by their summed figures (lines checked when they
// were taken). Errors: LIMIT_EXCEEDED for a total above
// limits::amount_max_fen, INVALID_CONFIG as split.
Result<Split> split_figures(const Policy& policy, const Person& person, const LineFigures& figures,
                            const SplitOptions& options);

}  // namespace settle
