// Settlements re-entered from the paper emergency ledger (离线应急台账) kept
// while settled itself was down: a batch is validated whole and entered by
// one person, then approved (each row becomes an offline settlement at its
// original time, queued for upload) or refused by a second person.
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

// At most this many settlements in one batch (one paper ledger's day at a window is far fewer).
inline constexpr std::size_t max_reentry_rows = 500;
// At most this many charge lines in one re-entered settlement.
inline constexpr std::size_t max_reentry_lines = 100;

struct ReentryLine {
  std::string code;
  std::string name;
  std::string cls;  // "A", "B", "C"
  Amount amount;
};

// One settlement as written on paper.
struct ReentryRow {
  std::int64_t row_no = 0;  // 1-based, in the order given
  std::int64_t at_ms = 0;   // the time written on paper
  std::string window_id;
  std::string operator_id;
  std::string card_no;
  std::string psn_name;  // "" when not read
  std::vector<ReentryLine> lines;
  Amount cash;  // the cash taken
  Amount total() const;
};

struct ReentryInput {
  std::string batch_ref;  // the caller's reference (the paper ledger's); unique
  std::vector<ReentryRow> rows;
};

// A row that cannot be entered: its number (1-based), the field and why.
struct ReentryProblem {
  std::int64_t row_no = 0;  // 0: the batch itself
  std::string field;        // "at", "window", "lines[0].amount" (lines from 0, as in JSON), ...
  std::string message;
};

// Checks every row (times not after now_ms nor before the oldest accepted
// time, fields present and bounded, lines 1..max_reentry_lines with class
// A/B/C and amounts >= 0, cash within 0..total); the first problem found, or
// none. Nothing is written by a batch with a problem.
std::optional<ReentryProblem> validate_reentry(const ReentryInput& in, std::int64_t now_ms);
// The content's digest (the rows as entered, not the reference): the same
// paper entered twice under another reference is found by it.
std::string reentry_content_hash(const ReentryInput& in);

struct ReentryBatch {
  std::int64_t batch_id = 0;
  std::string batch_ref;
  std::string content_hash;
  std::string entered_by;
  std::int64_t entered_at_ms = 0;
  std::int64_t row_count = 0;
  Amount total, cash;
  std::string state;  // entered, approved, refused
  std::optional<std::string> decided_by;
  std::optional<std::int64_t> decided_at_ms;
  std::string decision_note;
  // Filled by get_reentry only.
  std::vector<ReentryRow> rows;
  std::vector<std::optional<std::int64_t>> setl_ids;          // per row, once approved
  std::vector<std::optional<Amount>> estimate_funds;          // per row, once approved
};

// record_reentry's outcome: the new batch, or the batch that already has this
// reference or this content (not refused) — the caller refuses naming it.
struct ReentryRecorded {
  std::int64_t batch_id = 0;
  bool inserted = false;
  std::string duplicate_of;  // "batch_ref" or "content" when not inserted
};
// Records a batch as `by` (state entered; nothing else changes). The input
// must have passed validate_reentry.
sql::Result<ReentryRecorded> record_reentry(sql::Db& db, const ReentryInput& in, std::string_view by,
                                            std::int64_t at_ms);

// The offline rules' figures for one row, made by the caller at approval (the
// red list's entry and the offline limits as they are then).
struct ReentryEstimate {
  Amount fund;                        // the fund the offline rules would pay
  Amount fulamt_ownpay, preselfpay, inscp, deductible_part;
  std::vector<std::string> reasons;   // the split's reasons (not_on_redlist, offline_limit_*, ...)
  std::optional<std::string> psn_no;
  std::optional<std::string> insutype;
  std::vector<std::int64_t> selfpay_ratio_ppm;  // per line (class B's applied ratio), 0 when absent
};
using ReentryEstimator = std::function<ReentryEstimate(const ReentryRow&)>;

// Approves (by someone other than the one who entered it) an entered batch:
// each row, oldest first by its paper time, becomes an offline settlement
// (state offline_pending, reason offline_system_down, its original time,
// window and operator; cash as taken, the rest the fund's), with its lines,
// its upload queued and an event naming the batch, entrant and approver.
// `clearing_date` gives a time's clearing date; `estimate` the offline rules'
// figures (kept beside the settlement). Refusing writes only the decision.
// invalid_state: decided already, or the same person; not_found: no batch.
sql::Result<ReentryBatch> decide_reentry(sql::Db& db, std::int64_t batch_id, bool approve, std::string_view by,
                                         std::string_view note, std::int64_t at_ms,
                                         const std::function<std::string(std::int64_t)>& clearing_date,
                                         const ReentryEstimator& estimate);

// A batch without its rows, or with them.
sql::Result<std::optional<ReentryBatch>> get_reentry(sql::Db& db, std::int64_t batch_id, bool with_rows = true);
// Newest first; `state` "" for all.
sql::Result<std::vector<ReentryBatch>> list_reentries(sql::Db& db, std::string_view state, int limit);
// An approved re-entered settlement whose paper time lies in a period its
// operator and window had already closed out, and that no close-out holds
// yet: it goes into their next close-out (close-outs take the unclosed items
// by id), and the office is told on the work list.
struct ReentryLateItem {
  std::int64_t batch_id = 0;
  std::int64_t row_no = 0;
  std::int64_t setl_id = 0;
  std::int64_t at_ms = 0;
  std::string operator_id, window_id;
  std::int64_t closeout_id = 0;  // the close-out recorded that already covered its time
  Amount total, cash;
};
sql::Result<std::vector<ReentryLateItem>> reentries_after_closeout(sql::Db& db);
// The request_id of an approved row's settlement.
std::string reentry_request_id(std::int64_t batch_id, std::int64_t row_no);

}  // namespace settle::ledger
