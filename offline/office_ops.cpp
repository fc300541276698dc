// Close-outs and corrections on the ledger: the shift's items found by the
// operator's and window's rows not yet held by a close-out, the close-out
// written with its items in one write, and a correction's approval applied
// in the same write as its decision.
#include "offline/office_ops.hpp"

#include "offline/rows.hpp"
#include "offline/stay_ops.hpp"

#include <fmt/format.h>

#include <array>

namespace settle::ledger {
namespace {

ShiftSettlement read_shift_settlement(sql::Statement& st) {
  ShiftSettlement s;
  s.setl_id = st.column_int64(0);
  s.at_ms = st.column_int64(1);
  s.mode = st.column_text(2);
  s.state = st.column_text(3);
  s.visit = st.column_text(4);
  s.receipt_no = st.column_text(5);
  s.total = Amount::fen(st.column_int64(6));
  s.fund = Amount::fen(st.column_int64(7));
  s.account = Amount::fen(st.column_int64(8));
  s.cash = Amount::fen(st.column_int64(9));
  return s;
}

ShiftRefund read_shift_refund(sql::Statement& st) {
  ShiftRefund r;
  r.refund_id = st.column_int64(0);
  r.setl_id = st.column_int64(1);
  r.at_ms = st.column_int64(2);
  r.total = Amount::fen(st.column_int64(3));
  r.fund = Amount::fen(st.column_int64(4));
  r.account = Amount::fen(st.column_int64(5));
  r.cash = Amount::fen(st.column_int64(6));
  return r;
}

// An approved correction of a settlement as the close-out shows it: the
// adjustment's new figures less the ones counted before it.
ShiftCorrection read_shift_correction(sql::Statement& st) {
  ShiftCorrection c;
  c.correction_id = st.column_int64(0);
  c.setl_id = st.column_int64(1);
  c.action = st.column_text(2);
  c.reason = st.column_text(3);
  c.recorded_by = st.column_text(4);
  c.approved_by = st.column_text(5);
  c.approved_at_ms = st.column_int64(6);
  c.fund_delta = Amount::fen(st.column_int64(7));
  c.account_delta = Amount::fen(st.column_int64(8));
  c.cash_delta = Amount::fen(st.column_int64(9));
  return c;
}

constexpr std::string_view kShiftSettlementCols =
    "s.setl_id, s.created_at_ms, s.mode, s.state, s.visit_type, s.receipt_no, s.total_fen, s.fund_fen, "
    "s.account_fen, s.cash_fen";
constexpr std::string_view kShiftRefundCols =
    "r.refund_id, r.setl_id, r.created_at_ms, r.refund_total_fen, r.fund_fen, r.account_fen, r.cash_fen";
// An amounts correction's deltas come from its adjustment; an undo takes the
// settlement's counted figures away.
constexpr std::string_view kShiftCorrectionCols =
    "c.correction_id, c.setl_id, c.action, c.reason, c.recorded_by, c.decided_by, c.decided_at_ms, "
    "CASE WHEN c.action = 'amounts' THEN a.insurer_fund_fen - a.local_fund_fen ELSE -s.fund_fen END, "
    "CASE WHEN c.action = 'amounts' THEN a.insurer_account_fen - a.local_account_fen ELSE -s.account_fen END, "
    "CASE WHEN c.action = 'amounts' THEN a.insurer_cash_fen - a.local_cash_fen ELSE -s.cash_fen END";

// Where the next close-out of `op` at `window` starts: the ledger's last
// settlement and refund when the previous one was recorded (or when the
// ledger gained close-outs).
struct Upto {
  std::int64_t setl_id = 0;
  std::int64_t refund_id = 0;
};
sql::Result<Upto> closeout_start(sql::Db& db, std::string_view op, std::string_view window) {
  auto last = select_one<Upto>(
      db,
      "SELECT upto_setl_id, upto_refund_id FROM closeouts INDEXED BY closeouts_operator WHERE operator_name = ?1 "
      "AND window_id = ?2 ORDER BY closeout_id DESC LIMIT 1",
      [](sql::Statement& st) { return Upto{st.column_int64(0), st.column_int64(1)}; }, op, window);
  if (!last) return last.error();
  if (last->has_value()) return **last;
  auto first = select_one<Upto>(db, "SELECT upto_setl_id, upto_refund_id FROM closeout_start WHERE one = 1",
                                [](sql::Statement& st) { return Upto{st.column_int64(0), st.column_int64(1)}; });
  if (!first) return first.error();
  return first->value_or(Upto{});
}

sql::Result<Upto> ledger_upto(sql::Db& db) {
  auto row = select_one<Upto>(
      db, "SELECT (SELECT coalesce(max(setl_id), 0) FROM settlements), (SELECT coalesce(max(refund_id), 0) FROM refunds)",
      [](sql::Statement& st) { return Upto{st.column_int64(0), st.column_int64(1)}; });
  if (!row) return row.error();
  return row->value_or(Upto{});
}

// The figures a settlement counts now: its latest adjustment's (the insurer's
// or a correction's), else its own.
struct Counted {
  Amount total, fund, account, cash;
  Amount charged_cash;  // the cash taken at the window
  std::string state;
};
sql::Result<std::optional<Counted>> counted_figures(sql::Db& db, std::int64_t setl_id) {
  auto st = db.cached(
      "SELECT s.total_fen, coalesce(a.insurer_fund_fen, s.fund_fen), coalesce(a.insurer_account_fen, s.account_fen), "
      "coalesce(a.insurer_cash_fen, s.cash_fen), s.state, s.cash_fen FROM settlements s LEFT JOIN adjustments a ON a.adj_id = "
      "(SELECT max(adj_id) FROM adjustments WHERE setl_id = s.setl_id) WHERE s.setl_id = ?1");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(setl_id));
  auto row = (*st)->step();
  if (!row) return row.error();
  std::optional<Counted> out;
  if (*row) {
    Counted c;
    c.fund = Amount::fen((*st)->column_int64(1));
    c.account = Amount::fen((*st)->column_int64(2));
    c.cash = Amount::fen((*st)->column_int64(3));
    c.total = c.fund + c.account + c.cash;
    c.state = (*st)->column_text(4);
    c.charged_cash = Amount::fen((*st)->column_int64(5));
    out = c;
  }
  (*st)->reset();
  return out;
}

sql::Result<std::string> item_state(sql::Db& db, std::string_view table, std::int64_t item_id) {
  auto row = select_one<std::string>(db, fmt::format("SELECT state FROM {} WHERE item_id = ?1", table),
                                     [](sql::Statement& st) { return st.column_text(0); }, item_id);
  if (!row) return row.error();
  if (!row->has_value()) return not_found(fmt::format("{} item {} does not exist", table == "outbox" ? "outbox" : "stay", item_id));
  return **row;
}

constexpr std::string_view kCloseoutCols =
    "closeout_id, request_id, operator_name, window_id, from_ms, to_ms, recorded_at_ms, source, document, digest, "
    "upto_setl_id, upto_refund_id";

CloseoutRow read_closeout(sql::Statement& st) {
  CloseoutRow c;
  c.closeout_id = st.column_int64(0);
  c.request_id = st.column_text(1);
  c.operator_name = st.column_text(2);
  c.window = st.column_text(3);
  c.from_ms = st.column_opt_int64(4);
  c.to_ms = st.column_int64(5);
  c.recorded_at_ms = st.column_int64(6);
  c.source = st.column_text(7);
  c.document = st.column_text(8);
  c.digest = st.column_text(9);
  c.upto_setl_id = st.column_int64(10);
  c.upto_refund_id = st.column_int64(11);
  return c;
}

constexpr std::string_view kCorrectionCols =
    "correction_id, target, setl_id, item_id, action, fund_fen, account_fen, cash_fen, reason, recorded_by, "
    "recorded_at_ms, state, decided_by, decided_at_ms, decision_note, adj_id";

CorrectionRow read_correction(sql::Statement& st) {
  CorrectionRow c;
  c.correction_id = st.column_int64(0);
  c.target = st.column_text(1);
  c.setl_id = st.column_opt_int64(2);
  c.item_id = st.column_opt_int64(3);
  c.action = st.column_text(4);
  if (auto f = st.column_opt_int64(5)) c.fund = Amount::fen(*f);
  if (auto a = st.column_opt_int64(6)) c.account = Amount::fen(*a);
  if (auto k = st.column_opt_int64(7)) c.cash = Amount::fen(*k);
  c.reason = st.column_text(8);
  c.recorded_by = st.column_text(9);
  c.recorded_at_ms = st.column_int64(10);
  c.state = st.column_text(11);
  if (!st.is_null(12)) c.decided_by = st.column_text(12);
  c.decided_at_ms = st.column_opt_int64(13);
  if (!st.is_null(14)) c.decision_note = st.column_text(14);
  c.adj_id = st.column_opt_int64(15);
  return c;
}

sql::Status mark_closed(sql::Db& db, std::string_view kind, std::int64_t ref_id, std::int64_t closeout_id) {
  auto st = db.cached("INSERT INTO closeout_items(kind, ref_id, closeout_id) VALUES(?1, ?2, ?3)");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(kind, ref_id, closeout_id));
  return (*st)->run();
}

}  // namespace

