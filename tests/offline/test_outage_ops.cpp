// Outage records on a real ledger file: one open outage per kind however
// often it is reported, its end recorded once, the rows refusing every other
// change, the period's work counted, notes kept, chained, and a start after
// a run that did not stop cleanly found.
#include "offline/chain.hpp"
#include "offline/ledger.hpp"
#include "offline/outage_ops.hpp"
#include "sample.hpp"
#include "ledger_fixture.hpp"

#include <doctest/doctest.h>

using namespace settle;
using namespace settle::ledger;

namespace {

constexpr std::int64_t kStart = 1'700'000'000'000;

struct Outages : settle::test::LedgerFixture {
  Outages() : LedgerFixture("outage-ops") {}
};

}  // namespace

TEST_CASE_FIXTURE(Outages, "outages: opened once per kind, ended once, the rows refuse every other change") {
  const std::int64_t id = write([](sql::Db& db) { return open_outage(db, OutageKind::line, "insurer unreachable", kStart); });
  // Reported again while open: the same record.
  CHECK(write([](sql::Db& db) { return open_outage(db, OutageKind::line, "again", kStart + 5); }) == id);
  // Another kind is another record.
  const std::int64_t crash = write([](sql::Db& db) {
    return record_outage(db, OutageKind::crash, "stopped without a clean stop", kStart - 50, kStart - 10, "restarted");
  });
  CHECK(crash != id);
  auto open = read([](sql::Db& db) { return open_outages(db); });
  REQUIRE(open.size() == 1);
  CHECK(open[0].outage_id == id);
  CHECK(open[0].cause == "insurer unreachable");

  auto ended = write([](sql::Db& db) { return end_outages(db, OutageKind::line, kStart + 100, "line back"); });
  REQUIRE(ended.size() == 1);
  CHECK(ended[0] == id);
  CHECK(write([](sql::Db& db) { return end_outages(db, OutageKind::line, kStart + 200, "again"); }).empty());
  auto got = read([id](sql::Db& db) { return get_outage(db, id); });
  REQUIRE(got.has_value());
  CHECK(got->ended_at_ms == kStart + 100);
  CHECK(got->end_note == "line back");

  // The record is kept as written.
  CHECK_FALSE(shell(fmt::format("UPDATE outages SET ended_at_ms = {} WHERE outage_id = {}", kStart + 300, id)).ok());
  CHECK_FALSE(shell(fmt::format("UPDATE outages SET cause = 'x' WHERE outage_id = {}", crash)).ok());
  CHECK_FALSE(shell(fmt::format("DELETE FROM outages WHERE outage_id = {}", id)).ok());
  CHECK_FALSE(shell("INSERT INTO outages(kind, cause, started_at_ms) VALUES('weather', 'rain', 1)").ok());
  CHECK_FALSE(shell("INSERT INTO outages(kind, cause, started_at_ms, ended_at_ms) VALUES('line', 'x', 10, 5)").ok());

  // An end before the start is recorded at the start.
  const std::int64_t odd = write([](sql::Db& db) { return open_outage(db, OutageKind::reader, "W2: reader gone", kStart + 500); });
  write([](sql::Db& db) { return end_outages(db, OutageKind::reader, kStart + 400, "clock stepped back"); });
  CHECK(read([odd](sql::Db& db) { return get_outage(db, odd); })->ended_at_ms == kStart + 500);

  // Listed newest first, filtered by kind and period.
  auto all = read([](sql::Db& db) { return list_outages(db, OutageFilter{}); });
  REQUIRE(all.size() == 3);
  CHECK(all[0].outage_id == odd);
  auto lines = read([](sql::Db& db) { return list_outages(db, OutageFilter{.kind = "line"}); });
  REQUIRE(lines.size() == 1);
  auto before = read([](sql::Db& db) { return list_outages(db, OutageFilter{.to_ms = kStart}); });
  REQUIRE(before.size() == 1);
  CHECK(before[0].outage_id == crash);
}

