// JSON forms of the engine's values (charge lines, person, split options,
// split, refund parts), shared by the cashier API, settlectl's trial
// calculations and the tests, so each field is named and checked once.
#pragma once

#include "engine/refund.hpp"
#include "engine/split.hpp"
#include "protocol/json.hpp"

#include <string_view>
#include <vector>

namespace settle::json {

// `lines`: [{code, name?, class: "A"|"B"|"C", amount, selfpay_ratio? (class B
// only)}], at most limits::max_lines_per_settlement (LIMIT_EXCEEDED above);
// unknown fields and control characters in text are refused.
// The cashier API requires every line's name (`name_required`); trial input
// and stored lines may leave it out.
Result<std::vector<ChargeLine>> lines_from_json(const Json& v, std::string_view path, bool name_required = false);
Json lines_to_json(const std::vector<ChargeLine>& lines);

// [{code, amount > 0}] for line refunds.
Result<std::vector<LineRefund>> line_refunds_from_json(const Json& v, std::string_view path);
Json line_refunds_to_json(const std::vector<LineRefund>& v);

// {insutype, flags: [..], balance, deductible_used?, fund_paid_ytd?}
Result<Person> person_from_json(const Json& v, std::string_view path);
Json person_to_json(const Person& p);

// {visit?: "outpatient"|"inpatient", use_account?: true, pin_verified?: false,
//  offline?: {cause, on_redlist, outstanding_fund?, outstanding_count?,
//  oldest_age_s?, limits?: {per_settlement_fund_max, outstanding_fund_max,
//  outstanding_count_max, max_age_s}}}
Result<SplitOptions> options_from_json(const Json& v, std::string_view path);

// {total, fund, account, cash, fulamt_ownpay, preselfpay, inscp,
//  deductible_part, mode, reasons: [..]}: the cashier API's preview shape.
Json split_to_json(const Split& s);

// {total, fund, account, cash} (every part required, parts must add up).
Result<Parts> parts_from_json(const Json& v, std::string_view path);
Json parts_to_json(const Parts& p);

std::string_view offline_cause_name(OfflineCause c) noexcept;
std::optional<OfflineCause> offline_cause_from_name(std::string_view s) noexcept;

}  // namespace settle::json
