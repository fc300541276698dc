// The patient's settlement sheet (结算单) and refund sheet (退费单): one
// settlement as settle.get answers it, rendered as a printable, self-contained
// HTML document. Pure: no I/O, the print time is given by the caller.
#pragma once

#include "engine/result.hpp"
#include "protocol/json.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace settle::daemon {

struct SheetOptions {
  std::string hospital_name;             // fixmedins name from the config, e.g. "北京市示范医院"
  std::string hospital_code;             // fixmedins code (12 characters)
  std::string paper = "A5";              // "A5" or "A4" (the CSS @page size)
  std::optional<std::string> refund_id;  // set: the sheet of that refund of the settlement
  std::string printed_at;                // ISO 8601 local time, given by the caller
};

// The settlement sheet of one settlement (or one of its refunds) as a whole
// HTML document. `detail` is the settle.get result object
// (settlement_detail_json). Errors: NOT_FOUND (field "refund_id") if
// refund_id names no refund of it; INVALID_REQUEST ("paper") for a paper
// other than A5/A4, or when `detail` is not a settlement; INVALID_AMOUNT
// naming the field when an amount is unreadable or the parts (fund, account,
// cash) do not add up to the total.
Result<std::string> settlement_sheet_html(const json::Json& detail, const SheetOptions& options);

// The sentence for the patient that the sheet prints for a reason code of a
// settlement's `reasons` or `offline_reason`; nullopt for a code it does not
// know (the sheet then prints the code as it is).
std::optional<std::string_view> sheet_reason_sentence(std::string_view code) noexcept;

}  // namespace settle::daemon
