// The flows' named ledger changes (engine/flow.hpp: WriteMsgid, StoreAnswer,
// RecordCallFailed, RecordSettlement, RecordOffline, RecordRefund, RecordUndo) as ledger
// transactions, and the reads the flows need (an original with its refunds,
// the outstanding offline figures). The daemon's Ledger seam and the
// simulation both apply changes through here.
#pragma once

#include "engine/flow.hpp"
#include "engine/store_forward.hpp"
#include "offline/ledger_ops.hpp"
#include "offline/stay_ops.hpp"

#include <functional>
#include <optional>
#include <string>

namespace settle::ledger {

// What the ledger stores that only the daemon knows how to write.
struct FlowConventions {
  // The request's stored answer (the cashier API's reply text) of an answer
  // whose settlement / refund ids are filled in.
  std::function<std::string(const flow::Answer&)> answer_text;
  // "YYYY-MM-DD" of the insurer's day of a time.
  std::function<std::string(std::int64_t at_ms)> clearing_date;
  // The receipt number of a settlement about to be recorded.
  std::function<std::string(const flow::SettlementRecord&)> receipt_no;
};

// What applying a change made: the new setl_id / refund_id (0: none) and a
// recorded settlement's receipt number.
struct Applied {
  std::int64_t id = 0;
  std::string receipt_no;
};

// Applies one named change inside the caller's transaction (a job of the
// writer). A RecordOffline whose assumed outstanding figures no longer hold
// writes nothing and fails (is_stale_offline: the flow measures again).
sql::Result<Applied> apply_change(sql::Db& db, const flow::LedgerChange& change, const FlowConventions& conv,
                                  std::int64_t at_ms);

// The flow's event for a change the writer applied and committed, or not (a
// stale RecordOffline is told apart from a failure).
flow::Committed committed(const sql::Result<Applied>& r);

// The error apply_change gives for a RecordOffline made against figures that moved.
bool is_stale_offline(const sql::DbError& e) noexcept;

// Start-up recovery of one message written or sent without a recorded
// outcome: a money call is in doubt, its reversal queued (for its person),
// and its request, if still unanswered, answered IN_DOUBT; any other call is
// abandoned. Returns whether a reversal was queued.
sql::Result<bool> recover_message(sql::Db& db, const Message& m, const FlowConventions& conv, std::int64_t at);

// The offline figures the limits are measured against, as the flows see them
// (of the visit type's offline settlements).
sql::Result<flow::OutstandingFigures> outstanding_figures(sql::Db& db, std::int64_t now_ms,
                                                          settle::VisitType visit = settle::VisitType::outpatient);
// The same from figures already counted (the daemon keeps the outpatient ones
// in memory, counted by the writer after each commit).
flow::OutstandingFigures outstanding_figures_of(const OfflineOutstanding& o, std::int64_t now_ms);

// A settlement with its refunds and (accepted offline) the insurer's figures;
// its lines unless `with_lines` is false.
sql::Result<std::optional<flow::OriginalView>> original_view(sql::Db& db, std::int64_t setl_id, bool with_lines = true);

// A stay as the flows see it: its row, open items, the standing discharge
// settlement (with its refunds) and, `with_lines`, its live lines.
sql::Result<std::optional<flow::StayView>> stay_view(sql::Db& db, std::int64_t adm_id, bool with_lines);

// ---- forwarding a stay to the insurer, in order ------------------------------------

// A stay item taken to be sent: the call that tells the insurer of it.
struct StayWork {
  StayItem item;
  flow::InsurerCall call;
  std::string card_sn;  // the stay's card, for the person query (1101) of a stay admitted by card alone
};
// The oldest due item whose stay has nothing open before it, taken, with its
// call: its admission (2401 under the admission's request id as visit
// number: the insurer admits it once), a batch (2301) or cancellation (2302),
// or the offline discharge settlement (9302, one record).
sql::Result<std::optional<StayWork>> claim_stay_work(sql::Db& db, std::int64_t now_ms);
// What the insurer's reply does to the item, by the forwarding policy: taken
// (the admission's visit id kept, the discharge accepted or rejected on its
// merits), tried again later, or parked (a parked admission flags the stay
// for the insurance office: everything of it waits behind it). Returns which.
sql::Result<ForwardVerdict> finish_stay_work(sql::Db& db, const StayWork& work, const flow::InsurerReply& reply, const ForwardPolicy& policy,
                             std::int64_t at_ms);

// Conversions between the ledger's rows and the flows' records.
LineClass row_class(settle::LineClass c) noexcept;
settle::LineClass flow_class(LineClass c) noexcept;
flow::SettlementRecord settlement_record(const Settlement& s, std::span<const SettlementLine> lines);
// A visit's facts as the ledger keeps them (settlements.facts, v11): a JSON
// object {"dept_code", "dept_name", "doctor_code", "doctor_name",
// "diagnoses": [{"code", "name"}]}; none when the facts are empty. Read
// back: the facts, or nullopt when the text is not such an object.
std::optional<std::string> visit_facts_json(const flow::VisitFacts& f);
std::optional<flow::VisitFacts> visit_facts_from_json(std::string_view text);
Settlement settlement_row(const flow::SettlementRecord& r);
std::vector<SettlementLine> line_rows(std::span<const ChargeLine> lines);

}  // namespace settle::ledger
