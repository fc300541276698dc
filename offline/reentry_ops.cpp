// Re-entered settlements on the ledger (reentry_batches, reentry_rows,
// reentry_lines, reentry_results; schema v9): validated, entered, decided
// by a second person, and on approval turned into offline settlements.
#include "offline/reentry_ops.hpp"

#include "engine/limits.hpp"
#include "offline/digest.hpp"
#include "offline/rows.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <numeric>

namespace settle::ledger {
namespace {

// The oldest paper time accepted: a re-entry is of days, not of years.
constexpr std::int64_t kMaxAgeMs = 90LL * 24 * 3600 * 1000;

std::optional<ReentryProblem> text_field(std::int64_t row, std::string field, std::string_view v,
                                         std::size_t max) {
  if (v.empty()) return ReentryProblem{row, std::move(field), "is empty"};
  if (v.size() > max) return ReentryProblem{row, std::move(field), fmt::format("is longer than {} bytes", max)};
  return std::nullopt;
}

constexpr std::string_view kBatchCols =
    "batch_id, batch_ref, content_hash, entered_by, entered_at_ms, row_count, total_fen, cash_fen, state, "
    "decided_by, decided_at_ms, decision_note";

ReentryBatch read_batch(sql::Statement& st) {
  ReentryBatch b;
  b.batch_id = st.column_int64(0);
  b.batch_ref = st.column_text(1);
  b.content_hash = st.column_text(2);
  b.entered_by = st.column_text(3);
  b.entered_at_ms = st.column_int64(4);
  b.row_count = st.column_int64(5);
  b.total = Amount::fen(st.column_int64(6));
  b.cash = Amount::fen(st.column_int64(7));
  b.state = st.column_text(8);
  b.decided_by = st.column_opt_text(9);
  if (!st.is_null(10)) b.decided_at_ms = st.column_int64(10);
  b.decision_note = st.column_text(11);
  return b;
}

std::optional<LineClass> line_class(std::string_view s) {
  if (s == "A") return LineClass::a;
  if (s == "B") return LineClass::b;
  if (s == "C") return LineClass::c;
  return std::nullopt;
}

}  // namespace

Amount ReentryRow::total() const {
  Amount t;
  for (const ReentryLine& l : lines) t += l.amount;
  return t;
}

std::string reentry_request_id(std::int64_t batch_id, std::int64_t row_no) {
  return fmt::format("reentry-{}-{}", batch_id, row_no);
}

std::optional<ReentryProblem> validate_reentry(const ReentryInput& in, std::int64_t now_ms) {
  if (auto p = text_field(0, "batch_ref", in.batch_ref, 64)) return p;
  if (in.rows.empty()) return ReentryProblem{0, "rows", "has no rows"};
  if (in.rows.size() > max_reentry_rows)
    return ReentryProblem{0, "rows", fmt::format("has {} rows, at most {} in one batch", in.rows.size(), max_reentry_rows)};
  for (const ReentryRow& r : in.rows) {
    const std::int64_t n = r.row_no;
    if (r.at_ms > now_ms) return ReentryProblem{n, "at", "is in the future"};
    if (r.at_ms < now_ms - kMaxAgeMs) return ReentryProblem{n, "at", "is more than 90 days ago"};
    if (auto p = text_field(n, "window", r.window_id, 32)) return p;
    if (auto p = text_field(n, "operator", r.operator_id, 64)) return p;
    if (auto p = text_field(n, "card_no", r.card_no, 32)) return p;
    if (!std::all_of(r.card_no.begin(), r.card_no.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }))
      return ReentryProblem{n, "card_no", "holds characters other than letters and digits"};
    if (r.psn_name.size() > 64) return ReentryProblem{n, "psn_name", "is longer than 64 bytes"};
    if (r.lines.empty()) return ReentryProblem{n, "lines", "has no charge lines"};
    if (r.lines.size() > max_reentry_lines)
      return ReentryProblem{n, "lines", fmt::format("has {} lines, at most {}", r.lines.size(), max_reentry_lines)};
    for (std::size_t i = 0; i < r.lines.size(); ++i) {
      const ReentryLine& l = r.lines[i];
      const std::string at = fmt::format("lines[{}]", i);
      if (auto p = text_field(n, at + ".code", l.code, 64)) return p;
      if (auto p = text_field(n, at + ".name", l.name, 200)) return p;
      if (!line_class(l.cls)) return ReentryProblem{n, at + ".class", fmt::format("\"{}\" is not A, B or C", l.cls)};
      if (l.amount.is_negative()) return ReentryProblem{n, at + ".amount", "is negative"};
      if (l.amount.fen() > limits::amount_max_fen) return ReentryProblem{n, at + ".amount", "is too large"};
    }
    if (r.total().fen() > limits::amount_max_fen) return ReentryProblem{n, "lines", "add up to too much"};
    if (r.cash.is_negative()) return ReentryProblem{n, "cash", "is negative"};
    if (r.cash > r.total())
      return ReentryProblem{n, "cash", fmt::format("{} is more than the lines' total {}", r.cash.fen(), r.total().fen())};
  }
  return std::nullopt;
}

