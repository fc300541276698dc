// Schema v11: a v10 ledger migrated in place keeps its settlements (cards,
// no area, no facts) and its chain; new settlements keep their credential's
// type, the insured area and the visit's facts, fixed once written and
// chained; the facts' JSON reads back as written.
#include "offline/chain.hpp"
#include "offline/flow_ledger.hpp"
#include "offline/ledger.hpp"
#include "offline/schema.hpp"
#include "sample.hpp"
#include "test_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>

using namespace settle;
using namespace settle::ledger;
using settle::test::TestDir;

namespace {

// The settlement `setl_id` as the ledger reads it back.
Settlement v11_read(sql::Db& db, std::int64_t setl_id) {
  auto row = settlement_row(db, setl_id);
  REQUIRE(row.ok());
  REQUIRE(row->has_value());
  return **row;
}

}  // namespace

TEST_CASE("a v10 ledger migrates to v11 in place: its settlements are cards with no area or facts, its chain holds") {
  TestDir d("ledger-v10-v11");
  const std::string path = d.file("ledger.db");
  const std::vector<Migration> upto_v10(migrations().begin(), migrations().begin() + 10);
  std::int64_t old_id = 0;
  {
    LedgerOptions v10;
    v10.migrations = upto_v10;
    auto l = Ledger::open(path, v10);
    if (!l) FAIL(l.error().message);
    CHECK((*l)->schema_version() == 10);
    auto id = (*l)->write_wait([](sql::Db& db) -> sql::Result<std::int64_t> {
      for (int i = 0; i < 5; ++i)
        if (auto r = test::record_sample(db, fmt::format("v10-{}", i), 1000 + i); !r) return r.error();
      return test::record_sample(db, "v10-last", 4321);
    });
    REQUIRE(id.ok());
    old_id = *id;
  }
  auto opened = Ledger::open(path);
  if (!opened) FAIL(opened.error().message);
  auto l = std::move(opened).value();
  CHECK(l->schema_version() == current_schema_version());
  CHECK(current_schema_version() >= 11);
  CHECK(std::filesystem::exists(path + ".v10.bak"));

  // A settlement by ID number of a person insured elsewhere, with its facts.
  flow::VisitFacts facts{"0301", "心内科 \"A\"", "D42", "王医生", {{"I10.x00", "高血压"}, {"E11.9", "2型糖尿病\\n"}}};
  auto new_id = l->write_wait([&](sql::Db& db) -> sql::Result<std::int64_t> {
    SETTLE_SQL_TRY(record_request(db, test::sample_request("v11-id")));
    Settlement s = test::sample_settlement("v11-id", 5000);
    s.card_no = "";
    s.account = Amount::zero();
    s.cash = s.total - s.fund;
    s.cert_type = 2;
    s.insuplc_admdvs = "320506";
    s.facts = visit_facts_json(facts);
    return record_settlement(db, s, test::sample_lines(5000));
  });
  if (!new_id) FAIL(new_id.error().message);

  auto check = l->read([&](sql::Db& db) -> sql::Status {
    const Settlement old = v11_read(db, old_id);
    CHECK(old.cert_type == 3);
    CHECK(old.insuplc_admdvs.empty());
    CHECK_FALSE(old.facts.has_value());
    CHECK(old.total == Amount::fen(4321));
    const Settlement now = v11_read(db, *new_id);
    CHECK(now.cert_type == 2);
    CHECK(now.insuplc_admdvs == "320506");
    REQUIRE(now.facts.has_value());
    // Through the flows' record: the credential's type, the area and the facts as given.
    const flow::SettlementRecord rec = settlement_record(now, {});
    CHECK(rec.cert_type == flow::CertType::id_no);
    CHECK(rec.insuplc_admdvs == "320506");
    CHECK(rec.facts == facts);
    // The chain: the rows before v11 need no entry of the new kind; the new row has one.
    auto report = chain::verify(db);
    REQUIRE(report.ok());
    for (const auto& p : report->problems) INFO(p.message);
    CHECK(report->ok());
    CHECK(report->counts["settlement_credential"] == 1);
    return settle::Ok{};
  });
  REQUIRE(check.ok());
  // Fixed once written.
  CHECK_FALSE(l->write_wait([&](sql::Db& db) {
                 return db.exec(fmt::format("UPDATE settlements SET insuplc_admdvs = '110108' WHERE setl_id = {}", *new_id));
               }).ok());
  CHECK_FALSE(l->write_wait([&](sql::Db& db) {
                 return db.exec(fmt::format("UPDATE settlements SET cert_type = 2 WHERE setl_id = {}", old_id));
               }).ok());
}

TEST_CASE("the visit's facts as JSON: written, read back the same, anything else refused") {
  const flow::VisitFacts f{"D\\01", "外科", "", "Dr \"X\"", {{"K35.8", "急性阑尾炎"}, {"", "\t"}}};
  const auto text = visit_facts_json(f);
  REQUIRE(text.has_value());
  const auto back = visit_facts_from_json(*text);
  REQUIRE(back.has_value());
  CHECK(*back == f);
  CHECK_FALSE(visit_facts_json(flow::VisitFacts{}).has_value());  // empty facts: NULL
  const auto spaced = visit_facts_from_json(R"( { "dept_code" : "X", "diagnoses" : [ { "code" : "A00" } ] } )");
  REQUIRE(spaced.has_value());
  CHECK(spaced->dept_code == "X");
  REQUIRE(spaced->diagnoses.size() == 1);
  CHECK(spaced->diagnoses[0].code == "A00");
  for (const char* bad : {"", "{", "[]", R"({"dept_code": 1})", R"({"dept_code": "x"} trailing)", R"({"diagnoses": [1]})",
                          R"({"dept_code": "\u4e2d"})"})
    CHECK_FALSE(visit_facts_from_json(bad).has_value());
}
