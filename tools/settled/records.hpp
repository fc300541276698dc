// The daemon's conversions between the engine's charge lines, the ledger's
// rows and the insurer's fee details, and the cashier's answer of a flow (a
// recorded settlement or refund, or the refusal): shared by every flow's driver.
#pragma once

#include "engine/flow.hpp"
#include "engine/policy.hpp"
#include "engine/split.hpp"
#include "offline/ledger_ops.hpp"
#include "protocol/cashier/params.hpp"
#include "protocol/cashier/server.hpp"
#include "protocol/insurer/codecs.hpp"
#include "protocol/json.hpp"

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace settle::daemon {

ledger::LineClass ledger_class(LineClass c);
LineClass engine_class(ledger::LineClass c);

// The ledger's rows of charge lines, with the class B ratio the policy applies.
std::vector<ledger::SettlementLine> ledger_lines(const Policy& policy, const PolicyParams& params,
                                                 std::span<const ChargeLine> lines);
// The charge lines of a recorded settlement.
std::vector<ChargeLine> charge_lines_of(std::span<const ledger::SettlementLine> lines);

// The insurer's fee details (2204, 9302) of charge lines, numbered from 1.
struct FeeContext {
  std::string mdtrt_id;   // empty for an offline upload
  std::string psn_no;
  std::string chrg_bchno;
  std::string fee_time;   // "yyyy-MM-dd HH:mm:ss"
};
std::vector<insurer::FeeDetail> fee_details(std::span<const ChargeLine> lines, const FeeContext& ctx,
                                            const Policy& policy, const PolicyParams& params);

// "R" + the msgid's sequence part: the receipt number of an online settlement.
std::string receipt_no_of(std::string_view msgid);

// settle.commit's answer for a recorded settlement.
json::Json commit_answer(const ledger::Settlement& s, std::int64_t setl_id, std::optional<Amount> balance_after);
// settle.refund's answer for a recorded refund.
json::Json refund_answer(const flow::RefundRecord& r);
// A stay as an answer names it (inpatient.admit; the head of inpatient.get).
json::Json stay_answer(const flow::StayRecord& s);
// A flow's answer as the cashier API words it (and the request log stores it).
// The visit the cashier gave (settle.commit, inpatient.admit) as the engine's facts.
flow::VisitFacts visit_facts(const std::optional<cashier::VisitParams>& v);

// The hospital's areas, for a settlement's insured area and cross_region.
struct HomeArea {
  std::string area;          // [institution] area (mdtrtarea_admvs)
  std::string insurer_area;  // [institution] insurer_area (the default insuplc_admdvs)
};
// How a settlement with an undo is answered: as a re-settlement {undo,
// settlement, cash_back}, or as a refund (the national refund of part: the
// money back net of the undo and the new settlement, with `settlement`).
enum class AnswerShape : std::uint8_t { resettle, refund };
cashier::Reply reply_of(const flow::Answer& a, const HomeArea& home = {}, AnswerShape shape = AnswerShape::resettle);

}  // namespace settle::daemon
