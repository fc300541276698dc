// The office's day on a real ledger file: a shift's items and its close-out
// (each item in one close-out, a repeated request the same close-out, the
// rows refusing every change), corrections decided once by a second person
// (the schema refuses the recorder), and an approved correction counted by
// the reconciliation and listed in the next close-out.
#include "offline/ledger.hpp"
#include "offline/office_ops.hpp"
#include "offline/recon_queries.hpp"
#include "sample.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>

using namespace settle;
using namespace settle::ledger;
using settle::test::TestDir;

namespace {

constexpr std::int64_t kAt = 1'700'000'000'000;

struct Office {
  TestDir dir{"office-ops"};
  std::unique_ptr<Ledger> ledger;
  Office() {
    auto l = Ledger::open(dir.file("ledger.db"));
    REQUIRE(l.ok());
    ledger = std::move(l).value();
  }
  std::int64_t settle(const std::string& id, std::int64_t total, const std::string& op = "C007",
                      const std::string& window = "W1") {
    auto r = ledger->write_wait([=](sql::Db& db) -> sql::Result<std::int64_t> {
      auto q = record_request(db, test::sample_request(id));
      if (!q) return q.error();
      Settlement s = test::sample_settlement(id, total, kAt);
      s.operator_id = op;
      s.window_id = window;
      s.insurer_setl_id = "S-" + id;
      const auto lines = test::sample_lines(total);
      return record_settlement(db, s, lines);
    });
    REQUIRE(r.ok());
    return *r;
  }
  std::int64_t refund(std::int64_t setl_id, const std::string& id, std::int64_t cash, std::int64_t at = kAt + 10) {
    auto r = ledger->write_wait([=](sql::Db& db) -> sql::Result<std::int64_t> {
      auto q = record_request(db, test::sample_request(id));
      if (!q) return q.error();
      Refund rf;
      rf.request_id = id;
      rf.setl_id = setl_id;
      rf.window_id = "W1";
      rf.operator_id = "C007";
      rf.cash = Amount::fen(cash);
      rf.total = rf.cash;
      rf.created_at_ms = at;
      rf.clearing_date = "2026-11-22";
      auto rid = record_refund(db, rf);
      if (!rid) return rid.error();
      SETTLE_SQL_TRY(set_settlement_state(db, setl_id, SettlementState::partly_refunded, at));
      return *rid;
    });
    REQUIRE(r.ok());
    return *r;
  }
  ShiftItems unclosed(const std::string& op = "C007", const std::string& window = "W1") {
    auto r = ledger->read([=](sql::Db& db) { return unclosed_shift_items(db, op, window); });
    REQUIRE(r.ok());
    return *r;
  }
  sql::Result<CloseoutRow> close(const std::string& request_id, const std::string& op = "C007",
                                 const std::string& window = "W1") {
    CloseoutRow head;
    head.request_id = request_id;
    head.operator_name = op;
    head.window = window;
    head.recorded_at_ms = kAt + 1000;
    return ledger->write_wait([head](sql::Db& db) {
      return record_closeout(db, head, [](const ShiftItems& items, CloseoutRow& row) {
        row.document = fmt::format("{{\"settlements\":{},\"refunds\":{},\"corrections\":{}}}", items.settlements.size(),
                                   items.refunds.size(), items.corrections.size());
        row.digest = std::string(64, 'a');
        row.to_ms = row.recorded_at_ms;
      });
    });
  }
  sql::Status exec(const std::string& sql) {
    return ledger->write_wait([sql](sql::Db& db) { return db.exec(sql); });
  }
};

CorrectionRow amounts(std::int64_t setl_id, std::int64_t fund, std::int64_t account, std::int64_t cash,
                      const std::string& by = "S001") {
  CorrectionRow c;
  c.target = "settlement";
  c.setl_id = setl_id;
  c.action = "amounts";
  c.fund = Amount::fen(fund);
  c.account = Amount::fen(account);
  c.cash = Amount::fen(cash);
  c.reason = "the insurer's figures";
  c.recorded_by = by;
  c.recorded_at_ms = kAt + 2000;
  return c;
}

}  // namespace

