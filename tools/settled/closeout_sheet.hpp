// The cashier's shift close-out (收费员日结单), or a day report (收费员日报):
// the result object of closeout.get / closeout.preview rendered as a
// printable, self-contained HTML document, for the cashier to sign and hand
// over with the cash. Pure: no I/O, the print time is given by the caller.
#pragma once

#include "engine/money.hpp"
#include "engine/result.hpp"
#include "protocol/json.hpp"

#include <string>

namespace settle::daemon {

struct CloseoutSheetOptions {
  std::string hospital_name;  // fixmedins name from the config
  std::string hospital_code;  // fixmedins code
  std::string paper = "A4";   // "A4" or "A5" (the CSS @page size)
  std::string printed_at;     // ISO 8601 local time, given by the caller
};

// The close-out `closeout` (the closeout.get or closeout.preview result
// object) as a whole HTML document. A close-out with a `date` is a day's
// report (收费员日报, closed or not, not recorded); otherwise one without a
// closeout_id is the preview of a shift's close-out (marked 预览（未日结）).
//
// Errors: INVALID_REQUEST naming the field for a paper other than A4/A5, a
// missing operator, window (of a shift), `to`, summary group or `items`, an
// unknown item kind, and for a recorded close-out a missing recorded_at or a
// digest that is not 64 hex digits. INVALID_AMOUNT naming the field when an
// amount is unreadable or the figures do not add up:
//   - fund + account + cash is not the total of settlements, online, offline,
//     refunds or of an item (field "<group>.total", "items[i].total");
//   - online + offline is not settlements, in count or any figure
//     ("settlements.count", "settlements.fund", ...);
//   - cash_taken is not settlements.cash, cash_paid_back not refunds.cash,
//     cash_to_hand_over not cash_taken - cash_paid_back (that field);
//   - the settlement items do not sum to settlements or the refund items to
//     refunds, in count or any figure (field "items").
Result<std::string> closeout_sheet_html(const json::Json& closeout, const CloseoutSheetOptions& options);

// An amount in Chinese capital numerals as written for cash on financial
// papers (大写金额): "84.00" -> "捌拾肆元整", "1005.30" -> "壹仟零伍元叁角整",
// "0.05" -> "伍分", "-16.00" -> "负壹拾陆元整".
std::string amount_in_capitals(Amount a);

}  // namespace settle::daemon