namespace {

// The approved corrections of settlements made by operator ?1 at window ?2,
// with their adjustments (FROM and WHERE, for the caller's further terms).
// CROSS JOIN keeps the corrections the outer loop, each settlement found by
// its id: with statistics of a young ledger (ANALYZE run while no
// correction existed) the planner would otherwise read every settlement.
constexpr std::string_view kApprovedCorrectionsAt =
    "FROM corrections c CROSS JOIN settlements s ON s.setl_id = c.setl_id LEFT JOIN adjustments a "
    "ON a.adj_id = c.adj_id WHERE c.state = 'approved' AND c.target = 'settlement' "
    "AND s.operator_id = ?1 AND s.window_id = ?2";

}  // namespace

sql::Result<ShiftItems> unclosed_shift_items(sql::Db& db, std::string_view op, std::string_view window) {
  auto start = closeout_start(db, op, window);
  if (!start) return start.error();
  ShiftItems out;
  auto s = select_all<ShiftSettlement>(
      db,
      fmt::format("SELECT {} FROM settlements s WHERE s.setl_id > ?3 AND s.operator_id = ?1 AND s.window_id = ?2 "
                  "AND NOT EXISTS (SELECT 1 FROM closeout_items i WHERE i.kind = 'settlement' AND i.ref_id = s.setl_id) "
                  "ORDER BY s.setl_id",
                  kShiftSettlementCols),
      read_shift_settlement, op, window, start->setl_id);
  if (!s) return s.error();
  out.settlements = std::move(*s);
  auto r = select_all<ShiftRefund>(
      db,
      fmt::format("SELECT {} FROM refunds r WHERE r.refund_id > ?3 AND r.operator_id = ?1 AND r.window_id = ?2 "
                  "AND NOT EXISTS (SELECT 1 FROM closeout_items i WHERE i.kind = 'refund' AND i.ref_id = r.refund_id) "
                  "ORDER BY r.refund_id",
                  kShiftRefundCols),
      read_shift_refund, op, window, start->refund_id);
  if (!r) return r.error();
  out.refunds = std::move(*r);
  // Corrections are approved whenever the office gets to them: any approved
  // correction of a settlement made here that no close-out holds.
  auto c = select_all<ShiftCorrection>(
      db,
      fmt::format("SELECT {} {} AND NOT EXISTS (SELECT 1 FROM closeout_items i "
                  "WHERE i.kind = 'correction' AND i.ref_id = c.correction_id) ORDER BY c.correction_id",
                  kShiftCorrectionCols, kApprovedCorrectionsAt),
      read_shift_correction, op, window);
  if (!c) return c.error();
  out.corrections = std::move(*c);
  return out;
}