TEST_CASE("a shift's items go into one close-out; a repeated request is the same close-out; it never changes") {
  Office o;
  const auto a = o.settle("co-a", 10'000);
  const auto b = o.settle("co-b", 5'000);
  (void)o.settle("co-other-window", 7'000, "C007", "W2");
  (void)o.settle("co-other-cashier", 7'000, "C008", "W1");
  o.refund(a, "co-a-r", 1'000);
  const ShiftItems before = o.unclosed();
  CHECK(before.settlements.size() == 2);
  CHECK(before.settlements[0].setl_id == a);
  CHECK(before.settlements[1].setl_id == b);
  CHECK(before.settlements[0].cash == Amount::fen(1'000));
  REQUIRE(before.refunds.size() == 1);
  CHECK(before.refunds[0].cash == Amount::fen(1'000));

  auto first = o.close("shift-1");
  REQUIRE(first.ok());
  CHECK(first->document == "{\"settlements\":2,\"refunds\":1,\"corrections\":0}");
  CHECK(o.unclosed().settlements.empty());
  CHECK(o.unclosed().refunds.empty());
  // The same request answers the same close-out; another operator's use of it is refused.
  auto again = o.close("shift-1");
  REQUIRE(again.ok());
  CHECK(again->closeout_id == first->closeout_id);
  CHECK(o.close("shift-1", "C008").error().code == sql::Errc::invalid_state);
  // A new close-out now is empty; the other window's shift is its own.
  auto empty = o.close("shift-2");
  REQUIRE(empty.ok());
  CHECK(empty->document == "{\"settlements\":0,\"refunds\":0,\"corrections\":0}");
  CHECK(o.unclosed("C007", "W2").settlements.size() == 1);

  // Neither the close-out nor its items can be changed or removed.
  CHECK_FALSE(o.exec(fmt::format("UPDATE closeouts SET document = '{{}}' WHERE closeout_id = {}", first->closeout_id)).ok());
  CHECK_FALSE(o.exec("DELETE FROM closeouts").ok());
  CHECK_FALSE(o.exec("DELETE FROM closeout_items").ok());
  CHECK_FALSE(o.exec(fmt::format("UPDATE closeout_items SET closeout_id = {}", empty->closeout_id)).ok());
  // An item is in one close-out only (the schema's key).
  CHECK_FALSE(o.exec(fmt::format("INSERT INTO closeout_items(kind, ref_id, closeout_id) VALUES('settlement', {}, {})",
                                 a, empty->closeout_id))
                  .ok());
}

TEST_CASE("a correction is decided once, by a second person; approved amounts count in reconciliation and the next "
          "close-out") {
  Office o;
  const auto a = o.settle("cr-a", 10'000);  // 60.00 fund, 30.00 account, 10.00 cash
  REQUIRE(o.close("before").ok());
  // Figures that do not add up to the total, and an undo of a settled one, are refused at once.
  auto wrong = o.ledger->write_wait([a](sql::Db& db) { return insert_correction(db, amounts(a, 1, 1, 1)); });
  CHECK(wrong.error().code == sql::Errc::invalid_state);
  CorrectionRow undo = amounts(a, 0, 0, 0);
  undo.action = "undo";
  undo.fund = undo.account = undo.cash = std::nullopt;
  auto undo_settled = o.ledger->write_wait([undo](sql::Db& db) { return insert_correction(db, undo); });
  CHECK(undo_settled.error().code == sql::Errc::invalid_state);

  // A cash part above the cash charged at the window is refused.
  auto more_cash = o.ledger->write_wait([a](sql::Db& db) { return insert_correction(db, amounts(a, 5'900, 3'000, 1'100)); });
  CHECK(more_cash.error().code == sql::Errc::invalid_state);
  auto id = o.ledger->write_wait([a](sql::Db& db) { return insert_correction(db, amounts(a, 6'100, 3'000, 900)); });
  REQUIRE(id.ok());
  // One open correction per target.
  auto second = o.ledger->write_wait([a](sql::Db& db) { return insert_correction(db, amounts(a, 6'000, 3'000, 1'000)); });
  CHECK(second.error().code == sql::Errc::invalid_state);
  // Until approved nothing changes.
  auto totals = [&] {
    auto t = o.ledger->read([](sql::Db& db) { return recon_totals(db, "2026-11-22"); });
    REQUIRE(t.ok());
    return t->by_insutype["310"];
  };
  CHECK(totals().fund == Amount::fen(6'000));
  // The recorder cannot decide it: the operation refuses, and so does the schema.
  auto self = o.ledger->write_wait([id = *id](sql::Db& db) { return decide_correction(db, id, true, "S001", "", kAt + 3000); });
  CHECK(self.error().code == sql::Errc::invalid_state);
  CHECK_FALSE(o.exec(fmt::format("UPDATE corrections SET state = 'approved', decided_by = 'S001', decided_at_ms = 1 "
                                 "WHERE correction_id = {}",
                                 *id))
                  .ok());
  auto ok = o.ledger->write_wait([id = *id](sql::Db& db) { return decide_correction(db, id, true, "A001", "seen", kAt + 3000); });
  REQUIRE(ok.ok());
  CHECK(ok->state == "approved");
  REQUIRE(ok->adj_id.has_value());
  // Decided once; what was recorded never changes.
  auto twice = o.ledger->write_wait([id = *id](sql::Db& db) { return decide_correction(db, id, false, "A002", "", kAt + 4000); });
  CHECK(twice.error().code == sql::Errc::invalid_state);
  CHECK_FALSE(o.exec(fmt::format("UPDATE corrections SET reason = 'other' WHERE correction_id = {}", *id)).ok());
  CHECK_FALSE(o.exec("DELETE FROM corrections").ok());

  // The reconciliation counts the corrected figures, in totals and detail.
  CHECK(totals().fund == Amount::fen(6'100));
  CHECK(totals().cash == Amount::fen(900));
  CHECK(totals().count == 1);
  auto detail = o.ledger->read([](sql::Db& db) { return recon_detail(db, "2026-11-22"); });
  REQUIRE(detail.ok());
  REQUIRE(detail->rows.size() == 1);
  CHECK(detail->rows[0].fund == Amount::fen(6'100));
  // The next close-out of the window lists it with what it changed.
  const ShiftItems next = o.unclosed();
  CHECK(next.settlements.empty());
  REQUIRE(next.corrections.size() == 1);
  CHECK(next.corrections[0].fund_delta == Amount::fen(100));
  CHECK(next.corrections[0].cash_delta == Amount::fen(-100));
  CHECK(next.corrections[0].approved_by == "A001");
  REQUIRE(o.close("after").ok());
  CHECK(o.unclosed().corrections.empty());
}

TEST_CASE("approval checks the target again: a settlement undone since is not corrected") {
  Office o;
  const auto a = o.settle("re-a", 10'000);
  auto id = o.ledger->write_wait([a](sql::Db& db) { return insert_correction(db, amounts(a, 7'000, 3'000, 0)); });
  REQUIRE(id.ok());
  REQUIRE(o.ledger->write_wait([a](sql::Db& db) {
            return set_settlement_state(db, a, SettlementState::undone, kAt + 5);
          }).ok());
  auto late = o.ledger->write_wait([id = *id](sql::Db& db) { return decide_correction(db, id, true, "A001", "", kAt + 6); });
  CHECK(late.error().code == sql::Errc::invalid_state);
}

TEST_CASE("corrected figures are never below what the settlement's refunds gave back, when recorded or approved") {
  Office o;
  const auto a = o.settle("rb-a", 10'000);
  o.refund(a, "rb-r1", 800);
  // Cash 5.00 where 8.00 was already paid back: refused, nothing recorded.
  auto below = o.ledger->write_wait([a](sql::Db& db) { return insert_correction(db, amounts(a, 6'500, 3'000, 500)); });
  REQUIRE_FALSE(below.ok());
  CHECK(below.error().code == sql::Errc::invalid_state);
  CHECK(below.error().message.find("cash 800 fen") != std::string::npos);
  // Recorded while it fitted, then refunded again: its approval is refused.
  CorrectionRow fits = amounts(a, 6'100, 3'000, 900);
  fits.recorded_at_ms = kAt + 20;  // after the first refund, before the next
  auto id = o.ledger->write_wait([fits](sql::Db& db) { return insert_correction(db, fits); });
  REQUIRE(id.ok());
  o.refund(a, "rb-r2", 50, kAt + 30);
  auto late = o.ledger->write_wait([id = *id](sql::Db& db) { return decide_correction(db, id, true, "A001", "", kAt + 40); });
  REQUIRE_FALSE(late.ok());
  CHECK(late.error().code == sql::Errc::invalid_state);
  CHECK(late.error().message.find("refunded since the correction was recorded") != std::string::npos);
  auto adjustments = o.ledger->read([a](sql::Db& db) { return adjustments_of(db, a); });
  REQUIRE(adjustments.ok());
  CHECK(adjustments->empty());
}

TEST_CASE("a refused correction changes nothing; a resolve needs a parked item") {
  Office o;
  const auto a = o.settle("rf-a", 10'000);
  auto id = o.ledger->write_wait([a](sql::Db& db) { return insert_correction(db, amounts(a, 7'000, 3'000, 0)); });
  REQUIRE(id.ok());
  auto no = o.ledger->write_wait([id = *id](sql::Db& db) { return decide_correction(db, id, false, "A001", "no", kAt); });
  REQUIRE(no.ok());
  CHECK(no->state == "refused");
  CHECK_FALSE(no->adj_id.has_value());
  auto t = o.ledger->read([](sql::Db& db) { return recon_totals(db, "2026-11-22"); });
  REQUIRE(t.ok());
  CHECK(t->by_insutype["310"].fund == Amount::fen(6'000));
  CorrectionRow resolve;
  resolve.target = "outbox";
  resolve.item_id = 4711;
  resolve.action = "resolve";
  resolve.reason = "settled by phone";
  resolve.recorded_by = "S001";
  resolve.recorded_at_ms = kAt;
  auto missing = o.ledger->write_wait([resolve](sql::Db& db) { return insert_correction(db, resolve); });
  CHECK(missing.error().code == sql::Errc::not_found);
}
