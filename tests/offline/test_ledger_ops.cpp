// The typed operations and the schema's guarantees: request_id and msgid
// uniqueness, money that cannot be rewritten, an append-only history, state
// transitions, the outbox's order and retries, and the read side.
#include "offline/ledger.hpp"
#include "sample.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <filesystem>

using namespace settle;
using namespace settle::ledger;
using settle::test::TestDir;

namespace {

struct Fixture {
  TestDir dir{"ledger-ops"};
  std::unique_ptr<Ledger> ledger;
  Fixture() {
    auto l = Ledger::open(dir.file("ledger.db"));
    REQUIRE(l.ok());
    ledger = std::move(l).value();
  }
  // Runs raw SQL as a write job and returns its outcome.
  sql::Status exec(std::string text) {
    return ledger->write_wait([text](sql::Db& db) { return db.exec(text); });
  }
  std::int64_t count(std::string text) {
    auto n = ledger->read([text](sql::Db& db) { return db.query_int64(text); });
    REQUIRE(n.ok());
    return n->value_or(-1);
  }
  std::int64_t settle(const std::string& id, std::int64_t total = 10'000) {
    auto r = ledger->write_wait([id, total](sql::Db& db) { return test::record_sample(db, id, total); });
    REQUIRE(r.ok());
    return *r;
  }
};

constexpr std::string_view kMsgid1 = "H11010500001202611221030450001";
constexpr std::string_view kMsgid2 = "H11010500001202611221030450002";

}  // namespace

TEST_CASE_FIXTURE(Fixture, "request_id is unique: a retry gets the first row back") {
  auto first = ledger->write_wait([](sql::Db& db) { return record_request(db, test::sample_request("r1")); });
  REQUIRE(first.ok());
  CHECK(first->inserted);
  auto other = test::sample_request("r1");
  other.payload_hash = "different";
  auto second = ledger->write_wait([other](sql::Db& db) { return record_request(db, other); });
  REQUIRE(second.ok());
  CHECK_FALSE(second->inserted);
  CHECK(second->request.payload_hash == "hash-r1");  // the caller sees the conflict
  CHECK(count("SELECT count(*) FROM requests") == 1);
  // Bypassing the operation hits the primary key.
  CHECK(exec("INSERT INTO requests(request_id, method, payload_hash, state, created_at_ms) "
             "VALUES('r1','m','h','in_progress',1)")
            .is(sql::Errc::unique));

  // The first answer is stored once and never replaced.
  REQUIRE(ledger->write_wait([](sql::Db& db) { return answer_request(db, "r1", R"({"ok":1})", 5); }).ok());
  CHECK(ledger->write_wait([](sql::Db& db) { return answer_request(db, "r1", R"({"ok":2})", 6); })
            .is(sql::Errc::invalid_state));
  CHECK(ledger->write_wait([](sql::Db& db) { return answer_request(db, "nope", "{}", 6); })
            .is(sql::Errc::not_found));
  CHECK(exec("UPDATE requests SET answer = 'x' WHERE request_id = 'r1'").is(sql::Errc::trigger));
  auto r = ledger->read([](sql::Db& db) { return find_request(db, "r1"); });
  REQUIRE(r.ok());
  REQUIRE(r->has_value());
  CHECK((*r)->state == RequestState::answered);
  CHECK((*r)->answer == R"({"ok":1})");
  CHECK((*r)->answered_at_ms == 5);
  // The row is the request's whole history: both times on it, no event rows.
  CHECK((*r)->created_at_ms == test::sample_request("r1").created_at_ms);
  CHECK(count("SELECT count(*) FROM events WHERE entity = 'request'") == 0);
  CHECK(exec("UPDATE requests SET created_at_ms = 7 WHERE request_id = 'r1'").is(sql::Errc::trigger));
  CHECK(exec("DELETE FROM requests WHERE request_id = 'r1'").is(sql::Errc::trigger));
}

// A query's message is written once, after its reply: one row in its final
// state and one event, where a money call's takes three writes.
TEST_CASE_FIXTURE(Fixture, "a query's message is written once, with its outcome") {
  REQUIRE(ledger->write_wait([](sql::Db& db) { return record_request(db, test::sample_request("r1")); }).ok());
  Message q;
  q.msgid = kMsgid1;
  q.infno = "2201";
  q.request_id = "r1";
  q.created_at_ms = 10;
  q.updated_at_ms = 14;
  q.state = MessageState::answered;
  q.infcode = -1;
  q.err_msg = "no such visit";
  REQUIRE(ledger->write_wait([q](sql::Db& db) { return record_query(db, q); }).ok());
  CHECK(ledger->write_wait([q](sql::Db& db) { return record_query(db, q); }).is(sql::Errc::unique));
  auto got = ledger->read([](sql::Db& db) { return find_message(db, kMsgid1); });
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->state == MessageState::answered);
  CHECK((*got)->infcode == -1);
  CHECK((*got)->err_msg == "no such visit");
  CHECK((*got)->created_at_ms == 10);
  CHECK((*got)->updated_at_ms == 14);
  auto history = ledger->read([](sql::Db& db) { return list_events(db, Entity::message, kMsgid1); });
  REQUIRE(history.ok());
  REQUIRE(history->size() == 1);
  CHECK((*history)[0].to_state == "answered");
  CHECK_FALSE((*history)[0].from_state.has_value());
  // Closed as it is written: nothing for start-up recovery to look at.
  auto open = ledger->read([](sql::Db& db) { return list_messages(db, MessageState::written); });
  REQUIRE(open.ok());
  CHECK(open->empty());

  // Its reply lost: abandoned; nothing sent: unsent. Never open, never in doubt.
  Message lost = q;
  lost.msgid = kMsgid2;
  lost.state = MessageState::abandoned;
  lost.infcode.reset();
  lost.err_msg.reset();
  REQUIRE(ledger->write_wait([lost](sql::Db& db) { return record_query(db, lost); }).ok());
  for (const MessageState s : {MessageState::written, MessageState::sent, MessageState::in_doubt, MessageState::reversed}) {
    Message bad = lost;
    bad.msgid = std::string(kMsgid2).substr(0, 26) + "0999";
    bad.state = s;
    CHECK(ledger->write_wait([bad](sql::Db& db) { return record_query(db, bad); }).is(sql::Errc::invalid_state));
  }
  auto work = ledger->read([](sql::Db& db) { return open_work(db); });
  REQUIRE(work.ok());
  CHECK(work->in_doubt == 0);
}