std::string reentry_content_hash(const ReentryInput& in) {
  std::string text;
  for (const ReentryRow& r : in.rows) {
    text += fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1e", r.at_ms, r.window_id, r.operator_id, r.card_no,
                        r.psn_name, r.cash.fen());
    for (const ReentryLine& l : r.lines)
      text += fmt::format("{}\x1f{}\x1f{}\x1f{}\x1d", l.code, l.name, l.cls, l.amount.fen());
  }
  return digest::sha256_hex(text);
}

sql::Result<ReentryRecorded> record_reentry(sql::Db& db, const ReentryInput& in, std::string_view by,
                                            std::int64_t at_ms) {
  const std::string hash = reentry_content_hash(in);
  auto same_ref = select_one<std::int64_t>(db, "SELECT batch_id FROM reentry_batches WHERE batch_ref = ?1",
                                           [](sql::Statement& st) { return st.column_int64(0); }, in.batch_ref);
  if (!same_ref) return same_ref.error();
  if (*same_ref) return ReentryRecorded{**same_ref, false, "batch_ref"};
  auto same_content = select_one<std::int64_t>(
      db, "SELECT batch_id FROM reentry_batches WHERE content_hash = ?1 AND state <> 'refused' ORDER BY batch_id LIMIT 1",
      [](sql::Statement& st) { return st.column_int64(0); }, hash);
  if (!same_content) return same_content.error();
  if (*same_content) return ReentryRecorded{**same_content, false, "content"};

  Amount total, cash;
  for (const ReentryRow& r : in.rows) {
    total += r.total();
    cash += r.cash;
  }
  auto st = db.cached(
      "INSERT INTO reentry_batches(batch_ref, content_hash, entered_by, entered_at_ms, row_count, total_fen, cash_fen, "
      "state) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 'entered')");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(in.batch_ref, hash, by, at_ms, static_cast<std::int64_t>(in.rows.size()), total.fen(),
                                 cash.fen()));
  SETTLE_SQL_TRY((*st)->run());
  const std::int64_t id = db.last_insert_rowid();
  auto row = db.cached(
      "INSERT INTO reentry_rows(batch_id, row_no, at_ms, window_id, operator_id, card_no, psn_name, total_fen, "
      "cash_fen) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  if (!row) return row.error();
  auto line = db.cached(
      "INSERT INTO reentry_lines(batch_id, row_no, line_no, code, name, class, amount_fen) "
      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!line) return line.error();
  for (const ReentryRow& r : in.rows) {
    (*row)->reset();
    SETTLE_SQL_TRY((*row)->bind_all(id, r.row_no, r.at_ms, r.window_id, r.operator_id, r.card_no, r.psn_name,
                                    r.total().fen(), r.cash.fen()));
    SETTLE_SQL_TRY((*row)->run());
    std::int64_t no = 0;
    for (const ReentryLine& l : r.lines) {
      (*line)->reset();
      SETTLE_SQL_TRY((*line)->bind_all(id, r.row_no, ++no, l.code, l.name, l.cls, l.amount.fen()));
      SETTLE_SQL_TRY((*line)->run());
    }
  }
  return ReentryRecorded{id, true, ""};
}

