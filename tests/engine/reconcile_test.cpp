// Reconciliation's classification: balanced days, each kind of difference,
// refunds and undone settlements, rows matched by setl_id or msgid, several
// insurance types.
#include "engine/reconcile.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace settle;
using namespace settle::recon;

namespace {

DetailRow row(std::string setl, std::string msgid, std::string insutype, std::int64_t fund, std::int64_t account,
              std::int64_t cash, RowState state = RowState::untouched) {
  DetailRow r;
  r.setl_id = std::move(setl);
  r.msgid = std::move(msgid);
  r.insutype = std::move(insutype);
  r.fund = Amount::fen(fund);
  r.account = Amount::fen(account);
  r.cash = Amount::fen(cash);
  r.total = Amount::fen(fund + account + cash);
  r.state = state;
  return r;
}

std::vector<DetailRow> day() {
  return {row("S1", "M1", "310", 1000, 200, 300), row("S2", "M2", "310", 0, 0, 500, RowState::refunded),
          row("S3", "M3", "390", 700, 0, 100), row("S4", "M4", "390", 0, 0, 0, RowState::undone)};
}

}  // namespace

TEST_CASE("identical sides: no difference, totals per insurance type exclude undone rows") {
  const auto local = day();
  const auto insurer = day();
  CHECK(compare_details(local, insurer).empty());
  const auto t = totals_of(local);
  REQUIRE(t.size() == 2);
  CHECK(t.at("310") == Totals{2, Amount::fen(2000), Amount::fen(1000), Amount::fen(200), Amount::fen(800)});
  CHECK(t.at("390") == Totals{1, Amount::fen(800), Amount::fen(700), Amount::fen(0), Amount::fen(100)});
}

TEST_CASE("a fully refunded settlement still counts, with amount zero") {
  const std::vector<DetailRow> rows{row("S1", "M1", "310", 0, 0, 0, RowState::refunded)};
  CHECK(totals_of(rows).at("310") == Totals{1, Amount{}, Amount{}, Amount{}, Amount{}});
}

TEST_CASE("each kind of difference is found and classified") {
  auto local = day();
  auto insurer = day();
  // only_insurer: a settlement the hospital has no record of.
  insurer.push_back(row("S9", "M9", "310", 100, 0, 50));
  // only_local: the insurer dropped S3.
  insurer.erase(insurer.begin() + 2);
  // amount_mismatch: the insurer's fund share of S1 differs.
  insurer[0].fund = Amount::fen(1100);
  insurer[0].total = Amount::fen(1600);
  // state_mismatch: the insurer has S2 undone, the hospital only refunded.
  insurer[1] = row("S2", "M2", "310", 0, 0, 0, RowState::undone);
  const auto d = compare_details(local, insurer);
  REQUIRE(d.size() == 4);
  CHECK(d[0].kind == DiffKind::amount_mismatch);
  CHECK(d[0].setl_id == "S1");
  REQUIRE(d[0].local);
  REQUIRE(d[0].insurer);
  CHECK(d[0].local->fund == Amount::fen(1000));
  CHECK(d[0].insurer->fund == Amount::fen(1100));
  CHECK(d[1].kind == DiffKind::state_mismatch);
  CHECK(d[1].setl_id == "S2");
  CHECK(d[2].kind == DiffKind::only_local);
  CHECK(d[2].setl_id == "S3");
  CHECK_FALSE(d[2].insurer);
  CHECK(d[3].kind == DiffKind::only_insurer);
  CHECK(d[3].setl_id == "S9");
  CHECK(d[3].msgid == "M9");
  CHECK_FALSE(d[3].local);
  CHECK(diff_kind_name(d[3].kind) == "only_insurer");
}

TEST_CASE("account and cash differences with the same total are amount mismatches") {
  auto local = day();
  auto insurer = day();
  insurer[0].account = Amount::fen(100);
  insurer[0].cash = Amount::fen(400);
  const auto d = compare_details(local, insurer);
  REQUIRE(d.size() == 1);
  CHECK(d[0].kind == DiffKind::amount_mismatch);
}

TEST_CASE("a refund the insurer does not know: amounts and state differ, state wins") {
  auto local = day();
  auto insurer = day();
  local[0] = row("S1", "M1", "310", 900, 200, 200, RowState::refunded);
  const auto d = compare_details(local, insurer);
  REQUIRE(d.size() == 1);
  CHECK(d[0].kind == DiffKind::state_mismatch);
  // Same state, different net: a partial refund recorded for a different amount.
  local[0] = row("S1", "M1", "310", 900, 200, 200, RowState::refunded);
  insurer[0] = row("S1", "M1", "310", 950, 200, 200, RowState::refunded);
  const auto d2 = compare_details(local, insurer);
  REQUIRE(d2.size() == 1);
  CHECK(d2[0].kind == DiffKind::amount_mismatch);
}

