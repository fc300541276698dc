// Schema v3: parked outbox items (park, list, a supervisor's retry and
// resolve, open_work's counts), insurer messages naming the person, the
// settlements' moves exactly the engine's table, and a v2 ledger migrated to
// v3 with every row and id kept.
#include "offline/ledger.hpp"
#include "offline/schema.hpp"
#include "sample.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>
#include <string>
#include <vector>

using namespace settle;
using namespace settle::ledger;
using settle::test::TestDir;

namespace {

std::unique_ptr<Ledger> open_or_fail(const std::string& path, LedgerOptions opt = {}) {
  auto l = Ledger::open(path, opt);
  if (!l) FAIL(l.error().message);
  return std::move(l).value();
}

std::string msgid_n(int n) { return fmt::format("H110105000012026112210304{:05}", n); }

// One offline settlement with its upload queued, and one in-doubt 2207 with
// its reversal queued for person P0001; returns {upload item, reversal item}.
std::pair<std::int64_t, std::int64_t> queue_two(Ledger& l, int n) {
  auto ids = l.write_wait([n](sql::Db& db) -> sql::Result<std::pair<std::int64_t, std::int64_t>> {
    const std::string req = fmt::format("off-{}", n);
    auto r = record_request(db, test::sample_request(req));
    if (!r) return r.error();
    const auto lines = test::sample_lines();
    auto s = record_settlement(db, test::sample_offline_settlement(req), lines);
    if (!s) return s.error();
    auto up = enqueue_outbox(db, OutboxKind::offline_upload, *s, std::nullopt, "{}", 100 + n);
    if (!up) return up.error();
    Message m;
    m.msgid = msgid_n(n);
    m.infno = "2207";
    m.created_at_ms = m.updated_at_ms = 100 + n;
    m.psn_no = "P0001";
    SETTLE_SQL_TRY(record_message(db, m));
    SETTLE_SQL_TRY(mark_in_doubt(db, m.msgid, 101 + n));
    auto rev = enqueue_outbox(db, OutboxKind::reversal, std::nullopt, m.msgid,
                              R"({"psn_no":"P0001","oinfno":"2207"})", 102 + n);
    if (!rev) return rev.error();
    return std::pair{*up, *rev};
  });
  REQUIRE(ids.ok());
  return *ids;
}

std::vector<std::string> rows_of(sql::Db& db, const std::string& select) {
  std::vector<std::string> rows;
  auto st = db.prepare(select);
  REQUIRE(st.ok());
  const int n = st->column_count();
  for (auto row = st->step(); row.ok() && *row; row = st->step()) {
    std::string line;
    for (int i = 0; i < n; ++i) line += (st->is_null(i) ? std::string("NULL") : st->column_text(i)) + "|";
    rows.push_back(std::move(line));
  }
  return rows;
}

}  // namespace