sql::Result<ShiftItems> shift_items_between(sql::Db& db, std::string_view op, std::string_view window,
                                            std::int64_t from_ms, std::int64_t to_ms) {
  ShiftItems out;
  auto s = select_all<ShiftSettlement>(
      db,
      fmt::format("SELECT {} FROM settlements s INDEXED BY settlements_created WHERE s.created_at_ms >= ?3 "
                  "AND s.created_at_ms < ?4 AND s.operator_id = ?1 AND s.window_id = ?2 ORDER BY s.setl_id",
                  kShiftSettlementCols),
      read_shift_settlement, op, window, from_ms, to_ms);
  if (!s) return s.error();
  out.settlements = std::move(*s);
  auto r = select_all<ShiftRefund>(
      db,
      fmt::format("SELECT {} FROM refunds r INDEXED BY refunds_created WHERE r.created_at_ms >= ?3 AND r.created_at_ms < ?4 "
                  "AND r.operator_id = ?1 AND r.window_id = ?2 ORDER BY r.refund_id",
                  kShiftRefundCols),
      read_shift_refund, op, window, from_ms, to_ms);
  if (!r) return r.error();
  out.refunds = std::move(*r);
  auto c = select_all<ShiftCorrection>(
      db,
      fmt::format("SELECT {} {} AND c.decided_at_ms >= ?3 AND c.decided_at_ms < ?4 ORDER BY c.correction_id",
                  kShiftCorrectionCols, kApprovedCorrectionsAt),
      read_shift_correction, op, window, from_ms, to_ms);
  if (!c) return c.error();
  out.corrections = std::move(*c);
  return out;
}

