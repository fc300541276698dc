// The ledger's side of reconciliation over a real ledger file: which
// settlements of a clearing date count, net of all their refunds, undone ones
// out, offline ones with the insurer's figures once accepted, pending listed.
#include "offline/ledger.hpp"
#include "offline/recon_queries.hpp"
#include "sample.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>

using namespace settle;
using namespace settle::ledger;
using settle::test::TestDir;

namespace {

struct Day {
  TestDir dir{"recon-queries"};
  std::unique_ptr<Ledger> ledger;
  Day() {
    auto l = Ledger::open(dir.file("ledger.db"));
    REQUIRE(l.ok());
    ledger = std::move(l).value();
  }
  // A settlement of `total` fen (60/30/10) on `date`.
  std::int64_t settle(const std::string& id, std::int64_t total, const std::string& date, const std::string& insutype,
                      Mode mode = Mode::online) {
    auto r = ledger->write_wait([=](sql::Db& db) -> sql::Result<std::int64_t> {
      auto q = record_request(db, test::sample_request(id));
      if (!q) return q.error();
      Settlement s = test::sample_settlement(id, total);
      s.clearing_date = date;
      s.insutype = insutype;
      s.insurer_setl_id = "S-" + id;
      s.mode = mode;
      if (mode == Mode::offline) {
        s.offline_reason = "network_down";
        s.cash += s.account;
        s.account = Amount{};
        s.state = SettlementState::offline_pending;
        s.insurer_setl_id.reset();
      }
      const auto lines = test::sample_lines(total);
      return record_settlement(db, s, lines);
    });
    REQUIRE(r.ok());
    return *r;
  }
  void refund(std::int64_t setl_id, const std::string& id, std::int64_t fund, std::int64_t account, std::int64_t cash,
              const std::string& date, SettlementState after) {
    auto r = ledger->write_wait([=](sql::Db& db) -> sql::Result<std::int64_t> {
      auto q = record_request(db, test::sample_request(id));
      if (!q) return q.error();
      Refund rf;
      rf.request_id = id;
      rf.setl_id = setl_id;
      rf.window_id = "W1";
      rf.operator_id = "C007";
      rf.fund = Amount::fen(fund);
      rf.account = Amount::fen(account);
      rf.cash = Amount::fen(cash);
      rf.total = rf.fund + rf.account + rf.cash;
      rf.created_at_ms = 1'700'000'000'000;
      rf.clearing_date = date;
      auto rid = record_refund(db, rf);
      if (!rid) return rid.error();
      SETTLE_SQL_TRY(set_settlement_state(db, setl_id, after, 1'700'000'000'001));
      return *rid;
    });
    REQUIRE(r.ok());
  }
  ReconTotals totals(const std::string& date) {
    auto t = ledger->read([date](sql::Db& db) { return recon_totals(db, date); });
    REQUIRE(t.ok());
    return *t;
  }
  ReconDetail detail(const std::string& date) {
    auto t = ledger->read([date](sql::Db& db) { return recon_detail(db, date); });
    REQUIRE(t.ok());
    return *t;
  }
};

const std::string kDay = "2026-11-22";

}  // namespace

TEST_CASE("totals of a day: net of refunds made on any day, undone out, other days out, per insurance type") {
  Day d;
  const auto a = d.settle("a", 10'000, kDay, "310");  // 6000/3000/1000
  const auto b = d.settle("b", 20'000, kDay, "310");
  const auto c = d.settle("c", 5'000, kDay, "390");
  const auto u = d.settle("u", 7'000, kDay, "390");
  d.settle("other", 9'000, "2026-11-21", "310");
  d.refund(a, "ra", 600, 300, 100, "2026-11-23", SettlementState::partly_refunded);  // a later day's refund
  d.refund(u, "ru", 4'200, 2'100, 700, kDay, SettlementState::undone);
  d.refund(c, "rc", 3'000, 1'500, 500, kDay, SettlementState::refunded);  // all of it

  const ReconTotals t = d.totals(kDay);
  REQUIRE(t.by_insutype.size() == 2);
  CHECK(t.by_insutype.at("310") ==
        recon::Totals{2, Amount::fen(29'000), Amount::fen(17'400), Amount::fen(8'700), Amount::fen(2'900)});
  CHECK(t.by_insutype.at("390") == recon::Totals{1, Amount{}, Amount{}, Amount{}, Amount{}});
  CHECK(t.not_uploaded == 0);

  // The detail rows say the same, settlement by settlement.
  const ReconDetail det = d.detail(kDay);
  REQUIRE(det.rows.size() == 4);
  CHECK(recon::totals_of(det.rows) == t.by_insutype);
  CHECK(det.rows[0].local_setl_id == std::to_string(a));
  CHECK(det.rows[0].setl_id == "S-a");
  CHECK(det.rows[0].state == recon::RowState::refunded);
  CHECK(det.rows[0].total == Amount::fen(9'000));
  CHECK(det.rows[1].state == recon::RowState::untouched);
  CHECK(det.rows[1].local_setl_id == std::to_string(b));
  CHECK(det.rows[3].state == recon::RowState::undone);
  CHECK(det.rows[3].total.is_zero());
  CHECK(d.totals("2026-11-20").by_insutype.empty());
}

TEST_CASE("offline settlements: listed while not accepted, then counted with the insurer's figures") {
  Day d;
  d.settle("on", 10'000, kDay, "310");
  const auto off = d.settle("off", 10'000, kDay, "310", Mode::offline);  // local 6000/0/4000
  ReconTotals t = d.totals(kDay);
  CHECK(t.by_insutype.at("310").count == 1);
  CHECK(t.not_uploaded == 1);
  ReconDetail det = d.detail(kDay);
  CHECK(det.rows.size() == 1);
  REQUIRE(det.not_uploaded.size() == 1);
  CHECK(det.not_uploaded[0].setl_id == off);
  CHECK(det.not_uploaded[0].state == "offline_pending");
  auto nu = d.ledger->read([](sql::Db& db) { return recon_not_uploaded(db, kDay); });
  REQUIRE(nu.ok());
  CHECK(nu->size() == 1);

  // Accepted: the insurer's split (5500 fund, 4500 cash) is the one counted.
  auto w = d.ledger->write_wait([off](sql::Db& db) -> sql::Result<std::int64_t> {
    Adjustment a;
    a.setl_id = off;
    a.local_fund = Amount::fen(6'000);
    a.insurer_fund = Amount::fen(5'500);
    a.local_cash = Amount::fen(4'000);
    a.insurer_cash = Amount::fen(4'500);
    a.created_at_ms = 1'700'000'000'002;
    auto id = record_adjustment(db, a);
    if (!id) return id.error();
    SETTLE_SQL_TRY(set_settlement_insurer_ids(db, off, "S-off", std::nullopt, 1'700'000'000'002));
    SETTLE_SQL_TRY(set_settlement_state(db, off, SettlementState::offline_accepted, 1'700'000'000'002));
    return *id;
  });
  REQUIRE(w.ok());
  t = d.totals(kDay);
  CHECK(t.not_uploaded == 0);
  CHECK(t.by_insutype.at("310") ==
        recon::Totals{2, Amount::fen(20'000), Amount::fen(11'500), Amount::fen(3'000), Amount::fen(5'500)});
  det = d.detail(kDay);
  REQUIRE(det.rows.size() == 2);
  CHECK(det.rows[1].setl_id == "S-off");
  CHECK(det.rows[1].fund == Amount::fen(5'500));
  CHECK(det.rows[1].cash == Amount::fen(4'500));
  CHECK(recon::totals_of(det.rows) == t.by_insutype);
}
