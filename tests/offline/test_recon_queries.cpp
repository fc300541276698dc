// The ledger's side of reconciliation over a real ledger file: which
// settlements of a clearing date count, net of all their refunds, undone ones
// out, offline ones with the insurer's figures once accepted, pending listed;
// outpatient and inpatient (clearing types 11, 21) apart per insurance type.
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
  // A settlement of `total` fen (60/30/10) on `date`; an inpatient one
  // settles a stay of its own (a discharged stays row, schema v4).
  std::int64_t settle(const std::string& id, std::int64_t total, const std::string& date, const std::string& insutype,
                      Mode mode = Mode::online, VisitType visit = VisitType::outpatient, const std::string& area = "") {
    auto r = ledger->write_wait([=](sql::Db& db) -> sql::Result<std::int64_t> {
      auto q = record_request(db, test::sample_request(id));
      if (!q) return q.error();
      Settlement s = test::sample_settlement(id, total);
      s.clearing_date = date;
      s.insutype = insutype;
      s.insurer_setl_id = "S-" + id;
      s.mode = mode;
      s.visit_type = visit;
      s.insuplc_admdvs = area;
      if (visit == VisitType::inpatient) {
        auto a = record_request(db, test::sample_request("adm-" + id));
        if (!a) return a.error();
        auto st = db.prepare(
            "INSERT INTO stays(request_id, window_id, operator_id, card_no, insutype, dept, diagnosis, admit_at_ms, "
            "discharge_at_ms, mode, state, created_at_ms, updated_at_ms) "
            "VALUES(?1, 'W1', 'C007', ?2, ?3, '0301', 'K35.8', 1699990000000, 1700000000000, 'online', 'discharged', "
            "1699990000000, 1700000000000)");
        if (!st) return st.error();
        SETTLE_SQL_TRY(st->bind_all("adm-" + id, "card-" + id, insutype));
        SETTLE_SQL_TRY(st->run());
        s.adm_id = db.last_insert_rowid();
      }
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
  // The day's adjustments for the office's report: insurer − estimate.
  auto adj = d.ledger->read([](sql::Db& db) { return recon_adjustments(db, kDay); });
  REQUIRE(adj.ok());
  REQUIRE(adj->size() == 1);
  CHECK(adj->at("offline_upload").count == 1);
  CHECK(adj->at("offline_upload").fund == Amount::fen(-500));
  CHECK(adj->at("offline_upload").cash == Amount::fen(500));
  auto none = d.ledger->read([](sql::Db& db) { return recon_adjustments(db, "2026-11-20"); });
  REQUIRE(none.ok());
  CHECK(none->empty());
}

TEST_CASE("outpatient and inpatient apart per insurance type; a refund counts under its settlement's clearing type") {
  Day d;
  const auto o310 = d.settle("o310", 10'000, kDay, "310");                                          // 6000/3000/1000
  d.settle("o390", 4'000, kDay, "390");                                                              // 2400/1200/400
  const auto i310 = d.settle("i310", 50'000, kDay, "310", Mode::online, VisitType::inpatient);      // 30000/15000/5000
  const auto i390 = d.settle("i390", 30'000, kDay, "390", Mode::online, VisitType::inpatient);
  d.settle("i390b", 28'000, kDay, "390", Mode::online, VisitType::inpatient);                        // 16800/8400/2800
  const auto pending = d.settle("i310off", 20'000, kDay, "310", Mode::offline, VisitType::inpatient);
  d.refund(o310, "r-o310", 600, 300, 100, kDay, SettlementState::partly_refunded);
  // (The flows give a stay's money back only whole; the ledger's rule holds for any refund.)
  d.refund(i310, "r-i310", 1'000, 500, 0, "2026-11-23", SettlementState::partly_refunded);
  d.refund(i390, "r-i390", 18'000, 9'000, 3'000, kDay, SettlementState::undone);  // undone, settled again as i390b

  const ReconTotals t = d.totals(kDay);
  using recon::TotalsKey;
  REQUIRE(t.by_clearing.size() == 4);
  CHECK(t.by_clearing.at(TotalsKey{"310", "11"}) ==
        recon::Totals{1, Amount::fen(9'000), Amount::fen(5'400), Amount::fen(2'700), Amount::fen(900)});
  CHECK(t.by_clearing.at(TotalsKey{"310", "21"}) ==
        recon::Totals{1, Amount::fen(48'500), Amount::fen(29'000), Amount::fen(14'500), Amount::fen(5'000)});
  CHECK(t.by_clearing.at(TotalsKey{"390", "11"}) ==
        recon::Totals{1, Amount::fen(4'000), Amount::fen(2'400), Amount::fen(1'200), Amount::fen(400)});
  CHECK(t.by_clearing.at(TotalsKey{"390", "21"}) ==
        recon::Totals{1, Amount::fen(28'000), Amount::fen(16'800), Amount::fen(8'400), Amount::fen(2'800)});
  // Per insurance type: both clearing types together.
  REQUIRE(t.by_insutype.size() == 2);
  CHECK(t.by_insutype.at("310") ==
        recon::Totals{2, Amount::fen(57'500), Amount::fen(34'400), Amount::fen(17'200), Amount::fen(5'900)});
  CHECK(t.by_insutype.at("390").count == 2);
  CHECK(t.not_uploaded == 1);

  // The rows carry their clearing type and sum to the same totals.
  const ReconDetail det = d.detail(kDay);
  REQUIRE(det.rows.size() == 5);  // the undone i390 included, with zero amounts
  CHECK(recon::totals_by_clearing(det.rows) == t.by_clearing);
  CHECK(recon::totals_of(det.rows) == t.by_insutype);
  for (const recon::DetailRow& r : det.rows) {
    INFO(r.local_setl_id);
    CHECK(r.clr_type == (r.setl_id.starts_with("S-i") ? "21" : "11"));
  }
  REQUIRE(det.not_uploaded.size() == 1);
  CHECK(det.not_uploaded[0].setl_id == pending);
  CHECK(det.not_uploaded[0].clr_type == "21");
  auto nu = d.ledger->read([](sql::Db& db) { return recon_not_uploaded(db, kDay); });
  REQUIRE(nu.ok());
  REQUIRE(nu->size() == 1);
  CHECK(nu->front().clr_type == "21");

  // clearing_totals (the ledger's day view: that day's refunds) is apart the same way.
  auto ct = d.ledger->read([](sql::Db& db) { return clearing_totals(db, kDay); });
  REQUIRE(ct.ok());
  REQUIRE(ct->size() == 4);
  CHECK((*ct)[0].insutype == "310");
  CHECK((*ct)[0].clr_type == "11");
  CHECK((*ct)[0].settlement_count == 1);
  CHECK((*ct)[0].refund_count == 1);
  CHECK((*ct)[0].net_total() == Amount::fen(9'000));
  CHECK((*ct)[1].insutype == "310");
  CHECK((*ct)[1].clr_type == "21");
  CHECK((*ct)[1].total == Amount::fen(50'000));
  CHECK((*ct)[1].refund_count == 0);  // its refund belongs to the next day here
  CHECK((*ct)[2].clr_type == "11");
  CHECK((*ct)[2].refund_count == 0);
  CHECK((*ct)[3].insutype == "390");
  CHECK((*ct)[3].clr_type == "21");
  CHECK((*ct)[3].settlement_count == 1);  // i390 undone: out; i390b in
  CHECK((*ct)[3].total == Amount::fen(28'000));
  CHECK((*ct)[3].refund_count == 1);  // the undo's refund, under inpatient
  CHECK((*ct)[3].refund_total == Amount::fen(30'000));
  auto next = d.ledger->read([](sql::Db& db) { return clearing_totals(db, "2026-11-23"); });
  REQUIRE(next.ok());
  REQUIRE(next->size() == 1);
  CHECK(next->front().clr_type == "21");
  CHECK(next->front().settlement_count == 0);
  CHECK(next->front().refund_total == Amount::fen(1'500));
}

TEST_CASE("insured areas apart: a cross-region patient's settlements are their own bucket, refunds and pending too") {
  Day d;
  d.settle("home", 10'000, kDay, "310", Mode::online, VisitType::outpatient, "110105");  // 6000/3000/1000
  d.settle("away", 20'000, kDay, "310", Mode::online, VisitType::outpatient, "440300");                     // 12000/6000/2000
  const auto away2 = d.settle("away2", 5'000, kDay, "310", Mode::online, VisitType::outpatient, "440300");   // 3000/1500/500
  d.settle("awayoff", 4'000, kDay, "310", Mode::offline, VisitType::outpatient, "440300");
  d.refund(away2, "r-away2", 600, 300, 100, kDay, SettlementState::partly_refunded);

  const ReconTotals t = d.totals(kDay);
  using recon::TotalsKey;
  REQUIRE(t.by_clearing.size() == 2);
  CHECK(t.by_clearing.at(TotalsKey{"310", "11", "110105"}) ==
        recon::Totals{1, Amount::fen(10'000), Amount::fen(6'000), Amount::fen(3'000), Amount::fen(1'000)});
  CHECK(t.by_clearing.at(TotalsKey{"310", "11", "440300"}) ==
        recon::Totals{2, Amount::fen(24'000), Amount::fen(14'400), Amount::fen(7'200), Amount::fen(2'400)});
  CHECK(t.by_insutype.at("310").count == 3);  // over every area
  CHECK(t.not_uploaded == 1);

  const ReconDetail det = d.detail(kDay);
  REQUIRE(det.rows.size() == 3);
  CHECK(recon::totals_by_clearing(det.rows) == t.by_clearing);
  CHECK(det.rows[1].insuplc_admdvs == "440300");
  REQUIRE(det.not_uploaded.size() == 1);
  CHECK(det.not_uploaded[0].insuplc_admdvs == "440300");

  CHECK(recon::cross_region("440300", "110105", "110100"));
  CHECK_FALSE(recon::cross_region("110105", "110105", "110100"));
  CHECK_FALSE(recon::cross_region("110100", "110105", "110100"));  // the hospital's insurer's own pool
  CHECK_FALSE(recon::cross_region("", "110105", "110100"));        // recorded before areas were
}