sql::Result<CloseoutRow> record_closeout(sql::Db& db, CloseoutRow head, const MakeCloseout& make) {
  auto existing = select_one<CloseoutRow>(db, fmt::format("SELECT {} FROM closeouts WHERE request_id = ?1", kCloseoutCols),
                                          read_closeout, head.request_id);
  if (!existing) return existing.error();
  if (existing->has_value()) {
    const CloseoutRow& e = **existing;
    if (e.operator_name != head.operator_name || e.window != head.window)
      return invalid_state(fmt::format("request_id {} made another operator's or window's close-out", head.request_id));
    return e;
  }
  auto items = unclosed_shift_items(db, head.operator_name, head.window);
  if (!items) return items.error();
  auto upto = ledger_upto(db);
  if (!upto) return upto.error();
  head.upto_setl_id = upto->setl_id;
  head.upto_refund_id = upto->refund_id;
  make(*items, head);
  auto st = db.cached(
      "INSERT INTO closeouts(request_id, operator_name, window_id, from_ms, to_ms, upto_setl_id, upto_refund_id, "
      "recorded_at_ms, source, document, digest) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(head.request_id, head.operator_name, head.window, head.from_ms, head.to_ms,
                                 head.upto_setl_id, head.upto_refund_id, head.recorded_at_ms, head.source,
                                 head.document, head.digest));
  SETTLE_SQL_TRY((*st)->run());
  head.closeout_id = db.last_insert_rowid();
  for (const auto& s : items->settlements) SETTLE_SQL_TRY(mark_closed(db, "settlement", s.setl_id, head.closeout_id));
  for (const auto& r : items->refunds) SETTLE_SQL_TRY(mark_closed(db, "refund", r.refund_id, head.closeout_id));
  for (const auto& c : items->corrections) SETTLE_SQL_TRY(mark_closed(db, "correction", c.correction_id, head.closeout_id));
  return head;
}

sql::Result<std::optional<CloseoutRow>> find_closeout(sql::Db& db, std::int64_t closeout_id) {
  return select_one<CloseoutRow>(db, fmt::format("SELECT {} FROM closeouts WHERE closeout_id = ?1", kCloseoutCols),
                                 read_closeout, closeout_id);
}

