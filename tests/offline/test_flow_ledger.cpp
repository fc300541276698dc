// The flows' named changes applied to a real ledger (offline/flow_ledger):
// an offline settlement whose outstanding figures moved before it was written
// is estimated again inside the write and stands when it comes out the same;
// one a limit now changes is refused as stale, with nothing written.
#include "engine/flows.hpp"
#include "offline/flow_ledger.hpp"
#include "offline/ledger.hpp"
#include "offline/ledger_ops.hpp"
#include "sample.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>
#include <vector>

using namespace settle;
using settle::test::TestDir;

namespace {

ledger::FlowConventions conventions() {
  ledger::FlowConventions c;
  c.answer_text = [](const flow::Answer& a) { return a.ok() ? std::string("ok") : std::string("error"); };
  c.clearing_date = [](std::int64_t) { return std::string("2026-12-03"); };
  c.receipt_no = [](const flow::SettlementRecord& r) { return "F" + r.request_id; };
  return c;
}

Policy policy() {
  Policy p;
  p.set("310", VisitType::outpatient, PolicyParams{Amount::zero(), Ratio::ppm(700'000), Amount::fen(100'000'000), Ratio::ppm(100'000)});
  return p;
}

// An offline settlement of 100.00 (class A) estimated against no outstanding figures.
flow::RecordOffline offline_change(const Policy& p, const std::string& request_id, OfflineLimits limits) {
  flow::OfflineEstimate e;
  e.policy = &p;
  e.who.insutype = "310";
  e.lines = {ChargeLine{"A1", "a", LineClass::a, Amount::fen(10'000), std::nullopt}};
  e.on_redlist = true;
  e.limits = limits;
  auto est = flow::estimate_offline(e, flow::OutstandingFigures{});
  REQUIRE(est.ok());
  flow::SettlementRecord s;
  s.request_id = request_id;
  s.window = "W01";
  s.card_no = "C1";
  s.psn_no = "P1";
  s.insutype = "310";
  s.mode = Mode::offline;
  s.state = SettlementState::offline_pending;
  s.parts = parts_of(*est);
  s.reasons = est->reasons;
  s.lines = e.lines;
  s.offline_cause = OfflineCause::network_down;
  s.created_at = 1'000;
  flow::Answer yes;
  yes.settlement = s;
  return flow::RecordOffline{s, std::nullopt, std::nullopt, yes, 0, Amount::zero(), e};
}

sql::Result<ledger::Applied> apply(ledger::Ledger& l, const flow::RecordOffline& change, const std::string& request_id) {
  const auto conv = conventions();
  return l.write_wait([&](sql::Db& db) -> sql::Result<ledger::Applied> {
    auto r = ledger::record_request(db, test::sample_request(request_id));
    if (!r) return r.error();
    return ledger::apply_change(db, flow::LedgerChange(change), conv, 2'000);
  });
}

}  // namespace

TEST_CASE("two offline settlements estimated against the same figures both stand when the second comes out the same") {
  TestDir dir("flow-ledger-same");
  auto l = ledger::Ledger::open(dir.file("ledger.db"), {});
  REQUIRE(l.ok());
  const Policy p = policy();
  auto first = apply(**l, offline_change(p, "o1", OfflineLimits{}), "o1");
  REQUIRE_MESSAGE(first.ok(), first.error().message);
  // Made against 0 outstanding, written after o1: estimated again, the same.
  auto second = apply(**l, offline_change(p, "o2", OfflineLimits{}), "o2");
  REQUIRE_MESSAGE(second.ok(), second.error().message);
  CHECK(second->id != first->id);
}

TEST_CASE("an offline settlement a limit now changes is refused as stale and nothing of it is written") {
  TestDir dir("flow-ledger-limit");
  auto l = ledger::Ledger::open(dir.file("ledger.db"), {});
  REQUIRE(l.ok());
  const Policy p = policy();
  OfflineLimits one;
  one.outstanding_count_max = 1;  // a second one outstanding is self-pay
  REQUIRE(apply(**l, offline_change(p, "o1", one), "o1").ok());
  auto second = apply(**l, offline_change(p, "o2", one), "o2");
  REQUIRE_FALSE(second.ok());
  CHECK(ledger::is_stale_offline(second.error()));
  CHECK(ledger::committed(second).stale);
}

// A window's writes, online and offline, as settled makes them: the claim,
// the msgids and outcomes of the calls, the settlement, the offline one with
// its upload, the audit entry, and the running figures read after each
// commit. Each statement the writer keeps is compiled once: one whose plan
// depends on a bound value (a partial index matched against `?`) is compiled
// again at every run, which costs more than the write itself.
TEST_CASE("the writer's statements of a settlement are compiled once, not again at every settlement") {
  TestDir dir("flow-ledger-compiled");
  auto l = ledger::Ledger::open(dir.file("ledger.db"), {});
  REQUIRE(l.ok());
  const Policy p = policy();
  const auto conv = conventions();
  constexpr int kRounds = 8;
  std::vector<sql::Db::CachedStats> stats;
  for (int i = 0; i < kRounds; ++i) {
    const std::string on = fmt::format("on{}", i);
    const std::string off = fmt::format("off{}", i);
    auto r = (*l)->write_wait([&](sql::Db& db) -> sql::Status {
      SETTLE_SQL_TRY(ledger::record_request(db, test::sample_request(on)));
      // 2201 (a query: its msgid and outcome), the 2207's msgid, its answer.
      ledger::Message q;
      q.msgid = fmt::format("{:030}", 1'000 + i);  // 30 characters, as the insurer's
      q.infno = "2201";
      q.request_id = on;
      q.created_at_ms = q.updated_at_ms = 1'500;
      SETTLE_SQL_TRY(ledger::record_message(db, q));
      SETTLE_SQL_TRY(ledger::mark_answered(db, q.msgid, 1'600, 0));
      const std::string msgid = fmt::format("{:030}", 2'000 + i);
      SETTLE_SQL_TRY(ledger::apply_change(db, flow::LedgerChange(flow::WriteMsgid{msgid, flow::Txn::settle, on, "P1"}),
                                          conv, 1'700));
      flow::RecordOffline o = offline_change(p, on, OfflineLimits{});
      flow::SettlementRecord s = o.settlement;
      s.mode = Mode::online;
      s.state = SettlementState::settled;
      s.msgid = msgid;
      s.insurer_setl_id = fmt::format("S{}", i);
      s.mdtrt_id = fmt::format("M{}", i);
      s.offline_cause.reset();
      flow::Answer yes;
      yes.settlement = s;
      if (auto a = ledger::apply_change(db, flow::LedgerChange(flow::RecordSettlement{s, yes}), conv, 2'000); !a)
        return a.error();
      // The same window offline: the claim, the settlement and its upload.
      SETTLE_SQL_TRY(ledger::record_request(db, test::sample_request(off)));
      if (auto a = ledger::apply_change(db, flow::LedgerChange(offline_change(p, off, OfflineLimits{})), conv, 2'100); !a)
        return a.error();
      ledger::AuditEntry e;
      e.at_ms = 2'200;
      e.operator_name = "C007";
      e.window = "W01";
      e.action = "settle.commit";
      e.detail = "settled";
      SETTLE_SQL_TRY(ledger::append_audit(db, e));
      return Ok{};
    });
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    // What settled reads on the writer after each commit.
    auto figures = (*l)->write_wait([&](sql::Db& db) -> sql::Result<std::vector<sql::Db::CachedStats>> {
      auto w = ledger::open_work_tracked(db);
      if (!w) return w.error();
      auto o = ledger::offline_outstanding_tracked(db);
      if (!o) return o.error();
      return db.cached_stats();
    });
    REQUIRE_MESSAGE(figures.ok(), (figures.ok() ? "" : figures.error().message));
    stats = std::move(figures).value();
  }
  int checked = 0;
  for (const auto& s : stats) {
    if (s.runs < kRounds) continue;  // not on every settlement's path
    ++checked;
    // Twice at most: each of the running figures' temporary tables, made on
    // their first read, is a schema change that compiles a statement again.
    CHECK_MESSAGE(s.recompiles <= 2, s.recompiles, " compilations in ", s.runs, " runs of: ", s.sql);
  }
  CHECK(checked >= 10);
}
