// The flows' named changes applied to a real ledger (offline/flow_ledger):
// an offline settlement whose outstanding figures moved before it was written
// is estimated again inside the write and stands when it comes out the same;
// one a limit now changes is refused as stale, with nothing written.
#include "engine/flows.hpp"
#include "offline/flow_ledger.hpp"
#include "offline/ledger.hpp"
#include "sample.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>

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