TEST_CASE("undone rows with nothing charged may be missing on one side") {
  auto local = day();
  auto insurer = day();
  insurer.pop_back();  // S4 undone: the insurer dropped it
  CHECK(compare_details(local, insurer).empty());
  local.pop_back();
  insurer = day();
  CHECK(compare_details(local, insurer).empty());
}

TEST_CASE("rows without the insurer's setl_id are matched by msgid") {
  auto local = day();
  auto insurer = day();
  local[2].setl_id.clear();  // an offline settlement whose insurer id is not recorded yet
  CHECK(compare_details(local, insurer).empty());
  // Both ids present but the setl_ids differ: not the same settlement.
  local = day();
  local[2].setl_id = "SX";
  const auto d = compare_details(local, insurer);
  REQUIRE(d.size() == 2);
  CHECK(d[0].kind == DiffKind::only_local);
  CHECK(d[0].setl_id == "SX");
  CHECK(d[1].kind == DiffKind::only_insurer);
  CHECK(d[1].setl_id == "S3");
}

TEST_CASE("one insurer row answers one local row") {
  std::vector<DetailRow> local{row("", "M1", "310", 10, 0, 0), row("", "M1", "310", 10, 0, 0)};
  std::vector<DetailRow> insurer{row("S1", "M1", "310", 10, 0, 0)};
  const auto d = compare_details(local, insurer);
  REQUIRE(d.size() == 1);
  CHECK(d[0].kind == DiffKind::only_local);
}

TEST_CASE("several insurance types: differences keep their own type, totals split by type") {
  std::vector<DetailRow> local, insurer;
  for (int i = 0; i < 50; ++i) {
    const std::string type = i % 2 == 0 ? "310" : "390";
    local.push_back(row("S" + std::to_string(i), "M" + std::to_string(i), type, 100 + i, i, 10));
  }
  insurer = local;
  insurer[7].cash = Amount::fen(11);
  insurer[7].total += Amount::fen(1);
  const auto lt = totals_of(local), it = totals_of(insurer);
  CHECK(lt.at("310") == it.at("310"));
  CHECK_FALSE(lt.at("390") == it.at("390"));
  const auto d = compare_details(local, insurer);
  REQUIRE(d.size() == 1);
  CHECK(d[0].kind == DiffKind::amount_mismatch);
  CHECK(d[0].local->insutype == "390");
}

TEST_CASE("refd_setl_flag names") {
  CHECK(row_state_of_flag("0") == RowState::untouched);
  CHECK(row_state_of_flag("1") == RowState::refunded);
  CHECK(row_state_of_flag("2") == RowState::undone);
  CHECK_FALSE(row_state_of_flag("3"));
  CHECK(row_state_name(RowState::undone) == "undone");
}

TEST_CASE("an insurer row without setl_id is matched by msgid, also to a local row that has one") {
  auto local = day();
  auto insurer = day();
  insurer[0].setl_id.clear();
  CHECK(compare_details(local, insurer).empty());
  insurer[0].fund += Amount::fen(1);
  insurer[0].total += Amount::fen(1);
  const auto d = compare_details(local, insurer);
  REQUIRE(d.size() == 1);
  CHECK(d[0].kind == DiffKind::amount_mismatch);
  CHECK(d[0].setl_id == "S1");  // the local row's id when the insurer gave none
}

