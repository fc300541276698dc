// The ledger's operations of the office's day: the items of a cashier's
// shift and their close-out (recorded once, never changed), and corrections
// with two-person review (recorded, then approved or refused by another
// person; only an approved one changes anything).
#pragma once

#include "engine/money.hpp"
#include "offline/ledger_ops.hpp"
#include "offline/sqlite.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace settle::ledger {

// ---- A cashier's shift ---------------------------------------------------------

struct ShiftSettlement {
  std::int64_t setl_id = 0;
  std::int64_t at_ms = 0;
  std::string mode;   // online, offline
  std::string state;  // as the settlement's now
  std::string visit;  // outpatient, inpatient
  std::string receipt_no;
  Amount total, fund, account, cash;
};
struct ShiftRefund {
  std::int64_t refund_id = 0;
  std::int64_t setl_id = 0;
  std::int64_t at_ms = 0;
  Amount total, fund, account, cash;
};
// An approved correction of a settlement made at the window: what it changed
// in the figures the ledger counts (new minus before).
struct ShiftCorrection {
  std::int64_t correction_id = 0;
  std::int64_t setl_id = 0;
  std::string action;  // amounts, undo
  std::string reason;
  std::string recorded_by;
  std::string approved_by;
  std::int64_t approved_at_ms = 0;
  Amount fund_delta, account_delta, cash_delta;
};
struct ShiftItems {
  std::vector<ShiftSettlement> settlements;  // oldest first
  std::vector<ShiftRefund> refunds;
  std::vector<ShiftCorrection> corrections;
};

// What operator `op` did at `window` and no close-out holds yet: the
// settlements and refunds after the ledger's last ones when the previous
// close-out of this operator and window was recorded (or when the ledger
// gained close-outs), by id (ids grow in commit order; no clock decides it).
sql::Result<ShiftItems> unclosed_shift_items(sql::Db& db, std::string_view op, std::string_view window);
// What operator `op` did at `window` in [from_ms, to_ms), closed or not (a day's report).
sql::Result<ShiftItems> shift_items_between(sql::Db& db, std::string_view op, std::string_view window,
                                            std::int64_t from_ms, std::int64_t to_ms);

struct CloseoutRow {
  std::int64_t closeout_id = 0;
  std::string request_id;
  std::string operator_name;
  std::string window;
  std::optional<std::int64_t> from_ms;  // the first item's time (none: an empty shift)
  std::int64_t to_ms = 0;
  std::int64_t upto_setl_id = 0;    // the ledger's last settlement and refund when recorded
  std::int64_t upto_refund_id = 0;
  std::int64_t recorded_at_ms = 0;
  std::string source;
  std::string document;  // the close-out as answered (JSON)
  std::string digest;    // SHA-256 of document, hex
};

// Records the close-out of everything unclosed of head.operator_name at
// head.window now: reads the items inside the write, `make(items, head)`
// fills head.document, digest, from_ms and to_ms, and every item is marked
// as closed by it. The same request_id again returns the close-out it made
// (a retried call closes nothing twice); used by another operator or window
// it is invalid_state.
using MakeCloseout = std::function<void(const ShiftItems&, CloseoutRow&)>;
sql::Result<CloseoutRow> record_closeout(sql::Db& db, CloseoutRow head, const MakeCloseout& make);
sql::Result<std::optional<CloseoutRow>> find_closeout(sql::Db& db, std::int64_t closeout_id);

struct CloseoutFilter {
  std::string operator_name = {};  // empty: any
  std::string window = {};         // empty: any
  std::optional<std::int64_t> from_ms;  // recorded at or after
  std::optional<std::int64_t> to_ms;    // recorded before
  std::optional<std::int64_t> before_id;
  int limit = 100;
};
// Close-outs matching, newest first (without their documents' items read).
sql::Result<std::vector<CloseoutRow>> list_closeouts(sql::Db& db, const CloseoutFilter& f);

// ---- Corrections ----------------------------------------------------------------

struct CorrectionRow {
  std::int64_t correction_id = 0;
  std::string target;  // settlement, outbox, stay
  std::optional<std::int64_t> setl_id;
  std::optional<std::int64_t> item_id;
  std::string action;  // amounts, undo, resolve
  std::optional<Amount> fund, account, cash;  // amounts: the figures to count
  std::string reason;
  std::string recorded_by;
  std::int64_t recorded_at_ms = 0;
  std::string state = "recorded";  // recorded, approved, refused
  std::optional<std::string> decided_by;
  std::optional<std::int64_t> decided_at_ms;
  std::optional<std::string> decision_note;
  std::optional<std::int64_t> adj_id;
};

// Records a correction (state recorded; nothing else changes). Checks that
// its target can take it now: not_found for an unknown settlement or item;
// invalid_state for an item that is not parked (or a stay's admission), an
// undo of a settlement that is not offline_rejected, amounts of a settlement
// the insurer does not hold, amounts whose sum is not its total or whose cash
// is above the cash charged at the window, or a second open correction of
// the same target.
sql::Result<std::int64_t> insert_correction(sql::Db& db, const CorrectionRow& c);
// Approves or refuses a recorded correction as `by` (not its recorder:
// invalid_state otherwise, and the schema refuses it too). Approving checks
// the target again (it may have moved since) and applies it in the same
// write: the adjustment, the undo, or the item resolved.
sql::Result<CorrectionRow> decide_correction(sql::Db& db, std::int64_t correction_id, bool approve,
                                             std::string_view by, std::string_view note, std::int64_t at_ms);
sql::Result<std::optional<CorrectionRow>> find_correction(sql::Db& db, std::int64_t correction_id);
// Corrections, newest first; `state` empty: all.
sql::Result<std::vector<CorrectionRow>> list_corrections(sql::Db& db, std::string_view state, int limit);

// ---- The office's work list -------------------------------------------------------

// Offline settlements the insurer rejected that no approved correction has
// dealt with yet (the parked items come from list_parked and
// list_parked_stay_items).
struct RejectedSettlement {
  std::int64_t setl_id = 0;
  std::int64_t at_ms = 0;  // when it was rejected
  std::string reason;      // the insurer's, from the upload's last error
  std::string psn_no;
  Amount total, fund, cash;
  std::optional<std::int64_t> open_correction;  // one recorded, waiting for approval
};
sql::Result<std::vector<RejectedSettlement>> rejected_settlements(sql::Db& db);
// How many items the work list holds: parked outbox and stay items, rejected
// offline settlements not dealt with, corrections waiting for approval.
sql::Result<std::int64_t> work_count(sql::Db& db);

}  // namespace settle::ledger
