// The open work kept in memory (LiveWork): what a settlement's check for its
// person's open reversals may skip. It may say "none open" only after a
// count that succeeded and found none; before any count, or after a failed
// one, the settlement reads the ledger.
#include "offline/ledger.hpp"
#include "offline/ledger_ops.hpp"
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

  auto refresh = [&] { REQUIRE(ledger.read([&](sql::Db& db) -> sql::Status { work.refresh(db); return settle::Ok{}; })); };
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