TEST_CASE("clearing types: outpatient and inpatient totals apart per insurance type") {
  CHECK(clearing_type_name(clr_outpatient) == "outpatient");
  CHECK(clearing_type_name(clr_inpatient) == "inpatient");
  CHECK(clearing_type_name("") == "");
  auto rows = day();  // S1, S2 (310), S3, S4 (390): outpatient
  for (DetailRow& r : rows) r.clr_type = clr_outpatient;
  DetailRow stay = row("S5", "M5", "310", 30'000, 5'000, 9'000);
  stay.clr_type = clr_inpatient;
  rows.push_back(stay);
  const auto t = totals_by_clearing(rows);
  REQUIRE(t.size() == 3);
  CHECK(t.at(TotalsKey{"310", "11"}) == Totals{2, Amount::fen(2000), Amount::fen(1000), Amount::fen(200), Amount::fen(800)});
  CHECK(t.at(TotalsKey{"310", "21"}) ==
        Totals{1, Amount::fen(44'000), Amount::fen(30'000), Amount::fen(5'000), Amount::fen(9'000)});
  CHECK(t.at(TotalsKey{"390", "11"}).count == 1);  // S4 undone: not counted
  CHECK(totals_of(rows).at("310").count == 3);     // over both clearing types

  // An insurance type's totals balance only when each clearing type does.
  InsutypeTotals it;
  it.by_clr_type["11"] = SideTotals{t.at(TotalsKey{"310", "11"}), t.at(TotalsKey{"310", "11"})};
  it.by_clr_type["21"] = SideTotals{t.at(TotalsKey{"310", "21"}), t.at(TotalsKey{"310", "21"})};
  it.local = it.insurer = totals_of(rows).at("310");
  CHECK(it.balanced());
  it.by_clr_type["21"].insurer.fund += Amount::fen(100);
  it.by_clr_type["11"].insurer.fund -= Amount::fen(100);  // the sums still agree
  CHECK_FALSE(it.balanced());
}

TEST_CASE("the insurer's rows get their clearing type from the inpatient query (setl_id, else msgid)") {
  auto all = day();
  all.push_back(row("S5", "M5", "310", 30'000, 5'000, 9'000));
  all.push_back(row("", "M6", "390", 100, 0, 0));
  std::vector<DetailRow> inpatient{all[4], all[5]};
  mark_clearing_types(all, inpatient);
  CHECK(all[0].clr_type == "11");
  CHECK(all[3].clr_type == "11");
  CHECK(all[4].clr_type == "21");
  CHECK(all[5].clr_type == "21");  // no setl_id: by msgid
  mark_clearing_types(all, {});
  for (const DetailRow& r : all) CHECK(r.clr_type == "11");
}

TEST_CASE("a settlement counted under the other clearing type is a clearing_type_mismatch; unknown types match") {
  auto local = day();
  auto insurer = day();
  for (DetailRow& r : local) r.clr_type = clr_outpatient;
  for (DetailRow& r : insurer) r.clr_type = clr_outpatient;
  local[2].clr_type = clr_inpatient;  // S3: the hospital has it as inpatient
  auto d = compare_details(local, insurer);
  REQUIRE(d.size() == 1);
  CHECK(d[0].kind == DiffKind::clearing_type_mismatch);
  CHECK(diff_kind_name(d[0].kind) == "clearing_type_mismatch");
  CHECK(d[0].setl_id == "S3");
  CHECK(d[0].local->clr_type == "21");
  CHECK(d[0].insurer->clr_type == "11");
  // Amounts differing too: still the clearing type (both rows are shown).
  insurer[2].fund += Amount::fen(5);
  insurer[2].total += Amount::fen(5);
  d = compare_details(local, insurer);
  REQUIRE(d.size() == 1);
  CHECK(d[0].kind == DiffKind::clearing_type_mismatch);
  // A state difference wins over it.
  insurer[2] = row("S3", "M3", "390", 0, 0, 0, RowState::undone);
  insurer[2].clr_type = clr_outpatient;
  d = compare_details(local, insurer);
  REQUIRE(d.size() == 1);
  CHECK(d[0].kind == DiffKind::state_mismatch);
  // A side whose clearing type is not known never makes a clearing difference.
  insurer = day();
  CHECK(compare_details(local, insurer).empty());
}

TEST_CASE("a difference in an inpatient settlement keeps its clearing type; outpatient totals still agree") {
  std::vector<DetailRow> local{row("S1", "M1", "310", 1000, 0, 100), row("S2", "M2", "390", 2000, 0, 0),
                               row("S3", "M3", "310", 50'000, 3'000, 7'000), row("S4", "M4", "390", 40'000, 0, 0)};
  local[0].clr_type = local[1].clr_type = clr_outpatient;
  local[2].clr_type = local[3].clr_type = clr_inpatient;
  auto insurer = local;
  insurer[3].fund = Amount::fen(39'000);  // the insurer paid less on the 390 stay
  insurer[3].cash = Amount::fen(1'000);
  const auto lt = totals_by_clearing(local), it = totals_by_clearing(insurer);
  CHECK(lt.at(TotalsKey{"310", "11"}) == it.at(TotalsKey{"310", "11"}));
  CHECK(lt.at(TotalsKey{"390", "11"}) == it.at(TotalsKey{"390", "11"}));
  CHECK(lt.at(TotalsKey{"310", "21"}) == it.at(TotalsKey{"310", "21"}));
  CHECK_FALSE(lt.at(TotalsKey{"390", "21"}) == it.at(TotalsKey{"390", "21"}));
  const auto d = compare_details(local, insurer);
  REQUIRE(d.size() == 1);
  CHECK(d[0].kind == DiffKind::amount_mismatch);
  CHECK(d[0].local->clr_type == "21");
  CHECK(d[0].insurer->clr_type == "21");
}
