// A discharge settlement names its stay's lines by reference (schema v5): read
// back as they stood whatever the stay does after; recorded only when the
// reference is the stay's live lines of the moment; cancelled lines numbered
// in order, once; a v4 ledger's cancelled lines numbered by the migration and
// its settlements' copied lines kept.
#include "offline/ledger.hpp"
#include "offline/schema.hpp"
#include "offline/stay_ops.hpp"
#include "sample.hpp"
#include "sample_stay.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>
#include <vector>

namespace settle::stay_by_reference_test {
namespace {

using namespace settle::ledger;
using settle::test::TestDir;

std::unique_ptr<Ledger> open_or_fail(const std::string& path, LedgerOptions opt = {}) {
  auto l = Ledger::open(path, opt);
  if (!l) FAIL(l.error().message);
  return std::move(l).value();
}

settle::flow::StayLine stay_line(std::string sn, std::string code, settle::LineClass cls, std::int64_t fen,
                                 std::optional<Ratio> ratio = std::nullopt) {
  return settle::flow::StayLine{std::move(sn), settle::ChargeLine{std::move(code), "item " + code, cls, Amount::fen(fen), ratio}};
}

// An online stay with lines 1-4 added and line 2 cancelled (live: 1, 3, 4).
sql::Result<std::int64_t> stay_with_lines(sql::Db& db) {
  for (const char* id : {"adm-1", "b-1", "c-1", "dis-1", "b-2", "c-2", "dis-2"}) {
    auto req = record_request(db, test::sample_request(id));
    if (!req) return req.error();
  }
  auto adm = insert_stay(db, test::sample_stay("adm-1", "P0001"), 1'000);
  if (!adm) return adm.error();
  const std::vector<settle::flow::StayLine> lines{
      stay_line("L1", "A1", settle::LineClass::a, 10'000), stay_line("L2", "A1", settle::LineClass::a, 7'000),
      stay_line("L3", "B1", settle::LineClass::b, 20'000),
      stay_line("L4", "B2", settle::LineClass::b, 5'000, Ratio::ppm(300'000))};
  SETTLE_SQL_TRY(add_stay_lines(db, *adm, "b-1", lines, 1'000));
  const std::vector<std::string> cancel{"L2"};
  SETTLE_SQL_TRY(cancel_stay_lines(db, *adm, "c-1", cancel, 1'000));
  return *adm;
}

Settlement discharge(std::int64_t adm_id, const std::string& request_id, std::int64_t total, std::int64_t upto,
                     std::int64_t cancels) {
  Settlement s = test::sample_settlement(request_id, total);
  s.visit_type = ledger::VisitType::inpatient;
  s.med_type = "21";
  s.adm_id = adm_id;
  s.stay_lines = StayLinesRef{upto, cancels, {{"B1", Ratio::ppm(100'000)}}};
  return s;
}

struct Seen {
  std::string code;
  ledger::LineClass cls;
  std::int64_t fen;
  std::int64_t ratio_ppm;
  friend bool operator==(const Seen&, const Seen&) = default;
};

std::vector<Seen> lines_of(Ledger& l, std::int64_t setl_id) {
  auto d = l.read([setl_id](sql::Db& db) { return get_settlement(db, setl_id); });
  REQUIRE(d.ok());
  REQUIRE(d->has_value());
  std::vector<Seen> out;
  for (const SettlementLine& x : (**d).lines) out.push_back(Seen{x.code, x.cls, x.amount.fen(), x.selfpay_ratio.ppm()});
  return out;
}

}  // namespace

TEST_CASE("a discharge settlement's lines by reference read back as they stood, whatever the stay does after") {
  TestDir d("stay-by-ref");
  auto l = open_or_fail(d.file("ledger.db"));
  std::int64_t adm = 0, first = 0, second = 0;
  REQUIRE(l->write_wait([&](sql::Db& db) -> sql::Status {
               auto a = stay_with_lines(db);
               if (!a) return a.error();
               adm = *a;
               auto s = record_settlement(db, discharge(adm, "dis-1", 35'000, 4, 1), {});
               if (!s) return s.error();
               first = *s;
               return set_stay_state(db, adm, settle::flow::StayState::discharged, 2'000, "settled");
             }).ok());
  // The stay's live lines then, in order; the class B line without its own
  // ratio with the one the policy applied to its code.
  const std::vector<Seen> then{{"A1", ledger::LineClass::a, 10'000, 0},
                               {"B1", ledger::LineClass::b, 20'000, 100'000},
                               {"B2", ledger::LineClass::b, 5'000, 300'000}};
  CHECK(lines_of(*l, first) == then);
  auto copied = l->read([](sql::Db& db) { return db.query_int64("SELECT count(*) FROM settlement_lines"); });
  REQUIRE(copied.ok());
  CHECK(copied->value_or(-1) == 0);

  // Undone and open again: line 3 cancelled, line 5 added, settled again.
  REQUIRE(l->write_wait([&](sql::Db& db) -> sql::Status {
               SETTLE_SQL_TRY(set_settlement_state(db, first, SettlementState::undone, 3'000, "undo"));
               SETTLE_SQL_TRY(set_stay_state(db, adm, settle::flow::StayState::admitted, 3'000, "reopened"));
               const std::vector<std::string> cancel{"L3"};
               SETTLE_SQL_TRY(cancel_stay_lines(db, adm, "c-2", cancel, 3'000));
               const std::vector<settle::flow::StayLine> more{stay_line("L5", "C1", settle::LineClass::c, 900)};
               SETTLE_SQL_TRY(add_stay_lines(db, adm, "b-2", more, 3'000));
               auto s = record_settlement(db, discharge(adm, "dis-2", 15'900, 5, 2), {});
               if (!s) return s.error();
               second = *s;
               return settle::Ok{};
             }).ok());
  CHECK(lines_of(*l, first) == then);
  CHECK(lines_of(*l, second) == std::vector<Seen>{{"A1", ledger::LineClass::a, 10'000, 0},
                                                   {"B2", ledger::LineClass::b, 5'000, 300'000},
                                                   {"C1", ledger::LineClass::c, 900, 0}});
  // The reference and the ratios are part of the settlement's row as read
  // alone (a stay view's read, none of the stay's lines) and in the whole.
  auto row = l->read([second](sql::Db& db) { return settlement_row(db, second); });
  REQUIRE(row.ok());
  REQUIRE(row->has_value());
  REQUIRE((**row).stay_lines.has_value());
  CHECK((**row).stay_lines->lines_upto == 5);
  CHECK((**row).stay_lines->cancels_upto == 2);
  CHECK((**row).stay_lines->classb_ratios.at("B1") == Ratio::ppm(100'000));
  auto whole = l->read([second](sql::Db& db) { return get_settlement(db, second); });
  REQUIRE(whole.ok());
  REQUIRE(whole->has_value());
  REQUIRE((**whole).settlement.stay_lines.has_value());
  CHECK((**whole).settlement.stay_lines->classb_ratios == (**row).stay_lines->classb_ratios);
}

TEST_CASE("a reference that is not the stay's live lines now is refused and nothing of it is written") {
  TestDir d("stay-by-ref-stale");
  auto l = open_or_fail(d.file("ledger.db"));
  std::int64_t adm = 0;
  REQUIRE(l->write_wait([&](sql::Db& db) -> sql::Status {
               auto a = stay_with_lines(db);
               if (!a) return a.error();
               adm = *a;
               return settle::Ok{};
             }).ok());
  struct Case {
    const char* what;
    std::int64_t total, upto, cancels;
  };
  for (const Case& c : {Case{"a line added since", 35'000, 3, 1}, Case{"a cancellation since", 35'000, 4, 0},
                        Case{"lines not yet added", 35'000, 5, 1}, Case{"another total", 35'001, 4, 1}}) {
    CAPTURE(c.what);
    auto r = l->write_wait([&](sql::Db& db) -> sql::Status {
      auto s = record_settlement(db, discharge(adm, "dis-1", c.total, c.upto, c.cancels), {});
      if (!s) return s.error();
      return settle::Ok{};
    });
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == sql::Errc::invalid_state);
    CHECK(r.error().message.find(fmt::format("stay {}", adm)) != std::string::npos);
  }
  auto n = l->read([](sql::Db& db) { return db.query_int64("SELECT count(*) FROM settlements"); });
  REQUIRE(n.ok());
  CHECK(n->value_or(-1) == 0);
}

TEST_CASE("cancelled lines are numbered in the stay's order of cancellation, once") {
  TestDir d("stay-cancel-no");
  auto l = open_or_fail(d.file("ledger.db"));
  std::int64_t adm = 0;
  REQUIRE(l->write_wait([&](sql::Db& db) -> sql::Status {
               auto a = stay_with_lines(db);
               if (!a) return a.error();
               adm = *a;
               const std::vector<std::string> cancel{"L4", "L1"};
               return cancel_stay_lines(db, adm, "c-2", cancel, 2'000);
             }).ok());
  auto nos = l->read([](sql::Db& db) -> sql::Result<std::vector<std::string>> {
    std::vector<std::string> out;
    auto st = db.prepare("SELECT feedetl_sn, cancel_no FROM stay_lines WHERE cancel_no IS NOT NULL ORDER BY cancel_no");
    if (!st) return st.error();
    for (auto row = st->step(); row.ok() && *row; row = st->step())
      out.push_back(fmt::format("{}={}", st->column_text(0), st->column_int64(1)));
    return out;
  });
  REQUIRE(nos.ok());
  CHECK(*nos == std::vector<std::string>{"L2=1", "L4=2", "L1=3"});
  // The number never changes, and a line is not cancelled without one.
  for (const char* sql : {"UPDATE stay_lines SET cancel_no = 9 WHERE feedetl_sn = 'L2'",
                          "UPDATE stay_lines SET cancelled_by = 'c-9' WHERE feedetl_sn = 'L3'",
                          "UPDATE stay_lines SET cancel_no = 4 WHERE feedetl_sn = 'L3'"}) {
    CAPTURE(sql);
    auto r = l->write_wait([sql](sql::Db& db) { return db.exec(sql); });
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == sql::Errc::trigger);
  }
}

TEST_CASE("a v4 ledger migrates to v5: its cancelled lines numbered in line order, its settlements' lines kept") {
  TestDir d("ledger-v4-v5");
  const std::string path = d.file("ledger.db");
  const std::vector<Migration> v4_only(migrations().begin(), migrations().begin() + 4);
  REQUIRE(v4_only.back().to_version == 4);
  std::int64_t adm = 0, setl = 0;
  {
    LedgerOptions v4;
    v4.migrations = v4_only;
    auto l = open_or_fail(path, v4);
    REQUIRE(l->schema_version() == 4);
    // As the v4 build wrote them (raw SQL: this build's operations write v5's columns).
    REQUIRE(l->write_wait([&](sql::Db& db) -> sql::Status {
                 for (const char* id : {"adm-1", "b-1", "c-1", "dis-1"}) {
                   auto req = record_request(db, test::sample_request(id));
                   if (!req) return req.error();
                 }
                 auto a = insert_stay(db, test::sample_stay("adm-1", "P0001"), 1'000);
                 if (!a) return a.error();
                 adm = *a;
                 for (int i = 1; i <= 4; ++i)
                   SETTLE_SQL_TRY(db.exec(fmt::format(
                       "INSERT INTO stay_lines(adm_id, feedetl_sn, line_no, code, name, class, amount_fen, added_by, "
                       "cancelled_by) VALUES({}, 'L{}', {}, 'A1', 'item', 'A', 1000, 'b-1', {})",
                       adm, i, i, i == 1 || i == 3 ? "'c-1'" : "NULL")));
                 SETTLE_SQL_TRY(db.exec(fmt::format(
                     "UPDATE stays SET live_count = 2, live_total_fen = 2000, cancelled_count = 2 WHERE adm_id = {}", adm)));
                 Settlement s = test::sample_settlement("dis-1", 2'000);
                 s.visit_type = ledger::VisitType::inpatient;
                 s.adm_id = adm;
                 const std::vector<SettlementLine> copied{{"A1", "item", ledger::LineClass::a, Amount::fen(1'000), Ratio{}},
                                                          {"A1", "item", ledger::LineClass::a, Amount::fen(1'000), Ratio{}}};
                 auto r = record_settlement(db, s, copied);
                 if (!r) return r.error();
                 setl = *r;
                 return settle::Ok{};
               }).ok());
  }
  auto l = open_or_fail(path);
  CHECK(l->schema_version() == current_schema_version());
  auto rows = l->read([adm](sql::Db& db) -> sql::Result<std::vector<std::string>> {
    std::vector<std::string> out;
    auto st = db.prepare(fmt::format(
        "SELECT feedetl_sn, coalesce(cancel_no, 0) FROM stay_lines WHERE adm_id = {} ORDER BY line_no", adm));
    if (!st) return st.error();
    for (auto row = st->step(); row.ok() && *row; row = st->step())
      out.push_back(fmt::format("{}={}", st->column_text(0), st->column_int64(1)));
    return out;
  });
  REQUIRE(rows.ok());
  CHECK(*rows == std::vector<std::string>{"L1=1", "L2=0", "L3=2", "L4=0"});
  const std::vector<Seen> kept{{"A1", ledger::LineClass::a, 1'000, 0}, {"A1", ledger::LineClass::a, 1'000, 0}};
  CHECK(lines_of(*l, setl) == kept);
  // The next cancellation is numbered after them.
  REQUIRE(l->write_wait([adm](sql::Db& db) -> sql::Status {
               SETTLE_SQL_TRY(db.exec(fmt::format("UPDATE stays SET state = 'discharged' WHERE adm_id = {}", adm)));
               SETTLE_SQL_TRY(db.exec(fmt::format("UPDATE stays SET state = 'admitted' WHERE adm_id = {}", adm)));
               auto req = record_request(db, test::sample_request("c-2"));
               if (!req) return req.error();
               const std::vector<std::string> cancel{"L4"};
               return cancel_stay_lines(db, adm, "c-2", cancel, 4'000);
             }).ok());
  auto last = l->read([adm](sql::Db& db) {
    return db.query_int64(fmt::format("SELECT cancel_no FROM stay_lines WHERE adm_id = {} AND feedetl_sn = 'L4'", adm));
  });
  REQUIRE(last.ok());
  CHECK(last->value_or(-1) == 3);
}

}  // namespace settle::stay_by_reference_test
