// Re-entered settlements on a real ledger file: a batch validated row by row,
// entered once (by reference and by content), approved only by a second
// person into offline settlements at their paper time with their uploads
// queued oldest first, or refused; the rows refuse change; the chain verifies.
#include "offline/chain.hpp"
#include "offline/ledger.hpp"
#include "offline/office_ops.hpp"
#include "offline/reentry_ops.hpp"
#include "ledger_fixture.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace settle;
using namespace settle::ledger;

namespace {

constexpr std::int64_t kPaperNow = 1'764'800'000'000;  // the time of entering
constexpr std::int64_t kHour = 3'600'000;

struct Reentries : settle::test::LedgerFixture {
  Reentries() : LedgerFixture("reentry-ops") {}
};

ReentryRow paper_row(std::int64_t no, std::int64_t at, std::string card, std::int64_t total, std::int64_t cash) {
  ReentryRow r;
  r.row_no = no;
  r.at_ms = at;
  r.window_id = "W03";
  r.operator_id = "C007";
  r.card_no = std::move(card);
  r.psn_name = "张三";
  r.lines = {ReentryLine{"250101001", "血常规", "A", Amount::fen(total - 1000)},
             ReentryLine{"86900001", "阿莫西林胶囊", "B", Amount::fen(1000)}};
  r.cash = Amount::fen(cash);
  return r;
}

ReentryInput paper_batch(std::string ref) {
  ReentryInput in;
  in.batch_ref = std::move(ref);
  // Written out of time order on purpose: approval stores them oldest first.
  in.rows = {paper_row(1, kPaperNow - 2 * kHour, "A11111111", 12'000, 12'000),
             paper_row(2, kPaperNow - 5 * kHour, "B22222222", 5'000, 2'000)};
  return in;
}

std::string day_of(std::int64_t) { return "2025-12-03"; }

ReentryEstimate estimate_half(const ReentryRow& r) {
  ReentryEstimate e;
  e.fund = Amount::fen(r.total().fen() / 2);
  e.reasons = {"not_on_redlist"};
  e.selfpay_ratio_ppm = {0, 100'000};
  return e;
}

}  // namespace

TEST_CASE("reentry: validation names the row and the field of the first bad row") {
  ReentryInput in = paper_batch("P-1");
  CHECK_FALSE(validate_reentry(in, kPaperNow).has_value());

  auto bad = in;
  bad.rows[1].lines[0].cls = "D";
  auto p = validate_reentry(bad, kPaperNow);
  REQUIRE(p.has_value());
  CHECK(p->row_no == 2);
  CHECK(p->field == "lines[0].class");

  bad = in;
  bad.rows[0].cash = Amount::fen(12'001);
  p = validate_reentry(bad, kPaperNow);
  REQUIRE(p.has_value());
  CHECK(p->row_no == 1);
  CHECK(p->field == "cash");

  bad = in;
  bad.rows[1].at_ms = kPaperNow + 1;
  p = validate_reentry(bad, kPaperNow);
  REQUIRE(p.has_value());
  CHECK(p->field == "at");

  bad = in;
  bad.rows[0].card_no = "12-34";
  CHECK(validate_reentry(bad, kPaperNow)->field == "card_no");
  bad = in;
  bad.rows[1].window_id.clear();
  CHECK(validate_reentry(bad, kPaperNow)->field == "window");
  bad = in;
  bad.rows[1].lines.clear();
  CHECK(validate_reentry(bad, kPaperNow)->field == "lines");

  bad = in;
  bad.rows.assign(max_reentry_rows + 1, in.rows[0]);
  p = validate_reentry(bad, kPaperNow);
  REQUIRE(p.has_value());
  CHECK(p->row_no == 0);
  CHECK(p->field == "rows");
}

TEST_CASE_FIXTURE(Reentries, "reentry: entered once by reference and by content; nothing counted until approved") {
  const ReentryInput in = paper_batch("P-1");
  auto first = write([in](sql::Db& db) { return record_reentry(db, in, "S001", kPaperNow); });
  CHECK(first.inserted);
  auto again = write([in](sql::Db& db) { return record_reentry(db, in, "S002", kPaperNow + 1); });
  CHECK_FALSE(again.inserted);
  CHECK(again.batch_id == first.batch_id);
  CHECK(again.duplicate_of == "batch_ref");
  ReentryInput other_ref = in;
  other_ref.batch_ref = "P-2";
  auto same_paper = write([other_ref](sql::Db& db) { return record_reentry(db, other_ref, "S002", kPaperNow + 2); });
  CHECK_FALSE(same_paper.inserted);
  CHECK(same_paper.duplicate_of == "content");

  auto b = read([id = first.batch_id](sql::Db& db) { return get_reentry(db, id); });
  REQUIRE(b.has_value());
  CHECK(b->state == "entered");
  CHECK(b->row_count == 2);
  CHECK(b->total.fen() == 17'000);
  CHECK(b->cash.fen() == 14'000);
  REQUIRE(b->rows.size() == 2);
  CHECK(b->rows[1].lines.size() == 2);
  CHECK(b->rows[0].psn_name == "张三");
  // Nothing else is written: no settlement, no upload.
  CHECK(read([](sql::Db& db) { return db.query_int64("SELECT count(*) FROM settlements"); }) == 0);
  CHECK(read([](sql::Db& db) { return db.query_int64("SELECT count(*) FROM outbox"); }) == 0);
  // The rows never change.
  CHECK_FALSE(shell("UPDATE reentry_rows SET cash_fen = 0").ok());
  CHECK_FALSE(shell("DELETE FROM reentry_lines").ok());
  CHECK_FALSE(shell("UPDATE reentry_batches SET total_fen = 1").ok());
}

TEST_CASE_FIXTURE(Reentries, "reentry: approved by a second person only, into offline settlements at the paper time") {
  const ReentryInput in = paper_batch("P-1");
  const std::int64_t id = write([in](sql::Db& db) { return record_reentry(db, in, "S001", kPaperNow); }).batch_id;
  // The person who entered it cannot approve it.
  auto self = ledger->write_wait([id](sql::Db& db) {
    return decide_reentry(db, id, true, "S001", "", kPaperNow + 10, day_of, estimate_half);
  });
  REQUIRE_FALSE(self.ok());
  CHECK(self.error().code == sql::Errc::invalid_state);
  CHECK(self.error().message.find("second person") != std::string::npos);
  CHECK(read([](sql::Db& db) { return db.query_int64("SELECT count(*) FROM settlements"); }) == 0);

  auto b = write([id](sql::Db& db) {
    return decide_reentry(db, id, true, "A002", "checked against the paper", kPaperNow + 20, day_of, estimate_half);
  });
  CHECK(b.state == "approved");
  CHECK(b.decided_by == "A002");
  REQUIRE(b.setl_ids.size() == 2);
  REQUIRE(b.setl_ids[0].has_value());
  REQUIRE(b.setl_ids[1].has_value());
  // Row 2 (5 hours before) is older: stored, and queued, first.
  CHECK(*b.setl_ids[1] < *b.setl_ids[0]);

  auto d = read([s = *b.setl_ids[0]](sql::Db& db) { return get_settlement(db, s); });
  REQUIRE(d.has_value());
  const Settlement& s = d->settlement;
  CHECK(s.mode == Mode::offline);
  CHECK(s.state == SettlementState::offline_pending);
  CHECK(s.offline_reason == "reentered");
  CHECK(s.created_at_ms == kPaperNow - 2 * kHour);
  CHECK(s.window_id == "W03");
  CHECK(s.operator_id == "C007");
  CHECK(s.cash.fen() == 12'000);  // the cash taken
  CHECK(s.fund.fen() == 0);
  CHECK(s.clearing_date == "2025-12-03");
  CHECK(d->lines.size() == 2);
  CHECK(d->lines[1].selfpay_ratio.ppm() == 100'000);
  auto d2 = read([s = *b.setl_ids[1]](sql::Db& db) { return get_settlement(db, s); });
  CHECK(d2->settlement.cash.fen() == 2'000);
  CHECK(d2->settlement.fund.fen() == 3'000);  // the rest is the fund's, the insurer decides
  CHECK(b.estimate_funds[1]->fen() == 2'500);

  // Uploads queued oldest first by paper time.
  auto up = read([](sql::Db& db) {
    return db.query_int64("SELECT setl_id FROM outbox WHERE kind = 'offline_upload' ORDER BY item_id LIMIT 1");
  });
  CHECK(up == *b.setl_ids[1]);
  // A day's report of that window and operator (by time) holds them.
  auto items = read([](sql::Db& db) {
    return shift_items_between(db, "C007", "W03", kPaperNow - 6 * kHour, kPaperNow);
  });
  CHECK(items.settlements.size() == 2);

  // A close-out of that operator and window recorded before covering their
  // time: both are listed until a close-out holds them.
  CHECK(read([](sql::Db& db) { return reentries_after_closeout(db); }).empty());
  REQUIRE(shell(fmt::format("INSERT INTO closeouts(request_id, operator_name, window_id, from_ms, to_ms, upto_setl_id, "
                            "upto_refund_id, recorded_at_ms, document, digest) VALUES('CO-1', 'C007', 'W03', {}, {}, 0, "
                            "0, {}, '{{}}', '{}')",
                            kPaperNow - 8 * kHour, kPaperNow - kHour, kPaperNow - kHour, std::string(64, '0')))
              .ok());
  auto late = read([](sql::Db& db) { return reentries_after_closeout(db); });
  REQUIRE(late.size() == 2);
  CHECK(late[0].setl_id == *b.setl_ids[1]);
  CHECK(late[0].closeout_id == 1);
  REQUIRE(shell(fmt::format("INSERT INTO closeout_items(kind, ref_id, closeout_id) VALUES('settlement', {}, 1)",
                            *b.setl_ids[1]))
              .ok());
  CHECK(read([](sql::Db& db) { return reentries_after_closeout(db); }).size() == 1);

  // Decided once.
  auto twice = ledger->write_wait([id](sql::Db& db) {
    return decide_reentry(db, id, false, "A003", "late", kPaperNow + 30, day_of, estimate_half);
  });
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().code == sql::Errc::invalid_state);

  auto rep = read([](sql::Db& db) { return chain::verify(db); });
  CHECK(rep.ok());
  CHECK(rep.counts["reentry_batch"] == 1);
  CHECK(rep.counts["reentry_decision"] == 1);
  CHECK(rep.counts["reentry_row"] == 2);
  CHECK(rep.counts["reentry_line"] == 4);
  CHECK(rep.counts["reentry_result"] == 2);
}

TEST_CASE_FIXTURE(Reentries, "reentry: refused with a note changes nothing; the same paper may be entered again") {
  const ReentryInput in = paper_batch("P-1");
  const std::int64_t id = write([in](sql::Db& db) { return record_reentry(db, in, "S001", kPaperNow); }).batch_id;
  auto b = write([id](sql::Db& db) {
    return decide_reentry(db, id, false, "A002", "row 2's card number unreadable", kPaperNow + 5, day_of, estimate_half);
  });
  CHECK(b.state == "refused");
  CHECK(b.decision_note == "row 2's card number unreadable");
  CHECK(read([](sql::Db& db) { return db.query_int64("SELECT count(*) FROM settlements"); }) == 0);
  CHECK(read([](sql::Db& db) { return db.query_int64("SELECT count(*) FROM requests"); }) == 0);
  // Under a new reference (the same content may come again once refused).
  ReentryInput again = in;
  again.batch_ref = "P-1b";
  auto second = write([again](sql::Db& db) { return record_reentry(db, again, "S001", kPaperNow + 6); });
  CHECK(second.inserted);
  auto list = read([](sql::Db& db) { return list_reentries(db, "", 10); });
  REQUIRE(list.size() == 2);
  CHECK(list[0].batch_id == second.batch_id);
  CHECK(read([](sql::Db& db) { return list_reentries(db, "refused", 10); }).size() == 1);
  CHECK(read([](sql::Db& db) { return chain::verify(db); }).ok());
}