TEST_CASE_FIXTURE(Fixture, "msgid is unique and moves only along allowed states") {
  REQUIRE(ledger->write_wait([](sql::Db& db) { return record_request(db, test::sample_request("r1")); }).ok());
  Message m;
  m.msgid = kMsgid1;
  m.infno = "2207";
  m.request_id = "r1";
  m.created_at_ms = 10;
  REQUIRE(ledger->write_wait([m](sql::Db& db) { return record_message(db, m); }).ok());
  CHECK(ledger->write_wait([m](sql::Db& db) { return record_message(db, m); }).is(sql::Errc::unique));

  CHECK(ledger->write_wait([](sql::Db& db) { return mark_reversed(db, kMsgid1, 11); }).is(sql::Errc::invalid_state));
  REQUIRE(ledger->write_wait([](sql::Db& db) { return mark_sent(db, kMsgid1, 11); }).ok());
  REQUIRE(ledger->write_wait([](sql::Db& db) { return mark_answered(db, kMsgid1, 12, 0); }).ok());
  CHECK(ledger->write_wait([](sql::Db& db) { return mark_in_doubt(db, kMsgid1, 13); }).is(sql::Errc::invalid_state));
  CHECK(ledger->write_wait([](sql::Db& db) { return mark_sent(db, kMsgid2, 13); }).is(sql::Errc::not_found));
  CHECK(exec(fmt::format("UPDATE insurer_messages SET infno = '2208' WHERE msgid = '{}'", kMsgid1))
            .is(sql::Errc::trigger));

  auto got = ledger->read([](sql::Db& db) { return find_message(db, kMsgid1); });
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->state == MessageState::answered);
  CHECK((*got)->infcode == 0);
  auto history = ledger->read([](sql::Db& db) { return list_events(db, Entity::message, kMsgid1); });
  REQUIRE(history.ok());
  REQUIRE(history->size() == 3);
  CHECK((*history)[0].to_state == "written");
  CHECK((*history)[1].from_state == "written");
  CHECK((*history)[2].to_state == "answered");

  // In doubt, then reversed; listed while open.
  Message m2 = m;
  m2.msgid = kMsgid2;
  REQUIRE(ledger->write_wait([m2](sql::Db& db) -> sql::Status {
                SETTLE_SQL_TRY(record_message(db, m2));
                SETTLE_SQL_TRY(mark_sent(db, kMsgid2, 20));
                return mark_in_doubt(db, kMsgid2, 21);
              }).ok());
  auto doubt = ledger->read([](sql::Db& db) { return list_messages(db, MessageState::in_doubt); });
  REQUIRE(doubt.ok());
  REQUIRE(doubt->size() == 1);
  CHECK(doubt->front().msgid == kMsgid2);
  auto work = ledger->read([](sql::Db& db) { return open_work(db); });
  REQUIRE(work.ok());
  CHECK(work->in_doubt == 1);
  REQUIRE(ledger->write_wait([](sql::Db& db) { return mark_reversed(db, kMsgid2, 22); }).ok());
  auto high = ledger->read([](sql::Db& db) { return highest_msgid(db, "H11010500001"); });
  REQUIRE(high.ok());
  CHECK(*high == std::string(kMsgid2));
  auto none = ledger->read([](sql::Db& db) { return highest_msgid(db, "H99999999999"); });
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
}