sql::Result<std::vector<CloseoutRow>> list_closeouts(sql::Db& db, const CloseoutFilter& f) {
  // Only the filters given are written, so that the planner reads a cashier's
  // close-outs through closeouts_operator and a day's through
  // closeouts_recorded (an "?1 = '' OR ..." term would read the table whole).
  std::string where = "1";
  if (!f.operator_name.empty()) where += " AND operator_name = ?1";
  if (!f.window.empty()) where += " AND window_id = ?2";
  if (f.from_ms) where += " AND recorded_at_ms >= ?3";
  if (f.to_ms) where += " AND recorded_at_ms < ?4";
  if (f.before_id) where += " AND closeout_id < ?5";
  return select_all<CloseoutRow>(
      db, fmt::format("SELECT {} FROM closeouts WHERE {} ORDER BY closeout_id DESC LIMIT ?6", kCloseoutCols, where),
      read_closeout, f.operator_name, f.window, f.from_ms, f.to_ms, f.before_id, f.limit);
}

// ---- corrections ------------------------------------------------------------------

namespace {

// Whether the correction's target can take it now; the clause naming its
// target (for the one-open-correction check).
sql::Result<std::string> check_target(sql::Db& db, const CorrectionRow& c) {
  if (c.target == "settlement") {
    SETTLE_ASSERT(c.setl_id.has_value());
    auto counted = counted_figures(db, *c.setl_id);
    if (!counted) return counted.error();
    if (!counted->has_value()) return not_found(fmt::format("settlement {} does not exist", *c.setl_id));
    const Counted& now = **counted;
    if (c.action == "undo" && now.state != "offline_rejected")
      return invalid_state(fmt::format("settlement {} is {}: only an offline settlement the insurer rejected is undone "
                                       "by a correction (a settled one is refunded)",
                                       *c.setl_id, now.state));
    if (c.action == "amounts") {
      SETTLE_ASSERT(c.fund && c.account && c.cash);
      if (now.state == "undone" || now.state == "offline_pending" || now.state == "offline_rejected")
        return invalid_state(fmt::format("settlement {} is {}: its figures are corrected once the insurer holds it "
                                         "(a rejected offline settlement is undone instead)",
                                         *c.setl_id, now.state));
      if (*c.fund + *c.account + *c.cash != now.total)
        return invalid_state(fmt::format("settlement {}: fund + account + cash must be its total {} fen", *c.setl_id,
                                         now.total.fen()));
      if (*c.cash > now.charged_cash)
        return invalid_state(fmt::format("settlement {}: the cash part cannot be above the {} fen charged at the window "
                                         "(a correction never says the patient paid more than was taken)",
                                         *c.setl_id, now.charged_cash.fen()));
      // What its refunds gave back, and how many came after the correction
      // was recorded (at approval: its figures were made without them).
      auto back = select_one<std::array<std::int64_t, 4>>(
          db,
          "SELECT coalesce(sum(fund_fen), 0), coalesce(sum(account_fen), 0), coalesce(sum(cash_fen), 0), "
          "coalesce(sum(created_at_ms > ?2), 0) FROM refunds WHERE setl_id = ?1",
          [](const sql::Statement& st) {
            return std::array<std::int64_t, 4>{st.column_int64(0), st.column_int64(1), st.column_int64(2),
                                               st.column_int64(3)};
          },
          *c.setl_id, c.recorded_at_ms);
      if (!back) return back.error();
      const auto taken = back->value_or(std::array<std::int64_t, 4>{});
      if (taken[3] > 0)
        return invalid_state(fmt::format("settlement {} was refunded since the correction was recorded: record a new "
                                         "one if it is still needed",
                                         *c.setl_id));
      if (c.fund->fen() < taken[0] || c.account->fen() < taken[1] || c.cash->fen() < taken[2])
        return invalid_state(fmt::format("settlement {}: its refunds have already given back fund {}, account {}, cash {} "
                                         "fen; corrected figures are never below what was given back",
                                         *c.setl_id, taken[0], taken[1], taken[2]));
    }
    return fmt::format("target = 'settlement' AND setl_id = {}", *c.setl_id);
  }
  SETTLE_ASSERT(c.item_id.has_value());
  auto state = item_state(db, c.target == "outbox" ? "outbox" : "stay_items", *c.item_id);
  if (!state) return state.error();
  if (*state != "parked") return invalid_state(fmt::format("{} item {} is {}, not parked", c.target, *c.item_id, *state));
  if (c.target == "stay") {
    auto kind = select_one<std::string>(db, "SELECT kind FROM stay_items WHERE item_id = ?1",
                                        [](sql::Statement& st) { return st.column_text(0); }, *c.item_id);
    if (!kind) return kind.error();
    if (kind->value_or("") == "admission")
      return invalid_state(fmt::format("stay item {} is an admission: everything after it needs the insurer's visit "
                                       "id, so it is not resolved without the insurer (retry it)",
                                       *c.item_id));
  }
  return fmt::format("target = '{}' AND item_id = {}", c.target, *c.item_id);
}

}  // namespace