sql::Result<std::optional<ReentryBatch>> get_reentry(sql::Db& db, std::int64_t batch_id, bool with_rows) {
  auto b = select_one<ReentryBatch>(db, fmt::format("SELECT {} FROM reentry_batches WHERE batch_id = ?1", kBatchCols),
                                    read_batch, batch_id);
  if (!b) return b.error();
  if (!*b || !with_rows) return b;
  ReentryBatch& out = **b;
  auto rows = select_all<ReentryRow>(
      db,
      "SELECT row_no, at_ms, window_id, operator_id, card_no, psn_name, cash_fen FROM reentry_rows "
      "WHERE batch_id = ?1 ORDER BY row_no",
      [](sql::Statement& st) {
        ReentryRow r;
        r.row_no = st.column_int64(0);
        r.at_ms = st.column_int64(1);
        r.window_id = st.column_text(2);
        r.operator_id = st.column_text(3);
        r.card_no = st.column_text(4);
        r.psn_name = st.column_text(5);
        r.cash = Amount::fen(st.column_int64(6));
        return r;
      },
      batch_id);
  if (!rows) return rows.error();
  out.rows = std::move(*rows);
  struct L {
    std::int64_t row_no;
    ReentryLine line;
  };
  auto lines = select_all<L>(
      db,
      "SELECT row_no, code, name, class, amount_fen FROM reentry_lines WHERE batch_id = ?1 ORDER BY row_no, line_no",
      [](sql::Statement& st) {
        return L{st.column_int64(0),
                 ReentryLine{st.column_text(1), st.column_text(2), st.column_text(3), Amount::fen(st.column_int64(4))}};
      },
      batch_id);
  if (!lines) return lines.error();
  for (L& l : *lines)
    for (ReentryRow& r : out.rows)
      if (r.row_no == l.row_no) r.lines.push_back(std::move(l.line));
  out.setl_ids.assign(out.rows.size(), std::nullopt);
  out.estimate_funds.assign(out.rows.size(), std::nullopt);
  struct R {
    std::int64_t row_no, setl_id, estimate;
  };
  auto results = select_all<R>(
      db, "SELECT row_no, setl_id, estimate_fund_fen FROM reentry_results WHERE batch_id = ?1",
      [](sql::Statement& st) { return R{st.column_int64(0), st.column_int64(1), st.column_int64(2)}; }, batch_id);
  if (!results) return results.error();
  for (const R& r : *results)
    for (std::size_t i = 0; i < out.rows.size(); ++i)
      if (out.rows[i].row_no == r.row_no) {
        out.setl_ids[i] = r.setl_id;
        out.estimate_funds[i] = Amount::fen(r.estimate);
      }
  return b;
}

sql::Result<std::vector<ReentryBatch>> list_reentries(sql::Db& db, std::string_view state, int limit) {
  return select_all<ReentryBatch>(
      db,
      fmt::format("SELECT {} FROM reentry_batches WHERE (?1 = '' OR state = ?1) ORDER BY batch_id DESC LIMIT ?2",
                  kBatchCols),
      read_batch, state, static_cast<std::int64_t>(limit));
}

sql::Result<std::vector<ReentryLateItem>> reentries_after_closeout(sql::Db& db) {
  return select_all<ReentryLateItem>(
      db,
      "SELECT r.batch_id, r.row_no, r.setl_id, s.created_at_ms, s.operator_id, s.window_id, "
      "(SELECT min(c.closeout_id) FROM closeouts AS c WHERE c.operator_name = s.operator_id "
      " AND c.window_id = s.window_id AND c.to_ms >= s.created_at_ms), s.total_fen, s.cash_fen "
      "FROM reentry_results AS r JOIN settlements AS s ON s.setl_id = r.setl_id "
      "WHERE NOT EXISTS (SELECT 1 FROM closeout_items AS i WHERE i.kind = 'settlement' AND i.ref_id = r.setl_id) "
      "AND EXISTS (SELECT 1 FROM closeouts AS c WHERE c.operator_name = s.operator_id "
      " AND c.window_id = s.window_id AND c.to_ms >= s.created_at_ms) "
      "ORDER BY r.setl_id",
      [](sql::Statement& st) {
        ReentryLateItem it;
        it.batch_id = st.column_int64(0);
        it.row_no = st.column_int64(1);
        it.setl_id = st.column_int64(2);
        it.at_ms = st.column_int64(3);
        it.operator_id = st.column_text(4);
        it.window_id = st.column_text(5);
        it.closeout_id = st.column_int64(6);
        it.total = Amount::fen(st.column_int64(7));
        it.cash = Amount::fen(st.column_int64(8));
        return it;
      });
}