TEST_CASE_FIXTURE(Fixture, "money columns of a recorded settlement or refund cannot be updated or deleted") {
  const std::int64_t id = settle("r1");
  for (const char* col : {"total_fen", "fund_fen", "account_fen", "cash_fen", "fulamt_ownpay_fen", "preselfpay_fen",
                          "inscp_fen", "deductible_part_fen"}) {
    INFO(col);
    CHECK(exec(fmt::format("UPDATE settlements SET {0} = {0} + 1 WHERE setl_id = {1}", col, id))
              .is(sql::Errc::trigger));
  }
  // Even a consistent rewrite of the split is refused.
  CHECK(exec(fmt::format("UPDATE settlements SET fund_fen = fund_fen - 1, cash_fen = cash_fen + 1 WHERE setl_id = {}",
                         id))
            .is(sql::Errc::trigger));
  CHECK(exec("UPDATE settlement_lines SET amount_fen = 1").is(sql::Errc::trigger));
  CHECK(exec("DELETE FROM settlement_lines").is(sql::Errc::trigger));
  CHECK(exec("DELETE FROM settlements").is(sql::Errc::trigger));

  Refund rf;
  rf.request_id = "rf1";
  rf.setl_id = id;
  rf.window_id = "W1";
  rf.operator_id = "C007";
  rf.total = Amount::fen(1000);
  rf.fund = Amount::fen(600);
  rf.cash = Amount::fen(400);
  rf.created_at_ms = 2;
  rf.clearing_date = "2026-11-22";
  rf.lines = {{"B001", Amount::fen(1000)}};
  auto rid = ledger->write_wait([rf](sql::Db& db) -> sql::Result<std::int64_t> {
    auto r = record_request(db, test::sample_request(rf.request_id));
    if (!r) return r.error();
    return record_refund(db, rf);
  });
  REQUIRE(rid.ok());
  CHECK(exec("UPDATE refunds SET cash_fen = 0, fund_fen = 1000").is(sql::Errc::trigger));
  CHECK(exec("DELETE FROM refunds").is(sql::Errc::trigger));
  CHECK(exec("UPDATE refund_lines SET amount_fen = 5").is(sql::Errc::trigger));
  // The state may move; the money stayed.
  REQUIRE(ledger->write_wait([id](sql::Db& db) {
                return set_settlement_state(db, id, SettlementState::partly_refunded, 3, "refund 1");
              }).ok());
  CHECK(count(fmt::format("SELECT total_fen FROM settlements WHERE setl_id = {}", id)) == 10'000);
  CHECK(count("SELECT sum(cash_fen) FROM refunds") == 400);
  // A split that does not add up is refused at insert.
  auto bad = test::sample_settlement("r2");
  bad.cash = bad.cash + Amount::fen(1);
  CHECK(ledger->write_wait([bad](sql::Db& db) -> sql::Result<std::int64_t> {
                auto r = record_request(db, test::sample_request("r2"));
                if (!r) return r.error();
                return record_settlement(db, bad, {});
              }).is(sql::Errc::constraint));
}

TEST_CASE_FIXTURE(Fixture, "events cannot be updated or deleted") {
  settle("r1");
  CHECK(count("SELECT count(*) FROM events") >= 1);
  CHECK(exec("UPDATE events SET detail = 'rewritten'").is(sql::Errc::trigger));
  CHECK(exec("DELETE FROM events").is(sql::Errc::trigger));
  CHECK(exec("DELETE FROM events WHERE event_id = 1").is(sql::Errc::trigger));
  auto e = ledger->write_wait([](sql::Db& db) {
    return append_event(db, Event{0, 5, Entity::ledger, "daemon", std::nullopt, "started", "v0.1"});
  });
  REQUIRE(e.ok());
  CHECK(*e > 0);
  CHECK(count("SELECT count(*) FROM events WHERE entity = 'ledger'") == 1);
}

TEST_CASE_FIXTURE(Fixture, "settlement states move only along allowed transitions") {
  const std::int64_t id = settle("r1");
  CHECK(ledger->write_wait([id](sql::Db& db) {
              return set_settlement_state(db, id, SettlementState::offline_accepted, 2);
            }).is(sql::Errc::invalid_state));
  REQUIRE(ledger->write_wait([id](sql::Db& db) { return set_settlement_state(db, id, SettlementState::refunded, 2); })
              .ok());
  CHECK(ledger->write_wait([id](sql::Db& db) { return set_settlement_state(db, id, SettlementState::settled, 3); })
            .is(sql::Errc::invalid_state));
  CHECK(ledger->write_wait([](sql::Db& db) { return set_settlement_state(db, 999, SettlementState::settled, 3); })
            .is(sql::Errc::not_found));
}

TEST_CASE_FIXTURE(Fixture, "outbox: reversals first, then uploads oldest first, with retries") {
  // An offline settlement and a message in doubt.
  const auto off = test::sample_offline_settlement("r-off");
  auto ids = ledger->write_wait([off](sql::Db& db) -> sql::Result<std::int64_t> {
    auto r = record_request(db, test::sample_request("r-off"));
    if (!r) return r.error();
    auto s = record_settlement(db, off, {});
    if (!s) return s.error();
    auto up = enqueue_outbox(db, OutboxKind::offline_upload, *s, std::nullopt, "{}", 100);
    if (!up) return up.error();
    SETTLE_SQL_TRY(record_message(db, Message{std::string(kMsgid1), "2207", MessageState::written, std::nullopt,
                                              std::nullopt, std::nullopt, std::nullopt, 101, 101, std::nullopt}));
    SETTLE_SQL_TRY(mark_in_doubt(db, kMsgid1, 102));
    auto rev = enqueue_outbox(db, OutboxKind::reversal, std::nullopt, kMsgid1, "{}", 103);
    if (!rev) return rev.error();
    // Enqueueing again is idempotent.
    auto again = enqueue_outbox(db, OutboxKind::reversal, std::nullopt, kMsgid1, "{}", 104);
    if (!again) return again.error();
    SETTLE_ASSERT(*again == *rev);
    return *s;
  });
  REQUIRE(ids.ok());
  CHECK(count("SELECT count(*) FROM outbox") == 2);
  auto work = ledger->read([](sql::Db& db) { return open_work(db); });
  REQUIRE(work.ok());
  CHECK(work->pending_reversals == 1);
  CHECK(work->pending_uploads == 1);

  auto claimed = ledger->write_wait([](sql::Db& db) { return claim_outbox(db, 200, 1); });
  REQUIRE(claimed.ok());
  REQUIRE(claimed->size() == 1);
  CHECK(claimed->front().kind == OutboxKind::reversal);  // though queued later
  CHECK(claimed->front().attempts == 1);
  const std::int64_t rev_id = claimed->front().item_id;
  // Retry in 1 s: not due at 300, due at 1200.
  REQUIRE(ledger->write_wait([rev_id](sql::Db& db) {
                return complete_outbox(db, rev_id, OutboxOutcome::retry, 200, 1200, "timeout");
              }).ok());
  auto next = ledger->write_wait([](sql::Db& db) { return claim_outbox(db, 300, 10); });
  REQUIRE(next.ok());
  REQUIRE(next->size() == 1);
  CHECK(next->front().kind == OutboxKind::offline_upload);
  // A crash while in flight: the item comes back.
  auto requeued = ledger->write_wait([](sql::Db& db) { return requeue_in_flight(db, 400); });
  REQUIRE(requeued.ok());
  CHECK(*requeued == 1);
  auto later = ledger->write_wait([](sql::Db& db) { return claim_outbox(db, 1300, 10); });
  REQUIRE(later.ok());
  REQUIRE(later->size() == 2);
  CHECK(later->at(0).kind == OutboxKind::reversal);
  CHECK(later->at(0).attempts == 2);
  CHECK(later->at(0).last_error == "timeout");
  CHECK(later->at(1).attempts == 2);
  for (const auto& it : *later)
    REQUIRE(ledger->write_wait([id = it.item_id](sql::Db& db) {
                  return complete_outbox(db, id, OutboxOutcome::done, 1400);
                }).ok());
  const std::int64_t done_id = later->at(0).item_id;
  CHECK(ledger->write_wait([done_id](sql::Db& db) {
              return complete_outbox(db, done_id, OutboxOutcome::retry, 1500, 1500);
            }).is(sql::Errc::invalid_state));
  CHECK(exec("UPDATE outbox SET state = 'pending'").is(sql::Errc::trigger));
  CHECK(exec("DELETE FROM outbox").is(sql::Errc::trigger));
  work = ledger->read([](sql::Db& db) { return open_work(db); });
  REQUIRE(work.ok());
  CHECK(work->pending_reversals == 0);
  CHECK(work->pending_uploads == 0);
}

TEST_CASE_FIXTURE(Fixture, "get, list and clearing totals") {
  const std::int64_t a = settle("r1", 10'000);
  const std::int64_t b = settle("r2", 20'000);
  auto off = test::sample_offline_settlement("r3", 5'000, 1'700'000'000'500);
  off.reasons = {"offline_network_down", "not_on_redlist"};
  auto c = ledger->write_wait([off](sql::Db& db) -> sql::Result<std::int64_t> {
    auto r = record_request(db, test::sample_request("r3"));
    if (!r) return r.error();
    return record_settlement(db, off, {});
  });
  REQUIRE(c.ok());
  Refund rf;
  rf.request_id = "rf1";
  rf.setl_id = b;
  rf.window_id = "W1";
  rf.operator_id = "C007";
  rf.total = Amount::fen(2'000);
  rf.fund = Amount::fen(1'200);
  rf.cash = Amount::fen(800);
  rf.created_at_ms = 1'700'000'001'000;
  rf.clearing_date = "2026-11-22";
  rf.lines = {{"B001", Amount::fen(2'000)}};
  REQUIRE(ledger->write_wait([rf](sql::Db& db) -> sql::Result<std::int64_t> {
                auto r = record_request(db, test::sample_request(rf.request_id));
                if (!r) return r.error();
                auto id = record_refund(db, rf);
                if (!id) return id.error();
                SETTLE_SQL_TRY(set_settlement_state(db, rf.setl_id, SettlementState::partly_refunded, rf.created_at_ms));
                return id;
              }).ok());
  Adjustment adj;
  adj.setl_id = *c;
  adj.local_fund = off.fund;
  adj.insurer_fund = off.fund - Amount::fen(100);
  adj.local_cash = off.cash;
  adj.insurer_cash = off.cash + Amount::fen(100);
  adj.created_at_ms = 7;
  REQUIRE(ledger->write_wait([adj, id = *c](sql::Db& db) -> sql::Result<std::int64_t> {
                SETTLE_SQL_TRY(set_settlement_state(db, id, SettlementState::offline_accepted, 7));
                SETTLE_SQL_TRY(set_settlement_insurer_ids(db, id, "INS-9", "MD-9", 7));
                return record_adjustment(db, adj);
              }).ok());
  CHECK(exec(fmt::format("UPDATE settlements SET insurer_setl_id = 'other' WHERE setl_id = {}", *c))
            .is(sql::Errc::trigger));

  auto d = ledger->read([b](sql::Db& db) { return get_settlement(db, b); });
  REQUIRE(d.ok());
  REQUIRE(d->has_value());
  const SettlementDetail& det = **d;
  CHECK(det.settlement.total == Amount::fen(20'000));
  CHECK(det.settlement.state == SettlementState::partly_refunded);
  REQUIRE(det.lines.size() == 2);
  CHECK(det.lines[1].cls == LineClass::b);
  CHECK(det.lines[1].selfpay_ratio == Ratio::ppm(100'000));
  REQUIRE(det.refunds.size() == 1);
  CHECK(det.refunds[0].cash == Amount::fen(800));
  REQUIRE(det.refunds[0].lines.size() == 1);
  REQUIRE(det.events.size() == 2);
  CHECK(det.events[0].to_state == "settled");
  CHECK(det.events[1].to_state == "partly_refunded");

  auto dc = ledger->read([id = *c](sql::Db& db) { return get_settlement(db, id); });
  REQUIRE(dc.ok());
  REQUIRE(dc->has_value());
  CHECK((*dc)->settlement.reasons == std::vector<std::string>{"offline_network_down", "not_on_redlist"});
  CHECK((*dc)->settlement.insurer_setl_id == "INS-9");
  REQUIRE((*dc)->adjustments.size() == 1);
  CHECK((*dc)->adjustments[0].insurer_fund - (*dc)->adjustments[0].local_fund == Amount::fen(-100));
  auto missing = ledger->read([](sql::Db& db) { return get_settlement(db, 12345); });
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());

  auto all = ledger->read([](sql::Db& db) { return list_settlements(db, SettlementFilter{}); });
  REQUIRE(all.ok());
  CHECK(all->size() == 3);
  auto page = ledger->read([a](sql::Db& db) {
    SettlementFilter f;
    f.after_setl_id = a;
    f.limit = 1;
    return list_settlements(db, f);
  });
  REQUIRE(page.ok());
  REQUIRE(page->size() == 1);
  CHECK(page->front().setl_id == b);
  auto by_state = ledger->read([](sql::Db& db) {
    SettlementFilter f;
    f.state = SettlementState::offline_accepted;
    return list_settlements(db, f);
  });
  REQUIRE(by_state.ok());
  REQUIRE(by_state->size() == 1);
  CHECK(by_state->front().mode == Mode::offline);
  auto by_time = ledger->read([](sql::Db& db) {
    SettlementFilter f;
    f.from_ms = 1'700'000'000'100;
    return list_settlements(db, f);
  });
  REQUIRE(by_time.ok());
  CHECK(by_time->size() == 1);

  auto totals = ledger->read([](sql::Db& db) { return clearing_totals(db, "2026-11-22"); });
  REQUIRE(totals.ok());
  REQUIRE(totals->size() == 1);
  const ClearingTotals& t = totals->front();
  CHECK(t.insutype == "310");
  CHECK(t.clr_type == "11");  // outpatient
  CHECK(t.settlement_count == 3);
  CHECK(t.total == Amount::fen(35'000));
  CHECK(t.refund_count == 1);
  CHECK(t.net_total() == Amount::fen(33'000));
  CHECK(t.net_cash() == t.cash - Amount::fen(800));
  auto other_day = ledger->read([](sql::Db& db) { return clearing_totals(db, "2026-11-23"); });
  REQUIRE(other_day.ok());
  CHECK(other_day->empty());
}

TEST_CASE_FIXTURE(Fixture, "tracked offline outstanding figures equal a full count (rollbacks, other connections)") {
  const auto both = [&] {
    auto r = ledger->write_wait([](sql::Db& db) -> sql::Result<std::pair<OfflineOutstanding, OfflineOutstanding>> {
      auto tracked = offline_outstanding_tracked(db);
      if (!tracked) return tracked.error();
      auto full = offline_outstanding(db);
      if (!full) return full.error();
      return std::pair{*tracked, *full};
    });
    REQUIRE(r.ok());
    CHECK(r->first.count == r->second.count);
    CHECK(r->first.fund == r->second.fund);
    CHECK(r->first.oldest_created_ms == r->second.oldest_created_ms);
    return r->first;
  };
  CHECK(both().count == 0);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto s = test::sample_offline_settlement(fmt::format("t-off-{}", i), 1'000 * (i + 1), 1'000 + i);
    auto id = ledger->write_wait([s](sql::Db& db) -> sql::Result<std::int64_t> {
      auto r = record_request(db, test::sample_request(s.request_id));
      if (!r) return r.error();
      return record_settlement(db, s, {});
    });
    REQUIRE(id.ok());
    ids.push_back(*id);
  }
  settle("t-online");  // an online settlement does not count
  OfflineOutstanding o = both();
  CHECK(o.count == 3);
  CHECK(o.fund == Amount::fen(600 + 1'200 + 1'800));
  CHECK(o.oldest_created_ms == 1'000);
  // Accepted: no longer outstanding.
  REQUIRE(ledger->write_wait([id = ids[0]](sql::Db& db) {
                  return set_settlement_state(db, id, SettlementState::offline_accepted, 5'000);
                }).ok());
  o = both();
  CHECK(o.count == 2);
  CHECK(o.oldest_created_ms == 1'001);
  // A job that fails after storing one: rolled back, the figures with it.
  auto failed = ledger->write_wait([s = test::sample_offline_settlement("t-off-rolled-back", 5'000, 900)](sql::Db& db) -> sql::Status {
    SETTLE_SQL_TRY(record_request(db, test::sample_request(s.request_id)));
    SETTLE_SQL_TRY(record_settlement(db, s, {}));
    auto inside = offline_outstanding_tracked(db);
    if (!inside) return inside.error();
    if (inside->count != 3) return sql::DbError{sql::Errc::invalid_state, 0, "not counted inside the job"};
    return sql::DbError{sql::Errc::invalid_state, 0, "fails on purpose"};
  });
  CHECK_FALSE(failed.ok());
  CHECK(both().count == 2);
  // Another connection writes: the next call counts again.
  {
    auto other = open_connection(dir.file("ledger.db"), sql::OpenMode::read_write);  // with the chain's function
    REQUIRE(other.ok());
    REQUIRE(other->exec("PRAGMA busy_timeout = 5000").ok());
    auto up = other->exec(fmt::format("UPDATE settlements SET state = 'offline_accepted' WHERE setl_id = {}", ids[1]));
    REQUIRE_MESSAGE(up.ok(), (up.ok() ? "" : up.error().message));
  }
  o = both();
  CHECK(o.count == 1);
  CHECK(o.fund == Amount::fen(1'800));
}

TEST_CASE_FIXTURE(Fixture, "the drain's batch: lines budget, release, answers as the one-by-one operations record them") {
  // Five offline settlements of two lines each, queued for upload; a reversal queued too.
  auto made = ledger->write_wait([](sql::Db& db) -> sql::Result<std::vector<std::int64_t>> {
    std::vector<std::int64_t> setl;
    for (int k = 0; k < 5; ++k) {
      const std::string id = fmt::format("r-drain-{}", k);
      auto r = record_request(db, test::sample_request(id));
      if (!r) return r.error();
      auto off = test::sample_offline_settlement(id);
      off.offline_reason = "offline_network_down";
      const auto lines = test::sample_lines();
      auto s = record_settlement(db, off, lines);
      if (!s) return s.error();
      auto up = enqueue_outbox(db, OutboxKind::offline_upload, *s, std::nullopt, "{}", 100 + k);
      if (!up) return up.error();
      setl.push_back(*s);
    }
    SETTLE_SQL_TRY(record_message(db, Message{std::string(kMsgid1), "2207", MessageState::written, std::nullopt,
                                              std::nullopt, std::nullopt, std::nullopt, 101, 101, std::nullopt}));
    SETTLE_SQL_TRY(mark_in_doubt(db, kMsgid1, 102));
    auto rev = enqueue_outbox(db, OutboxKind::reversal, std::nullopt, kMsgid1, "{}", 103);
    if (!rev) return rev.error();
    return setl;
  });
  REQUIRE(made.ok());
  const std::vector<std::int64_t> setl = *made;
  const auto work = [&] {
    auto w = ledger->read([](sql::Db& db) { return open_work(db); });
    REQUIRE(w.ok());
    return *w;
  };
  CHECK(work().pending_reversals == 1);
  CHECK(work().pending_uploads == 5);
  // The reversal in flight still counts as a reversal.
  auto rev = ledger->write_wait([](sql::Db& db) { return claim_outbox(db, 200, 10, OutboxKind::reversal); });
  REQUIRE(rev.ok());
  REQUIRE(rev->size() == 1);
  CHECK(work().pending_reversals == 1);
  CHECK(work().pending_uploads == 5);

  // A budget of 5 lines: two settlements (4 lines), the third would pass it.
  auto batch = ledger->write_wait([](sql::Db& db) { return claim_uploads(db, 300, 10, 5); });
  REQUIRE(batch.ok());
  REQUIRE(batch->size() == 2);
  CHECK(batch->at(0).settlement.setl_id == setl[0]);
  CHECK(batch->at(1).settlement.setl_id == setl[1]);
  CHECK(batch->at(0).settlement.request_id == "r-drain-0");
  CHECK(batch->at(0).settlement.state == SettlementState::offline_pending);
  CHECK(batch->at(0).lines.size() == 2);
  CHECK(batch->at(0).lines.at(1).code == "B001");
  CHECK(batch->at(0).item.attempts == 1);
  CHECK(count("SELECT count(*) FROM outbox WHERE state = 'in_flight' AND kind = 'offline_upload'") == 2);
  CHECK(work().pending_uploads == 5);
  // The first item is taken whatever its lines.
  auto one = ledger->write_wait([](sql::Db& db) { return claim_uploads(db, 300, 10, 1); });
  REQUIRE(one.ok());
  REQUIRE(one->size() == 1);
  CHECK(one->front().settlement.setl_id == setl[2]);

  // Released (never sent): pending again, due later, the attempt not counted.
  const std::vector<std::int64_t> back{one->front().item.item_id};
  REQUIRE(ledger->write_wait([back](sql::Db& db) { return release_claimed(db, back, 900, 400); }).ok());
  CHECK(count(fmt::format("SELECT attempts FROM outbox WHERE item_id = {}", back[0])) == 0);
  CHECK(ledger->write_wait([back](sql::Db& db) { return release_claimed(db, back, 900, 400); })
            .is(sql::Errc::invalid_state));
  // Strictly oldest first: while the 3rd waits (due at 900) the 4th and 5th wait behind it.
  auto early = ledger->write_wait([](sql::Db& db) { return claim_uploads(db, 500, 10); });
  REQUIRE(early.ok());
  CHECK(early->empty());
  early = ledger->write_wait([](sql::Db& db) { return claim_uploads(db, 900, 10); });
  REQUIRE(early.ok());
  REQUIRE(early->size() == 3);
  CHECK(early->at(0).settlement.setl_id == setl[2]);
  CHECK(early->at(2).settlement.setl_id == setl[4]);

  // settlement 0 one by one, settlement 1 through record_upload_results: the same rows and events.
  Adjustment adj;
  adj.kind = AdjustmentKind::offline_upload;
  adj.local_fund = Amount::fen(6000);
  adj.insurer_fund = Amount::fen(5000);
  adj.local_cash = Amount::fen(4000);
  adj.insurer_cash = Amount::fen(5000);
  adj.note = "estimate differs";
  adj.created_at_ms = 600;
  const std::int64_t item0 = batch->at(0).item.item_id, item1 = batch->at(1).item.item_id;
  REQUIRE(ledger->write_wait([&](sql::Db& db) -> sql::Status {
                SETTLE_SQL_TRY(set_settlement_insurer_ids(db, setl[0], "S0", "M0", 600));
                SETTLE_SQL_TRY(set_settlement_state(db, setl[0], SettlementState::offline_accepted, 600, "accepted as S0"));
                Adjustment a = adj;
                a.setl_id = setl[0];
                auto id = record_adjustment(db, a);
                if (!id) return id.error();
                return complete_outbox(db, item0, OutboxOutcome::done, 600);
              }).ok());
  UploadResult accepted;
  accepted.item_id = item1;
  accepted.setl_id = setl[1];
  accepted.accepted = true;
  accepted.insurer_setl_id = "S1";
  accepted.mdtrt_id = "M1";
  accepted.detail = "accepted as S1";
  accepted.adjustment = adj;
  accepted.adjustment->setl_id = setl[1];
  UploadResult rejected;
  rejected.item_id = early->at(1).item.item_id;
  rejected.setl_id = setl[3];
  rejected.detail = "rejected: unknown_person";
  rejected.outbox_error = "rejected: unknown_person";
  const std::vector<UploadResult> results{accepted, rejected};
  REQUIRE(ledger->write_wait([results](sql::Db& db) { return record_upload_results(db, results, 600); }).ok());

  const auto detail = [&](std::int64_t id) {
    auto d = ledger->read([id](sql::Db& db) { return get_settlement(db, id); });
    REQUIRE(d.ok());
    REQUIRE(d->has_value());
    return **d;
  };
  const SettlementDetail d0 = detail(setl[0]), d1 = detail(setl[1]), d3 = detail(setl[3]);
  CHECK(d1.settlement.state == SettlementState::offline_accepted);
  CHECK(d1.settlement.insurer_setl_id == "S1");
  // The visit the insurer opened for it, which its undo (2208) names.
  CHECK(d0.settlement.mdtrt_id == "M0");
  CHECK(d1.settlement.mdtrt_id == "M1");
  CHECK_FALSE(d3.settlement.mdtrt_id.has_value());
  REQUIRE(d1.adjustments.size() == 1);
  CHECK(d1.adjustments[0].insurer_fund == d0.adjustments.at(0).insurer_fund);
  REQUIRE(d1.events.size() == d0.events.size());
  for (std::size_t i = 1; i < d0.events.size(); ++i) {
    CHECK(d1.events[i].from_state == d0.events[i].from_state);
    CHECK(d1.events[i].to_state == d0.events[i].to_state);
  }
  CHECK(d1.events.back().detail == "accepted as S1");
  REQUIRE(d1.outbox.size() == 1);
  CHECK(d1.outbox[0].state == OutboxState::done);
  CHECK(d3.settlement.state == SettlementState::offline_rejected);
  CHECK(d3.events.back().to_state == "offline_rejected");
  REQUIRE(d3.outbox.size() == 1);
  CHECK(d3.outbox[0].state == OutboxState::done);
  CHECK(d3.outbox[0].last_error == "rejected: unknown_person");
  CHECK(count(fmt::format("SELECT count(*) FROM events WHERE entity = 'outbox' AND entity_id = '{}'", item1)) ==
        count(fmt::format("SELECT count(*) FROM events WHERE entity = 'outbox' AND entity_id = '{}'", item0)));

  // An answer for a settlement that is no longer waiting: refused, nothing of the batch kept.
  UploadResult late = accepted;
  late.item_id = early->at(2).item.item_id;
  late.setl_id = setl[4];
  UploadResult twice = accepted;  // setl[1] is accepted already
  const std::vector<UploadResult> bad{late, twice};
  CHECK_FALSE(ledger->write_wait([bad](sql::Db& db) { return record_upload_results(db, bad, 700); }).ok());
  CHECK(detail(setl[4]).settlement.state == SettlementState::offline_pending);
  CHECK(count(fmt::format("SELECT count(*) FROM outbox WHERE item_id = {} AND state = 'in_flight'", late.item_id)) == 1);
  // The insurer ids are set once: the visit of an accepted settlement stays.
  CHECK(ledger->write_wait([&](sql::Db& db) { return set_settlement_insurer_ids(db, setl[1], "S1", "M9", 700); })
            .is(sql::Errc::invalid_state));
  CHECK(detail(setl[1]).settlement.mdtrt_id == "M1");

  // An insurer that gives no visit: accepted, mdtrt_id left NULL.
  UploadResult older = accepted;
  older.item_id = early->at(0).item.item_id;
  older.setl_id = setl[2];
  older.insurer_setl_id = "S2";
  older.mdtrt_id.clear();
  older.adjustment.reset();
  const std::vector<UploadResult> olders{older};
  REQUIRE(ledger->write_wait([olders](sql::Db& db) { return record_upload_results(db, olders, 800); }).ok());
  const SettlementDetail d2 = detail(setl[2]);
  CHECK(d2.settlement.state == SettlementState::offline_accepted);
  CHECK(d2.settlement.insurer_setl_id == "S2");
  CHECK_FALSE(d2.settlement.mdtrt_id.has_value());
  CHECK(count(fmt::format("SELECT count(*) FROM settlements WHERE setl_id = {} AND mdtrt_id IS NULL", setl[2])) == 1);
}

TEST_CASE_FIXTURE(Fixture, "a request's commit writes two pages: the request log's last and its id's") {
  // The WAL grows by one frame (a page and its 24-byte header) per page a
  // commit writes. The request commit opens every settlement, so what it
  // writes is what each cashier waits for (docs/ledger.md, "v2" and "v13"):
  // the row at the end of the log (in arrival order) and the request id in
  // its unique index.
  const std::string wal = dir.file("ledger.db") + "-wal";
  const auto page = count("PRAGMA page_size");
  REQUIRE(page == kLedgerPageSize);
  const auto frame = static_cast<std::uintmax_t>(page + 24);
  const auto record = [&](int i) {
    const auto id = fmt::format("req-{:06}", (i * 7919) % 1000);  // ids in no order, as cashiers' are
    REQUIRE(ledger->write_wait([id](sql::Db& db) { return record_request(db, test::sample_request(id)); }).ok());
  };
  for (int i = 0; i < 5; ++i) record(i);  // the table's first pages exist
  int two_pages = 0;
  std::uintmax_t most = 0;
  for (int i = 5; i < 45; ++i) {
    const auto before = std::filesystem::file_size(wal);
    record(i);
    const auto after = std::filesystem::file_size(wal);
    REQUIRE(after > before);  // no checkpoint rewound the WAL in between
    REQUIRE((after - before) % frame == 0);
    const auto frames = (after - before) / frame;
    if (frames <= 2) ++two_pages;
    most = std::max(most, frames);
  }
  INFO("commits of at most two pages: " << two_pages << " of 40; most pages in one commit: " << most);
  // The others start a new leaf of the log or split a leaf of the index:
  // the new leaf, its parent, and page 1 (whose header counts the file's
  // pages).
  CHECK(two_pages >= 35);
  CHECK(most <= 5);
}

TEST_CASE_FIXTURE(Fixture, "a person's open reversals are counted from the open reversals alone") {
  // Uploads waiting to be forwarded, and reversals in every state, for two people.
  const auto made = ledger->write_wait([](sql::Db& db) -> sql::Status {
    for (int i = 0; i < 30; ++i) {
      const auto off = test::sample_offline_settlement(fmt::format("up-{}", i));
      auto r = record_request(db, test::sample_request(off.request_id));
      if (!r) return r.error();
      auto s = record_settlement(db, off, {});
      if (!s) return s.error();
      auto up = enqueue_outbox(db, OutboxKind::offline_upload, *s, std::nullopt, "{}", 100 + i);
      if (!up) return up.error();
    }
    const std::array<std::pair<std::string_view, std::string_view>, 3> reversals{{
        {kMsgid1, R"({"psn_no":"P1","oinfno":"2207"})"},
        {kMsgid2, R"({"psn_no":"P2","oinfno":"2207"})"},
        {"H11010500001202611221030450003", R"({"psn_no":"P1","oinfno":"2207"})"},
    }};
    for (const auto& [msgid, payload] : reversals) {
      SETTLE_SQL_TRY(record_message(db, Message{std::string(msgid), "2207", MessageState::written, std::nullopt,
                                                std::nullopt, std::nullopt, std::nullopt, 200, 200, std::nullopt}));
      SETTLE_SQL_TRY(mark_in_doubt(db, msgid, 201));
      auto rev = enqueue_outbox(db, OutboxKind::reversal, std::nullopt, msgid, payload, 202);
      if (!rev) return rev.error();
    }
    return settle::Ok{};
  });
  REQUIRE(made.ok());
  const auto for_person = [&](std::string psn) {
    auto n = ledger->read([psn](sql::Db& db) { return pending_reversals_for(db, psn); });
    REQUIRE(n.ok());
    return *n;
  };
  const auto any_open = [&] {
    auto open = ledger->read([](sql::Db& db) { return reversal_open(db); });
    REQUIRE(open.ok());
    return *open;
  };
  CHECK(for_person("P1") == 2);
  CHECK(for_person("P2") == 1);
  CHECK(for_person("P3") == 0);
  CHECK(any_open());
  // In flight still counts; done does not.
  auto claimed = ledger->write_wait([](sql::Db& db) { return claim_outbox(db, 300, 3, OutboxKind::reversal); });
  REQUIRE(claimed.ok());
  REQUIRE(claimed->size() == 3);
  CHECK(for_person("P1") == 2);
  for (const auto& it : *claimed)
    REQUIRE(ledger->write_wait([id = it.item_id](sql::Db& db) {
                  return complete_outbox(db, id, OutboxOutcome::done, 400);
                }).ok());
  CHECK(for_person("P1") == 0);
  CHECK(for_person("P2") == 0);
  CHECK_FALSE(any_open());
  // The open uploads are still there, and were never read for this.
  CHECK(count("SELECT count(*) FROM outbox WHERE kind = 'offline_upload' AND state = 'pending'") == 30);
  CHECK(count("SELECT count(*) FROM outbox INDEXED BY outbox_open_reversals "
              "WHERE kind = 'reversal' AND state IN ('pending','in_flight')") == 0);
}