sql::Result<std::int64_t> insert_correction(sql::Db& db, const CorrectionRow& c) {
  auto clause = check_target(db, c);
  if (!clause) return clause.error();
  const std::string open_clause = std::move(*clause);
  auto open = select_one<std::int64_t>(
      db, fmt::format("SELECT correction_id FROM corrections WHERE state = 'recorded' AND {}", open_clause),
      [](sql::Statement& st) { return st.column_int64(0); });
  if (!open) return open.error();
  if (open->has_value())
    return invalid_state(fmt::format("correction {} of the same {} waits for approval", **open, c.target));
  auto st = db.cached(
      "INSERT INTO corrections(target, setl_id, item_id, action, fund_fen, account_fen, cash_fen, reason, recorded_by, "
      "recorded_at_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)");
  if (!st) return st.error();
  const auto fen_of = [](const std::optional<Amount>& a) -> std::optional<std::int64_t> {
    if (!a) return std::nullopt;
    return a->fen();
  };
  SETTLE_SQL_TRY((*st)->bind_all(c.target, c.setl_id, c.item_id, c.action, fen_of(c.fund), fen_of(c.account),
                                 fen_of(c.cash), c.reason, c.recorded_by, c.recorded_at_ms));
  SETTLE_SQL_TRY((*st)->run());
  return db.last_insert_rowid();
}

sql::Result<CorrectionRow> decide_correction(sql::Db& db, std::int64_t correction_id, bool approve,
                                             std::string_view by, std::string_view note, std::int64_t at_ms) {
  auto found = find_correction(db, correction_id);
  if (!found) return found.error();
  if (!found->has_value()) return not_found(fmt::format("correction {} does not exist", correction_id));
  CorrectionRow c = **found;
  if (c.state != "recorded") return invalid_state(fmt::format("correction {} is {} already", correction_id, c.state));
  if (c.recorded_by == by)
    return invalid_state(fmt::format("correction {} was recorded by {}: a second person decides it", correction_id, by));
  std::optional<std::int64_t> adj_id;
  if (approve) {
    // The target may have moved since it was recorded (refunded, undone, retried).
    auto still = check_target(db, c);
    if (!still) return still.error();
    const std::string why = fmt::format("correction {}: {} (recorded by {}, approved by {})", correction_id, c.reason,
                                        c.recorded_by, by);
    if (c.action == "amounts") {
      auto counted = counted_figures(db, *c.setl_id);
      if (!counted) return counted.error();
      if (!counted->has_value()) return not_found(fmt::format("settlement {} does not exist", *c.setl_id));
      Adjustment a;
      a.setl_id = *c.setl_id;
      a.kind = AdjustmentKind::correction;
      a.local_fund = (*counted)->fund;
      a.local_account = (*counted)->account;
      a.local_cash = (*counted)->cash;
      a.insurer_fund = *c.fund;
      a.insurer_account = *c.account;
      a.insurer_cash = *c.cash;
      a.note = why;
      a.created_at_ms = at_ms;
      auto id = record_adjustment(db, a);
      if (!id) return id.error();
      adj_id = *id;
    } else if (c.action == "undo") {
      SETTLE_SQL_TRY(set_settlement_state(db, *c.setl_id, SettlementState::undone, at_ms, why));
    } else if (c.target == "outbox") {
      SETTLE_SQL_TRY(resolve_parked(db, *c.item_id, by, why, at_ms));
    } else {
      SETTLE_SQL_TRY(resolve_parked_stay_item(db, *c.item_id, by, why, at_ms));
    }
  }
  auto st = db.cached(
      "UPDATE corrections SET state = ?2, decided_by = ?3, decided_at_ms = ?4, decision_note = ?5, adj_id = ?6 "
      "WHERE correction_id = ?1 AND state = 'recorded'");
  if (!st) return st.error();
  SETTLE_SQL_TRY((*st)->bind_all(correction_id, std::string_view(approve ? "approved" : "refused"), by, at_ms, note, adj_id));
  SETTLE_SQL_TRY((*st)->run());
  c.state = approve ? "approved" : "refused";
  c.decided_by = std::string(by);
  c.decided_at_ms = at_ms;
  c.decision_note = std::string(note);
  c.adj_id = adj_id;
  return c;
}

