// The close-out document (收费员日结): a cashier's shift summed by mode, by
// payer part and by refunds, the cash to hand over, the approved corrections
// and every item behind the figures, as the API answers it and the ledger
// keeps it; and its digest.
#pragma once

#include "offline/office_ops.hpp"
#include "protocol/json.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace settle::daemon {

struct CloseoutHead {
  std::string operator_name;
  std::string window;
  std::optional<std::string> date;  // a day's report (YYYY-MM-DD) instead of a shift
  std::int64_t to_ms = 0;           // up to when (now, or the day's end)
  std::optional<std::int64_t> recorded_at_ms;  // set when recorded
};

// The document (without closeout_id and digest, which the caller adds once
// recorded): figures and items. `from` is the first item's time (null for a
// shift without items).
json::Json closeout_document(const ledger::ShiftItems& items, const CloseoutHead& head);
// The first item's time, if any.
std::optional<std::int64_t> first_item_ms(const ledger::ShiftItems& items);

// The document as answered: the stored text with closeout_id and digest.
json::Json closeout_answer(const ledger::CloseoutRow& row);

}  // namespace settle::daemon
