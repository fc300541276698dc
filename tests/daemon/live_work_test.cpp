// The open work kept in memory (LiveWork): what a settlement's check for its
// person's open reversals may skip. It may say "none open" only after a
// count that succeeded and found none; before any count, or after a failed
// one, the settlement reads the ledger.
#include "offline/ledger.hpp"
#include "offline/ledger_ops.hpp"
#include "tests/offline/sample.hpp"
#include "tests/offline/test_dir.hpp"
#include "tools/settled/live_work.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace settle;
using namespace settle::ledger;

namespace {

constexpr std::string_view kMsgid = "H11010500001202612041030450001";

}  // namespace

TEST_CASE("no open reversals only after a count that found none; a queued reversal and a failed count say read") {
  const settle::test::TestDir dir("live-work");
  auto opened = Ledger::open(dir.file("ledger.db"));
  REQUIRE(opened.ok());
  Ledger& ledger = **opened;
  daemon::LiveWork work;
  CHECK_FALSE(work.no_open_reversals());  // never counted

  auto refresh = [&] {
    REQUIRE(ledger.read([&](sql::Db& db) -> sql::Status { work.refresh(db, false); return settle::Ok{}; }));
  };
  refresh();
  CHECK(work.no_open_reversals());

  // A settle call in doubt, its reversal queued: counted as open.
  auto queued = ledger.write_wait([](sql::Db& db) -> sql::Result<std::int64_t> {
    SETTLE_SQL_TRY(record_message(db, Message{std::string(kMsgid), "2207", MessageState::written, std::nullopt, std::nullopt,
                                              std::nullopt, std::nullopt, 101, 101, std::nullopt}));
    SETTLE_SQL_TRY(mark_in_doubt(db, kMsgid, 102));
    return enqueue_outbox(db, OutboxKind::reversal, std::nullopt, kMsgid, R"({"psn_no":"P0001"})", 103);
  });
  REQUIRE(queued.ok());
  refresh();
  CHECK_FALSE(work.no_open_reversals());
  CHECK(work.get().pending_reversals == 1);

  // In flight is still open; done is not.
  auto claimed = ledger.write_wait([](sql::Db& db) { return claim_outbox(db, 200, 10); });
  REQUIRE(claimed.ok());
  REQUIRE(claimed->size() == 1);
  refresh();
  CHECK_FALSE(work.no_open_reversals());
  const std::int64_t item = claimed->front().item_id;
  REQUIRE(ledger.write_wait([item](sql::Db& db) { return complete_outbox(db, item, OutboxOutcome::done, 300); }).ok());
  refresh();
  CHECK(work.no_open_reversals());

  // A count that fails (here: a database without the ledger's tables) keeps
  // the last figures for engine.status, but no longer vouches for "none".
  auto other = sql::Db::open(dir.file("not-a-ledger.db"));
  REQUIRE(other.ok());
  work.refresh(*other);
  CHECK_FALSE(work.no_open_reversals());
  CHECK(work.get().pending_reversals == 0);
}

// The outpatient offline settlements stored (what the offline limits see)
// and the uploads waiting: kept by the writer's own count after every commit
// (not counted again each time), and counted afresh when another program
// wrote the file.
TEST_CASE("the offline figures and open uploads after each commit are those a reader counts; a write from elsewhere too") {
  const settle::test::TestDir dir("live-work-offline");
  daemon::LiveWork work;
  LedgerOptions opts;
  opts.writer.after_commit = [&work](sql::Db& db) { work.refresh(db); };
  auto opened = Ledger::open(dir.file("ledger.db"), opts);
  REQUIRE(opened.ok());
  Ledger& ledger = **opened;
  CHECK_FALSE(work.outpatient_outstanding().has_value());  // no commit yet

  const auto store = [&](const std::string& id, std::int64_t total, std::int64_t at) {
    auto r = ledger.write_wait([=](sql::Db& db) -> sql::Result<std::int64_t> {
      SETTLE_SQL_TRY(record_request(db, test::sample_request(id)));
      auto setl = record_settlement(db, test::sample_offline_settlement(id, total, at), test::sample_lines(total));
      if (!setl) return setl.error();
      SETTLE_SQL_TRY(enqueue_outbox(db, OutboxKind::offline_upload, *setl, std::nullopt, "{}", at));
      return *setl;
    });
    REQUIRE(r.ok());
    return *r;
  };
  const auto read = [&] {
    auto r = ledger.read([](sql::Db& db) { return offline_outstanding(db); });
    REQUIRE(r.ok());
    return *r;
  };
  const auto same = [&] {
    const auto live = work.outpatient_outstanding();
    REQUIRE(live.has_value());
    const auto counted = read();
    CHECK(live->count == counted.count);
    CHECK(live->fund == counted.fund);
    CHECK(live->oldest_created_ms == counted.oldest_created_ms);
    // The open uploads too, kept by the writer's own count.
    auto open = ledger.read([](sql::Db& db) { return open_work(db); });
    REQUIRE(open.ok());
    CHECK(work.get().pending_uploads == open->pending_uploads);
    CHECK(work.get().pending_reversals == open->pending_reversals);
    return live->count;
  };
  const std::int64_t first = store("off-1", 10'000, 1'000);
  store("off-2", 20'000, 2'000);
  store("off-3", 30'000, 3'000);
  CHECK(same() == 3);

  // Accepted by the insurer: no longer outstanding (and the oldest moves on).
  REQUIRE(ledger.write_wait([first](sql::Db& db) -> sql::Status {
                  auto items = claim_outbox(db, 4'000, 1);
                  if (!items) return items.error();
                  REQUIRE(items->size() == 1);
                  SETTLE_SQL_TRY(complete_outbox(db, items->front().item_id, OutboxOutcome::done, 4'000));
                  return set_settlement_state(db, first, SettlementState::offline_accepted, 4'000);
                }).ok());
  CHECK(same() == 2);
  CHECK(work.get().pending_uploads == 2);
  CHECK(work.outpatient_outstanding()->oldest_created_ms == 2'000);

  // Another program writes one (the writer's own count cannot see it): the
  // next commit counts them all again.
  {
    auto other = open_connection(dir.file("ledger.db"), sql::OpenMode::read_write);
    REQUIRE(other.ok());
    REQUIRE(record_request(*other, test::sample_request("off-elsewhere")).ok());
    auto setl = record_settlement(*other, test::sample_offline_settlement("off-elsewhere", 5'000, 5'000),
                                  test::sample_lines(5'000));
    REQUIRE(setl.ok());
    REQUIRE(enqueue_outbox(*other, OutboxKind::offline_upload, *setl, std::nullopt, "{}", 5'000).ok());
  }
  store("off-4", 40'000, 6'000);
  CHECK(same() == 4);
  CHECK(work.get().pending_uploads == 4);
}