sql::Result<std::optional<CorrectionRow>> find_correction(sql::Db& db, std::int64_t correction_id) {
  return select_one<CorrectionRow>(
      db, fmt::format("SELECT {} FROM corrections WHERE correction_id = ?1", kCorrectionCols), read_correction,
      correction_id);
}

sql::Result<std::vector<CorrectionRow>> list_corrections(sql::Db& db, std::string_view state, int limit) {
  return select_all<CorrectionRow>(
      db,
      // The corrections waiting (state recorded) are read through their
      // partial index, which only a literal state lets the planner take.
      fmt::format("SELECT {} FROM corrections WHERE {} ORDER BY correction_id DESC LIMIT ?2", kCorrectionCols,
                  state.empty() ? "?1 = ''" : state == "recorded" ? "state = 'recorded'" : "state = ?1"),
      read_correction, state, limit);
}

sql::Result<std::vector<RejectedSettlement>> rejected_settlements(sql::Db& db) {
  return select_all<RejectedSettlement>(
      db,
      "SELECT s.setl_id, coalesce(o.updated_at_ms, s.created_at_ms), coalesce(o.last_error, ''), "
      "coalesce(s.psn_no, ''), s.total_fen, s.fund_fen, s.cash_fen, "
      "(SELECT correction_id FROM corrections c WHERE c.target = 'settlement' AND c.setl_id = s.setl_id "
      "AND c.state = 'recorded') FROM settlements s INDEXED BY settlements_state "
      "LEFT JOIN outbox o ON o.setl_id = s.setl_id AND o.kind = 'offline_upload' "
      "WHERE s.state = 'offline_rejected' AND NOT EXISTS (SELECT 1 FROM corrections c WHERE c.target = 'settlement' "
      "AND c.setl_id = s.setl_id AND c.state = 'approved') ORDER BY s.setl_id",
      [](sql::Statement& st) {
        RejectedSettlement r;
        r.setl_id = st.column_int64(0);
        r.at_ms = st.column_int64(1);
        r.reason = st.column_text(2);
        r.psn_no = st.column_text(3);
        r.total = Amount::fen(st.column_int64(4));
        r.fund = Amount::fen(st.column_int64(5));
        r.cash = Amount::fen(st.column_int64(6));
        r.open_correction = st.column_opt_int64(7);
        return r;
      });
}

sql::Result<std::int64_t> work_count(sql::Db& db) {
  auto n = select_one<std::int64_t>(
      db,
      "SELECT (SELECT count(*) FROM outbox INDEXED BY outbox_parked WHERE state = 'parked') + (SELECT count(*) FROM "
      "stay_items INDEXED BY stay_items_open WHERE state IN ('pending', 'in_flight', 'parked') AND state = 'parked') + "
      "(SELECT count(*) FROM settlements s INDEXED BY settlements_state WHERE s.state = 'offline_rejected' "
      "AND NOT EXISTS (SELECT 1 FROM corrections c WHERE c.target = 'settlement' AND c.setl_id = s.setl_id AND "
      "c.state = 'approved')) + (SELECT count(*) FROM corrections INDEXED BY corrections_open WHERE state = 'recorded')",
      [](sql::Statement& st) { return st.column_int64(0); });
  if (!n) return n.error();
  return n->value_or(0);
}

}  // namespace settle::ledger
