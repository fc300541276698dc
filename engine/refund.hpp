// Refund and re-settlement arithmetic (settlement-rules.md, 持卡退费 and
// 退费重结): cash first then personal account, never more back to the account
// than the original took from it, refusals whole with a reason.
#pragma once

#include "engine/money.hpp"
#include "engine/result.hpp"
#include "engine/split.hpp"

#include <span>
#include <string>
#include <vector>

namespace settle {

// The four parts of a settlement or of a refund.
struct Parts {
  Amount total;
  Amount fund;
  Amount account;
  Amount cash;
  friend bool operator==(const Parts&, const Parts&) = default;
  Parts& operator+=(const Parts& o);
  bool consistent() const;  // parts add up to the total, none negative
};

Parts parts_of(const Split& s);

// What is left of an original after its refunds so far.
Parts remaining(const Parts& original, std::span<const Parts> refunds);

// The refund of `refund_total` of which the insurer takes back `fund_r`:
// p = refund_total − fund_r is paid back cash first, then account.
// Refused whole (REFUND_EXCEEDS_ORIGINAL) when the refund is above what is
// left, when fund_r is above the refund or the fund left, or when the
// account part would exceed what is left of the original account payment.
// A zero or negative refund is INVALID_REQUEST.
Result<Parts> split_refund(const Parts& original, std::span<const Parts> refunds, Amount refund_total,
                           Amount fund_r);

// A refund request by charge line: `amount` of the original's lines with
// this item code.
struct LineRefund {
  std::string code;
  Amount amount;
  friend bool operator==(const LineRefund&, const LineRefund&) = default;
};

// The original's lines less what was refunded so far and less this request
// (lines named by code; several lines with one code are reduced in order).
// An empty request means everything left. Errors: NOT_FOUND for a code the
// original does not have, REFUND_EXCEEDS_ORIGINAL for more than is left of a
// code, INVALID_REQUEST for a zero or negative amount, or for a request
// when nothing is left.
struct LineRefundPlan {
  std::vector<ChargeLine> remaining_after;  // what stays settled after this refund
  Amount refund_total;                      // what this refund takes back
};
Result<LineRefundPlan> plan_line_refund(std::span<const ChargeLine> original_lines,
                                        std::span<const LineRefund> refunded_before,
                                        std::span<const LineRefund> request);

// The fund's share of a line refund, as the insurer computes it: the split
// of the remaining lines, with the person as at the original settlement and
// the same options, gives the fund that stays; the rest of what the fund
// still holds comes back. Clamped to [0, refund_total].
Result<Amount> fund_share_of_line_refund(const Policy& policy, const Person& person_at_settlement,
                                         const SplitOptions& original_options, const LineRefundPlan& plan,
                                         Amount fund_left);

// Re-settlement (退费重结): everything left of the original is undone and
// the remaining lines settled again (with the account). The patient gets
// back cash_back = cash left of the original − cash of the new settlement
// (negative: the patient pays the difference).
struct Resettlement {
  Parts undo;
  Split settlement;
  Amount cash_back;
};
Result<Resettlement> resettle(const Parts& original, std::span<const Parts> refunds, const Split& new_split);

}  // namespace settle