sql::Result<ReentryBatch> decide_reentry(sql::Db& db, std::int64_t batch_id, bool approve, std::string_view by,
                                         std::string_view note, std::int64_t at_ms,
                                         const std::function<std::string(std::int64_t)>& clearing_date,
                                         const ReentryEstimator& estimate) {
  auto found = get_reentry(db, batch_id, approve);
  if (!found) return found.error();
  if (!found->has_value()) return not_found(fmt::format("re-entry batch {} does not exist", batch_id));
  ReentryBatch b = std::move(**found);
  if (b.state != "entered") return invalid_state(fmt::format("re-entry batch {} is {} already", batch_id, b.state));
  if (b.entered_by == by)
    return invalid_state(fmt::format("re-entry batch {} was entered by {}: a second person decides it", batch_id, by));
  if (approve) {
    // Oldest first by the paper's time, so that the uploads go in that order.
    std::vector<std::size_t> order(b.rows.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t x, std::size_t y) { return b.rows[x].at_ms < b.rows[y].at_ms; });
    auto result = db.cached(
        "INSERT INTO reentry_results(batch_id, row_no, setl_id, estimate_fund_fen) VALUES(?1, ?2, ?3, ?4)");
    if (!result) return result.error();
    for (std::size_t i : order) {
      const ReentryRow& r = b.rows[i];
      const ReentryEstimate e = estimate(r);
      const std::string request_id = reentry_request_id(batch_id, r.row_no);
      const std::string why = fmt::format("re-entered from the paper ledger: batch {} ({}) row {}, entered by {}, "
                                          "approved by {}",
                                          batch_id, b.batch_ref, r.row_no, b.entered_by, by);
      Request req;
      req.request_id = request_id;
      req.method = "reentry.approve";
      req.payload_hash = b.content_hash;
      req.operator_id = r.operator_id;
      req.window_id = r.window_id;
      req.created_at_ms = r.at_ms;
      auto rec = record_request(db, req);
      if (!rec) return rec.error();
      if (!rec->inserted) return invalid_state(fmt::format("request_id {} exists already", request_id));
      SETTLE_SQL_TRY(answer_request(db, request_id, fmt::format(R"({{"reentry_batch":{},"row":{}}})", batch_id, r.row_no),
                                    at_ms));
      Settlement s;
      s.request_id = request_id;
      s.window_id = r.window_id;
      s.operator_id = r.operator_id;
      s.card_no = r.card_no;
      s.psn_no = e.psn_no;
      s.insutype = e.insutype;
      s.visit_type = VisitType::outpatient;
      s.mode = Mode::offline;
      s.total = r.total();
      s.cash = r.cash;
      s.account = Amount::zero();
      s.fund = s.total - r.cash;
      s.fulamt_ownpay = e.fulamt_ownpay;
      s.preselfpay = e.preselfpay;
      s.inscp = e.inscp;
      s.deductible_part = e.deductible_part;
      s.reasons = e.reasons;
      s.receipt_no = fmt::format("FR{}-{}", batch_id, r.row_no);
      s.state = SettlementState::offline_pending;
      s.created_at_ms = r.at_ms;
      s.clearing_date = clearing_date(r.at_ms);
      s.offline_reason = "reentered";
      std::vector<SettlementLine> lines;
      for (std::size_t k = 0; k < r.lines.size(); ++k) {
        const ReentryLine& l = r.lines[k];
        SettlementLine sl;
        sl.code = l.code;
        sl.name = l.name;
        sl.cls = *line_class(l.cls);
        sl.amount = l.amount;
        if (sl.cls == LineClass::b && k < e.selfpay_ratio_ppm.size()) sl.selfpay_ratio = Ratio::ppm(e.selfpay_ratio_ppm[k]);
        lines.push_back(std::move(sl));
      }
      auto setl = record_settlement(db, s, lines);
      if (!setl) return setl.error();
      auto ev = append_event(db, Event{0, at_ms, Entity::settlement, std::to_string(*setl), "offline_pending",
                                       "offline_pending", why});
      if (!ev) return ev.error();
      auto item = enqueue_outbox(db, OutboxKind::offline_upload, *setl, std::nullopt, "", at_ms);
      if (!item) return item.error();
      (*result)->reset();
      SETTLE_SQL_TRY((*result)->bind_all(batch_id, r.row_no, *setl, e.fund.fen()));
      SETTLE_SQL_TRY((*result)->run());
      b.setl_ids[i] = *setl;
      b.estimate_funds[i] = e.fund;
    }
  }
  auto st = db.cached(
      "UPDATE reentry_batches SET state = ?2, decided_by = ?3, decided_at_ms = ?4, decision_note = ?5 "
      "WHERE batch_id = ?1 AND state = 'entered'");
  if (!st) return st.error();
  (*st)->reset();
  SETTLE_SQL_TRY((*st)->bind_all(batch_id, std::string_view(approve ? "approved" : "refused"), by, at_ms, note));
  SETTLE_SQL_TRY((*st)->run());
  b.state = approve ? "approved" : "refused";
  b.decided_by = std::string(by);
  b.decided_at_ms = at_ms;
  b.decision_note = std::string(note);
  return b;
}

}  // namespace settle::ledger
