// Reconciliation reads over the ledger: plain online settlements summed by
// SQLite over the (clearing_date, state) index per insurance type and visit
// type, every other settlement of the day (refunded, undone, offline) read one
// by one with its refunds and the figures of its latest adjustment (the
// insurer's answer to an upload, or an approved correction).
#include "offline/recon_queries.hpp"

#include <fmt/format.h>

#include <utility>

namespace settle::ledger {
namespace {

using recon::DetailRow;
using recon::RowState;

// The settlement's insured area: the column of schema v11 (insuplc_admdvs),
// or '' for a ledger older than that (every settlement the hospital's own).
sql::Result<std::string> area_column(sql::Db& db) {
  auto st = db.cached("SELECT count(*) FROM pragma_table_info('settlements') WHERE name = 'insuplc_admdvs'");
  if (!st) return st.error();
  auto row = (*st)->step();
  if (!row) return row.error();
  const bool has = *row && (*st)->column_int64(0) > 0;
  (*st)->reset();
  return std::string(has ? "coalesce(insuplc_admdvs, '')" : "''");
}

// Columns of the per-settlement read (`{}`: the area's column).
constexpr std::string_view kRowSql =
    "SELECT setl_id, coalesce(insutype, ''), state, mode, coalesce(insurer_setl_id, ''), coalesce(msgid, ''), "
    "coalesce(psn_no, ''), total_fen, fund_fen, account_fen, cash_fen, visit_type, {} FROM settlements ";

struct Lookups {
  sql::Statement* refunds = nullptr;
  sql::Statement* adjustment = nullptr;
};

sql::Result<Lookups> prepare_lookups(sql::Db& db) {
  Lookups l;
  auto r = db.cached(
      "SELECT coalesce(sum(refund_total_fen), 0), coalesce(sum(fund_fen), 0), coalesce(sum(account_fen), 0), "
      "coalesce(sum(cash_fen), 0) FROM refunds WHERE setl_id = ?1");
  if (!r) return r.error();
  l.refunds = *r;
  auto a = db.cached(
      "SELECT insurer_fund_fen, insurer_account_fen, insurer_cash_fen FROM adjustments WHERE setl_id = ?1 "
      "ORDER BY adj_id DESC LIMIT 1");
  if (!a) return a.error();
  l.adjustment = *a;
  return l;
}

// Builds the row of the settlement under `st`'s cursor. Returns false for a
// not-uploaded offline settlement (then `nu` is filled instead).
sql::Result<bool> build_row(const sql::Statement& st, Lookups& l, DetailRow& row, NotUploaded& nu) {
  const std::int64_t id = st.column_int64(0);
  const std::string_view state = st.column_text_view(2);
  const std::string_view clr_type = clr_type_of_visit(st.column_text_view(11));
  if (state == "offline_pending" || state == "offline_rejected") {
    nu = NotUploaded{id, std::string(state), st.column_text(1), std::string(clr_type), st.column_text(6),
                     Amount::fen(st.column_int64(7)), st.column_text(12)};
    return false;
  }
  row = DetailRow{};
  row.local_setl_id = std::to_string(id);
  row.insuplc_admdvs = st.column_text(12);
  row.insutype = st.column_text(1);
  row.clr_type = clr_type;
  row.setl_id = st.column_text(4);
  row.msgid = st.column_text(5);
  row.psn_no = st.column_text(6);
  if (state == "undone") {
    row.state = RowState::undone;  // nothing charged: amounts stay zero
    return true;
  }
  row.state = state == "partly_refunded" || state == "refunded" ? RowState::refunded : RowState::untouched;
  std::int64_t fund = st.column_int64(8), account = st.column_int64(9), cash = st.column_int64(10);
  // The insurer's figures from an offline upload's answer, or those of an
  // approved correction (either kind of settlement): the latest counts.
  {
    SETTLE_SQL_TRY(l.adjustment->bind(1, id));
    auto found = l.adjustment->step();
    if (!found) return found.error();
    if (*found) {
      fund = l.adjustment->column_int64(0);
      account = l.adjustment->column_int64(1);
      cash = l.adjustment->column_int64(2);
    }
    l.adjustment->reset();
  }
  std::int64_t total = fund + account + cash;
  if (row.state == RowState::refunded) {
    SETTLE_SQL_TRY(l.refunds->bind(1, id));
    auto found = l.refunds->step();
    if (!found) return found.error();
    total -= l.refunds->column_int64(0);
    fund -= l.refunds->column_int64(1);
    account -= l.refunds->column_int64(2);
    cash -= l.refunds->column_int64(3);
    l.refunds->reset();
  }
  row.total = Amount::fen(total);
  row.fund = Amount::fen(fund);
  row.account = Amount::fen(account);
  row.cash = Amount::fen(cash);
  return true;
}

// Builds every row of `where` (bound to the clearing date) and hands each to
// on_row(row, nu, counted): counted is false for an offline settlement not
// yet uploaded (nu says which).
template <class F>
sql::Status for_each_row(sql::Db& db, const char* where, std::string_view clearing_date, F&& on_row) {
  auto lookups = prepare_lookups(db);
  if (!lookups) return lookups.error();
  auto area = area_column(db);
  if (!area) return area.error();
  auto st = db.prepare(fmt::format(kRowSql, *area) + where);
  if (!st) return st.error();
  SETTLE_SQL_TRY(st->bind(1, clearing_date));
  DetailRow r;
  NotUploaded nu;
  for (;;) {
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) break;
    auto counted = build_row(*st, *lookups, r, nu);
    if (!counted) return counted.error();
    on_row(r, nu, *counted);
  }
  return settle::Ok{};
}

// Adds (sign 1) or takes out (sign -1) the sums of the day's plain online
// settlements matching `extra`, per insurance type, clearing type and area.
sql::Status add_settled(sql::Db& db, std::string_view clearing_date, std::string_view extra, int sign, ReconTotals& out) {
  auto area = area_column(db);
  if (!area) return area.error();
  auto st = db.prepare(fmt::format(
      "SELECT coalesce(insutype, ''), visit_type, count(*), sum(total_fen), sum(fund_fen), sum(account_fen), "
      "sum(cash_fen), {} FROM settlements WHERE clearing_date = ?1 AND state = 'settled'{} GROUP BY 1, 2, 8",
      *area, extra));
  if (!st) return st.error();
  SETTLE_SQL_TRY(st->bind(1, clearing_date));
  for (;;) {
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) break;
    recon::Totals& t = out.by_clearing[recon::TotalsKey{
        st->column_text(0), std::string(clr_type_of_visit(st->column_text_view(1))), st->column_text(7)}];
    t.count += sign * st->column_int64(2);
    t.total += Amount::fen(sign * st->column_int64(3));
    t.fund += Amount::fen(sign * st->column_int64(4));
    t.account += Amount::fen(sign * st->column_int64(5));
    t.cash += Amount::fen(sign * st->column_int64(6));
  }
  return settle::Ok{};
}

}  // namespace