TEST_CASE_FIXTURE(Outages, "outages: the period's offline work, uploads, reversals and adjustments are counted") {
  const std::int64_t id = write([](sql::Db& db) { return open_outage(db, OutageKind::line, "insurer unreachable", kStart); });
  // Two offline settlements in the outage, one before it.
  std::vector<std::int64_t> setl;
  for (int i = 0; i < 3; ++i) {
    const std::int64_t at = i == 0 ? kStart - 1000 : kStart + 10 * i;
    setl.push_back(write([i, at](sql::Db& db) -> sql::Result<std::int64_t> {
      const std::string rid = fmt::format("off-{}", i);
      auto r = record_request(db, test::sample_request(rid));
      if (!r) return r.error();
      auto s = record_settlement(db, test::sample_offline_settlement(rid, 10'000, at), {});
      if (!s) return s.error();
      auto up = enqueue_outbox(db, OutboxKind::offline_upload, *s, std::nullopt, "{}", at);
      if (!up) return up.error();
      return *s;
    }));
  }
  write([](sql::Db& db) -> sql::Result<std::int64_t> {
    SETTLE_SQL_TRY(record_message(db, Message{"H00000000000000000000000000001", "2207", MessageState::written, std::nullopt,
                                              std::nullopt, std::nullopt, std::nullopt, kStart + 1, kStart + 1,
                                              std::nullopt}));
    SETTLE_SQL_TRY(mark_in_doubt(db, "H00000000000000000000000000001", kStart + 2));
    return enqueue_outbox(db, OutboxKind::reversal, std::nullopt, "H00000000000000000000000000001", "{}", kStart + 3);
  });
  const auto o = *read([id](sql::Db& db) { return get_outage(db, id); });
  auto f = read([&o](sql::Db& db) { return outage_figures(db, o, kStart + 100); });
  CHECK(f.offline_settlements == 2);
  CHECK(f.offline_total == Amount::fen(20'000));
  CHECK(f.uploads_waiting == 2);
  CHECK(f.uploads_done == 0);
  CHECK(f.reversals == 1);
  CHECK(f.reversals_open == 1);
  CHECK(f.adjustments == 0);
}

TEST_CASE_FIXTURE(Outages, "outages: notes are kept in order and chained with the outage; the chain verifies") {
  const std::int64_t id = write([](sql::Db& db) { return open_outage(db, OutageKind::line, "insurer unreachable", kStart); });
  write([id](sql::Db& db) {
    return add_outage_note(db, OutageNote{0, id, kStart + 1, "notified", "hook:pager", "exit 0", "settled"});
  });
  write([id](sql::Db& db) {
    return add_outage_note(db, OutageNote{0, id, kStart + 2, "told", "信息科", "told by phone", "S001"});
  });
  CHECK_FALSE(write([id](sql::Db& db) -> sql::Result<bool> {
    auto bad = add_outage_note(db, OutageNote{0, id, kStart + 3, "gossip", "x", "y", "z"});
    return bad.ok();
  }));
  auto notes = read([id](sql::Db& db) { return outage_notes(db, id); });
  REQUIRE(notes.size() == 2);
  CHECK(notes[1].target == "信息科");
  CHECK(notes[1].by == "S001");
  CHECK_FALSE(shell("UPDATE outage_notes SET detail = 'x'").ok());
  write([](sql::Db& db) { return end_outages(db, OutageKind::line, kStart + 10, "line back"); });

  auto rep = read([](sql::Db& db) { return chain::verify(db); });
  CHECK(rep.ok());
  CHECK(rep.counts["outage"] == 1);
  CHECK(rep.counts["outage_end"] == 1);
  CHECK(rep.counts["outage_note"] == 2);
}

TEST_CASE_FIXTURE(Outages, "outages: a start after a run without a clean stop is found, with the run's last sign of life") {
  CHECK_FALSE(read([](sql::Db& db) { return unclean_stop(db); }).has_value());  // never started
  auto event = [this](std::int64_t at, std::string state) {
    write([at, state](sql::Db& db) {
      return append_event(db, Event{0, at, Entity::ledger, "settled", std::nullopt, state, ""});
    });
  };
  event(kStart, "started");
  write([](sql::Db& db) -> sql::Result<std::int64_t> {
    auto r = record_request(db, test::sample_request("late"));
    if (!r) return r.error();
    return record_settlement(db, test::sample_offline_settlement("late", 10'000, kStart + 900), {});
  });
  auto last = read([](sql::Db& db) { return unclean_stop(db); });
  REQUIRE(last.has_value());
  CHECK(*last == kStart + 900);
  event(kStart + 1000, "stopped");
  CHECK_FALSE(read([](sql::Db& db) { return unclean_stop(db); }).has_value());
  event(kStart + 2000, "started");
  CHECK(read([](sql::Db& db) { return unclean_stop(db); }) == kStart + 2000);
}