TEST_CASE("a refused item is parked, listed, retried or resolved by a supervisor; open_work counts it apart") {
  TestDir d("ledger-parked");
  auto l = open_or_fail(d.file("ledger.db"));
  const auto [up, rev] = queue_two(*l, 1);

  // Refused once: back to pending with the count stored.
  auto c1 = l->write_wait([](sql::Db& db) { return claim_outbox(db, 200, 10, OutboxKind::reversal); });
  REQUIRE(c1.ok());
  REQUIRE(c1->size() == 1);
  REQUIRE(l->write_wait([rev = rev](sql::Db& db) {
               return complete_outbox(db, rev, OutboxOutcome::retry, 210, 220, "infcode -1: no such msgid", 1);
             }).ok());
  auto item = l->read([rev = rev](sql::Db& db) { return find_outbox(db, rev); });
  REQUIRE(item.ok());
  REQUIRE(item->has_value());
  CHECK((*item)->refusals == 1);
  CHECK((*item)->state == OutboxState::pending);

  // Refused again: parked with its reason.
  auto c2 = l->write_wait([](sql::Db& db) { return claim_outbox(db, 300, 10, OutboxKind::reversal); });
  REQUIRE(c2.ok());
  REQUIRE(c2->size() == 1);
  REQUIRE(l->write_wait([rev = rev](sql::Db& db) {
               return complete_outbox(db, rev, OutboxOutcome::park, 310, 0, "infcode -1: no such msgid", 2);
             }).ok());
  auto work = l->read([](sql::Db& db) { return open_work(db); });
  REQUIRE(work.ok());
  CHECK(work->pending_reversals == 0);  // a parked reversal holds nothing back
  CHECK(work->pending_uploads == 1);
  CHECK(work->parked_reversals == 1);
  CHECK(work->parked_uploads == 0);
  auto open_for = l->read([](sql::Db& db) { return pending_reversals_for(db, "P0001"); });
  REQUIRE(open_for.ok());
  CHECK(*open_for == 0);
  auto rev_open = l->read([](sql::Db& db) { return reversal_open(db); });
  REQUIRE(rev_open.ok());
  CHECK_FALSE(*rev_open);
  // Not claimed while parked.
  auto none = l->write_wait([](sql::Db& db) { return claim_outbox(db, 10'000, 10, OutboxKind::reversal); });
  REQUIRE(none.ok());
  CHECK(none->empty());

  auto parked = l->read([](sql::Db& db) { return list_parked(db); });
  REQUIRE(parked.ok());
  REQUIRE(parked->size() == 1);
  CHECK(parked->front().item.item_id == rev);
  CHECK(parked->front().item.state == OutboxState::parked);
  CHECK(parked->front().item.refusals == 2);
  CHECK(parked->front().item.last_error == "infcode -1: no such msgid");
  CHECK(parked->front().psn_no == "P0001");

  // Only parked items can be retried or resolved.
  CHECK(l->write_wait([up = up](sql::Db& db) { return retry_parked(db, up, "s001", 400); }).is(sql::Errc::invalid_state));
  CHECK(l->write_wait([](sql::Db& db) { return retry_parked(db, 999, "s001", 400); }).is(sql::Errc::not_found));

  // Retry: pending, due now, refusals from zero; the event names the supervisor.
  REQUIRE(l->write_wait([rev = rev](sql::Db& db) { return retry_parked(db, rev, "s001", 400); }).ok());
  auto again = l->write_wait([](sql::Db& db) { return claim_outbox(db, 400, 10, OutboxKind::reversal); });
  REQUIRE(again.ok());
  REQUIRE(again->size() == 1);
  CHECK(again->front().refusals == 0);
  REQUIRE(l->write_wait([rev = rev](sql::Db& db) {
               return complete_outbox(db, rev, OutboxOutcome::park, 410, 0, "infcode -1: still no", 1);
             }).ok());

  // Resolve: done, final, with the note.
  REQUIRE(l->write_wait([rev = rev](sql::Db& db) {
               return resolve_parked(db, rev, "s001", "reversed by phone with the insurance office", 500);
             }).ok());
  CHECK(l->write_wait([rev = rev](sql::Db& db) { return retry_parked(db, rev, "s001", 600); })
            .is(sql::Errc::invalid_state));
  auto events = l->read([rev = rev](sql::Db& db) { return list_events(db, Entity::outbox, std::to_string(rev)); });
  REQUIRE(events.ok());
  bool retried = false, resolved = false;
  for (const Event& e : *events) {
    if (e.from_state == "parked" && e.to_state == "pending" && e.detail == "retried by s001") retried = true;
    if (e.from_state == "parked" && e.to_state == "done" &&
        e.detail == "resolved by s001: reversed by phone with the insurance office")
      resolved = true;
  }
  CHECK(retried);
  CHECK(resolved);
  work = l->read([](sql::Db& db) { return open_work(db); });
  REQUIRE(work.ok());
  CHECK(work->parked_reversals == 0);

  // The schema: done stays final, parked leaves only to pending or done.
  CHECK(l->write_wait([rev = rev](sql::Db& db) {
               return db.exec(fmt::format("UPDATE outbox SET state = 'parked' WHERE item_id = {}", rev));
             }).is(sql::Errc::trigger));
  auto c3 = l->write_wait([](sql::Db& db) { return claim_outbox(db, 10'000, 10, OutboxKind::offline_upload); });
  REQUIRE(c3.ok());
  REQUIRE(c3->size() == 1);
  REQUIRE(l->write_wait([up = up](sql::Db& db) {
               return complete_outbox(db, up, OutboxOutcome::park, 10'010, 0, "infcode -2: bad record", 5);
             }).ok());
  work = l->read([](sql::Db& db) { return open_work(db); });
  REQUIRE(work.ok());
  CHECK(work->pending_uploads == 0);
  CHECK(work->parked_uploads == 1);
  CHECK(l->write_wait([up = up](sql::Db& db) {
               return db.exec(fmt::format("UPDATE outbox SET state = 'in_flight' WHERE item_id = {}", up));
             }).is(sql::Errc::trigger));
  CHECK(l->write_wait([up = up](sql::Db& db) {
               return db.exec(fmt::format("UPDATE outbox SET state = 'failed' WHERE item_id = {}", up));
             }).is(sql::Errc::trigger));
}

TEST_CASE("insurer messages keep the person they are for") {
  TestDir d("ledger-msg-psn");
  auto l = open_or_fail(d.file("ledger.db"));
  (void)queue_two(*l, 7);
  auto m = l->read([](sql::Db& db) { return find_message(db, msgid_n(7)); });
  REQUIRE(m.ok());
  REQUIRE(m->has_value());
  CHECK((*m)->psn_no == "P0001");
  auto listed = l->read([](sql::Db& db) { return list_messages(db, MessageState::in_doubt); });
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().psn_no == "P0001");
}

TEST_CASE("the ledger allows exactly the settlement moves of the engine's table") {
  TestDir d("ledger-moves");
  auto l = open_or_fail(d.file("ledger.db"));
  int n = 0;
  for (SettlementState from : all_settlement_states) {
    for (SettlementState to : all_settlement_states) {
      const std::string req = fmt::format("mv-{}", n++);
      auto s = test::sample_settlement(req);
      s.state = from;
      auto id = l->write_wait([req, s](sql::Db& db) -> sql::Result<std::int64_t> {
        auto r = record_request(db, test::sample_request(req));
        if (!r) return r.error();
        return record_settlement(db, s, {});
      });
      REQUIRE(id.ok());
      const auto moved = l->write_wait([id = *id, to](sql::Db& db) { return set_settlement_state(db, id, to, 5); });
      INFO(settlement_state_name(from), " -> ", settlement_state_name(to));
      if (from == to) continue;  // not a move: nothing changes
      CHECK(moved.ok() == can_move(from, to));
      if (!moved.ok()) CHECK(moved.is(sql::Errc::invalid_state));
    }
  }
}

TEST_CASE("a v2 ledger migrates to v3: outbox rows and ids kept, messages kept, parking allowed") {
  TestDir d("ledger-v2-v3");
  const std::string path = d.file("ledger.db");
  const std::vector<Migration> v2_only(migrations().begin(), migrations().begin() + 2);
  REQUIRE(v2_only.back().to_version == 2);
  std::int64_t rev2 = 0;
  {
    LedgerOptions v2;
    v2.migrations = v2_only;
    auto l = open_or_fail(path, v2);
    REQUIRE(l->schema_version() == 2);
    // v2's messages have no psn_no: written as raw rows, as the v2 build did.
    REQUIRE(l->write_wait([](sql::Db& db) -> sql::Status {
                 for (int i = 1; i <= 6; ++i) {
                   const std::string req = fmt::format("off-{}", i);
                   auto r = record_request(db, test::sample_request(req));
                   if (!r) return r.error();
                   const auto lines = test::sample_lines();
                   auto s = record_settlement(db, test::sample_offline_settlement(req), lines);
                   if (!s) return s.error();
                   auto up = enqueue_outbox(db, OutboxKind::offline_upload, *s, std::nullopt, "{}", 100 + i);
                   if (!up) return up.error();
                   SETTLE_SQL_TRY(db.exec(fmt::format(
                       "INSERT INTO insurer_messages(msgid, infno, state, created_at_ms, updated_at_ms) "
                       "VALUES('{}', '2207', 'in_doubt', {}, {})",
                       msgid_n(i), 200 + i, 200 + i)));
                   auto rev = enqueue_outbox(db, OutboxKind::reversal, std::nullopt, msgid_n(i),
                                             R"({"psn_no":"","oinfno":"2207"})", 300 + i);
                   if (!rev) return rev.error();
                 }
                 return settle::Ok{};
               }).ok());
    // Some in every state v2 knows (by SQL: this build's operations read v3's columns).
    REQUIRE(l->write_wait([](sql::Db& db) -> sql::Status {
                 return db.exec(
                     "UPDATE outbox SET state = 'in_flight', attempts = 1, updated_at_ms = 1000 WHERE item_id IN (1, 2, 4, 6, 8);"
                     "UPDATE outbox SET state = 'done', updated_at_ms = 1100 WHERE item_id = 2;"
                     "UPDATE outbox SET state = 'failed', last_error = 'gave up', updated_at_ms = 1100 WHERE item_id = 4;"
                     "UPDATE outbox SET state = 'pending', last_error = 'timeout', next_attempt_at_ms = 5000, "
                     "updated_at_ms = 1100 WHERE item_id = 6;");
               }).ok());
    rev2 = 8;  // a reversal in flight
  }
  const std::string outbox_q =
      "SELECT item_id, kind, priority, setl_id, ref_msgid, payload, state, attempts, next_attempt_at_ms, last_error, "
      "created_at_ms, updated_at_ms FROM outbox ORDER BY item_id";
  const std::string msg_q =
      "SELECT msgid, infno, state, request_id, reverses_msgid, infcode, err_msg, created_at_ms, updated_at_ms "
      "FROM insurer_messages ORDER BY msgid";
  const std::string events_q = "SELECT * FROM events ORDER BY event_id";
  std::vector<std::string> outbox_before, msgs_before, events_before;
  {
    auto db = sql::Db::open(path, {.mode = sql::OpenMode::read_only});
    REQUIRE(db.ok());
    REQUIRE(db->query_int64("PRAGMA user_version")->value_or(0) == 2);
    outbox_before = rows_of(*db, outbox_q);
    msgs_before = rows_of(*db, msg_q);
    events_before = rows_of(*db, events_q);
    REQUIRE(outbox_before.size() == 12);
    REQUIRE(msgs_before.size() == 6);
  }
  // To the current version (v3, and the versions after it).
  auto l = open_or_fail(path);
  CHECK(l->schema_version() == current_schema_version());
  CHECK(std::filesystem::exists(path + ".v2.bak"));
  auto check = l->read([&](sql::Db& db) -> sql::Status {
    CHECK(rows_of(db, outbox_q) == outbox_before);
    CHECK(rows_of(db, msg_q) == msgs_before);
    CHECK(rows_of(db, events_q) == events_before);
    CHECK(db.query_int64("SELECT count(*) FROM outbox WHERE refusals <> 0")->value_or(-1) == 0);
    CHECK(db.query_int64("SELECT count(*) FROM insurer_messages WHERE psn_no IS NOT NULL")->value_or(-1) == 0);
    CHECK(db.query_int64("SELECT count(*) FROM sqlite_schema WHERE name = 'outbox_v3'")->value_or(-1) == 0);
    // Indexes: ready, open, one_reversal, one_upload, open_reversals, parked;
    // triggers: fixed, transition, no_delete.
    CHECK(db.query_int64("SELECT count(*) FROM sqlite_schema WHERE tbl_name = 'outbox' AND type = 'index'")
              ->value_or(-1) == 6);
    CHECK(db.query_int64("SELECT count(*) FROM sqlite_schema WHERE tbl_name = 'outbox' AND type = 'trigger'")
              ->value_or(-1) == 3);
    CHECK(db.query_int64("SELECT count(*) FROM sqlite_schema WHERE name = 'settlements_transition' AND "
                         "sql LIKE '%(''partly_refunded'', ''undone'')%'")
              ->value_or(-1) == 1);
    return settle::Ok{};
  });
  REQUIRE(check.ok());
  auto work = l->read([](sql::Db& db) { return open_work(db); });
  REQUIRE(work.ok());
  CHECK(work->pending_reversals == 4);  // 6 less the done and the failed one
  CHECK(work->pending_uploads == 6);
  CHECK(work->parked_reversals == 0);
  // The migrated outbox parks, keeps finished items final and refuses deletes;
  // new items continue after the last id.
  REQUIRE(l->write_wait([rev2](sql::Db& db) { return complete_outbox(db, rev2, OutboxOutcome::park, 2000, 0, "refused", 5); })
              .ok());
  work = l->read([](sql::Db& db) { return open_work(db); });
  REQUIRE(work.ok());
  CHECK(work->parked_reversals == 1);
  CHECK(work->pending_reversals == 3);
  CHECK_FALSE(l->write_wait([](sql::Db& db) { return db.exec("UPDATE outbox SET state = 'pending' WHERE state = 'done'"); })
                  .ok());
  CHECK_FALSE(l->write_wait([](sql::Db& db) { return db.exec("DELETE FROM outbox"); }).ok());
  auto next = l->write_wait([](sql::Db& db) -> sql::Result<std::int64_t> {
    auto r = record_request(db, test::sample_request("off-new"));
    if (!r) return r.error();
    auto s = record_settlement(db, test::sample_offline_settlement("off-new"), {});
    if (!s) return s.error();
    return enqueue_outbox(db, OutboxKind::offline_upload, *s, std::nullopt, "{}", 3000);
  });
  REQUIRE(next.ok());
  CHECK(*next == 13);
  l.reset();
  auto full = Ledger::open(path, LedgerOptions{.check = IntegrityCheck::full});
  if (!full) FAIL(full.error().message);
}