std::string_view clr_type_of_visit(std::string_view visit_type) noexcept {
  return visit_type == "inpatient" ? recon::clr_inpatient : recon::clr_outpatient;
}

sql::Result<ReconTotals> recon_totals(sql::Db& db, std::string_view clearing_date) {
  ReconTotals out;
  // Plain online settlements: one aggregate over the index; those a
  // correction adjusted (few) are taken out again, their own figures, and
  // counted one by one below.
  SETTLE_SQL_TRY(add_settled(db, clearing_date, "", 1, out));
  SETTLE_SQL_TRY(add_settled(db, clearing_date, " AND EXISTS (SELECT 1 FROM adjustments a WHERE a.setl_id = settlements.setl_id)", -1, out));
  // Everything else, one by one (refunds, undos, offline figures, corrections).
  SETTLE_SQL_TRY(for_each_row(db,
                              "WHERE clearing_date = ?1 AND (state <> 'settled' OR EXISTS (SELECT 1 FROM "
                              "adjustments a WHERE a.setl_id = settlements.setl_id))",
                              clearing_date,
                              [&](const DetailRow& r, const NotUploaded&, bool counted) {
                                if (!counted) {
                                  ++out.not_uploaded;
                                } else if (r.state != RowState::undone) {
                                  out.by_clearing[recon::TotalsKey{r.insutype, r.clr_type, r.insuplc_admdvs}] +=
                                      recon::Totals{1, r.total, r.fund, r.account, r.cash};
                                }
                              }));
  for (const auto& [key, t] : out.by_clearing) out.by_insutype[key.insutype] += t;
  return out;
}

sql::Result<ReconDetail> recon_detail(sql::Db& db, std::string_view clearing_date) {
  ReconDetail out;
  SETTLE_SQL_TRY(for_each_row(db, "WHERE clearing_date = ?1 ORDER BY setl_id", clearing_date,
                              [&](DetailRow& r, NotUploaded& nu, bool counted) {
                                if (counted) {
                                  out.rows.push_back(std::move(r));
                                } else {
                                  out.not_uploaded.push_back(std::move(nu));
                                }
                              }));
  return out;
}

sql::Result<std::vector<NotUploaded>> recon_not_uploaded(sql::Db& db, std::string_view clearing_date) {
  std::vector<NotUploaded> out;
  auto area = area_column(db);
  if (!area) return area.error();
  auto st = db.prepare(fmt::format(
      "SELECT setl_id, state, coalesce(insutype, ''), coalesce(psn_no, ''), total_fen, visit_type, {} FROM settlements "
      "WHERE clearing_date = ?1 AND state IN ('offline_pending', 'offline_rejected') ORDER BY setl_id",
      *area));
  if (!st) return st.error();
  SETTLE_SQL_TRY(st->bind(1, clearing_date));
  for (;;) {
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(NotUploaded{st->column_int64(0), st->column_text(1), st->column_text(2),
                              std::string(clr_type_of_visit(st->column_text_view(5))), st->column_text(3),
                              Amount::fen(st->column_int64(4)), st->column_text(6)});
  }
  return out;
}

sql::Result<std::map<std::string, AdjustmentSums>> recon_adjustments(sql::Db& db, std::string_view clearing_date) {
  std::map<std::string, AdjustmentSums> out;
  auto st = db.prepare(
      "SELECT a.kind, count(*), coalesce(sum(a.insurer_fund_fen - a.local_fund_fen), 0), "
      "coalesce(sum(a.insurer_cash_fen - a.local_cash_fen), 0) FROM adjustments a JOIN settlements s ON "
      "s.setl_id = a.setl_id WHERE s.clearing_date = ?1 GROUP BY a.kind");
  if (!st) return st.error();
  SETTLE_SQL_TRY(st->bind(1, clearing_date));
  for (;;) {
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) break;
    out[st->column_text(0)] =
        AdjustmentSums{st->column_int64(1), Amount::fen(st->column_int64(2)), Amount::fen(st->column_int64(3))};
  }
  return out;
}

}  // namespace settle::ledger
